/**
 * Run: the usable self-edits are trained together (a live loss chart per candidate), then augmented inference and the
 * vote score them: each candidate's answers and their votes, the predicted grid beside the true one, solved or not,
 * and the time split into training and inference.
 */
import { proxy } from 'comlink';
import type { ArcTaskView, CandidateResult, GridJson, RunResult, TttStepEvent } from '../../../runtime-browser/engine/api.ts';
import type { Actions } from '../actions.ts';
import { button, el, formatSeconds, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';
import { gridView } from './grid-view.ts';
import { LossChart } from './loss-chart.ts';
import type { SelfEditsView } from './self-edits-view.ts';
import type { RunSettings } from './settings-view.ts';

export class RunView {
  readonly element: HTMLElement;
  private readonly runButton = button('Run: train, infer, vote', () => void this.run(), { 'data-testid': 'run' });
  private readonly cancelButton = button('Cancel', () => {}, { disabled: true, 'data-testid': 'run-cancel' });
  private readonly charts = el('div', { class: 'charts' });
  private readonly results = el('div', { class: 'results' });
  private readonly summary = el('div', { class: 'run-summary' });

  constructor(
    private readonly engine: Engine,
    private readonly actions: Actions,
    private readonly status: StatusLine,
    private readonly task: () => ArcTaskView | null,
    private readonly selfEdits: SelfEditsView,
    private readonly settings: () => RunSettings,
  ) {
    actions.register(this.runButton);
    this.element = section('Run', 'run', el('div', { class: 'row' }, this.runButton, this.cancelButton), this.summary, this.charts, this.results);
  }

  /** Trains and scores the usable self-edits; the result, or null when cancelled, failed or there was nothing to run. */
  async run(): Promise<RunResult | null> {
    const task = this.task();
    const edits = this.selfEdits.edits();
    if (!task) {
      this.status.set('choose a task first', 'error');
      return null;
    }
    if (edits.length === 0) {
      this.status.set('no usable self-edit to run: sample some or write one', 'error');
      return null;
    }
    const { steps, answerTokens, seed } = this.settings();
    const charts = edits.map(({ card }, i) => new LossChart(`candidate ${card} loss`, i));
    replace(this.charts, ...charts.map((c) => c.element));
    replace(this.results);
    replace(this.summary);
    const label = `run of ${edits.length} candidates on ${task.id}`;
    this.status.busy(`${label}: training…`);
    // Candidates train together; once every one has run its last step, inference and the vote follow.
    const finished = new Set<number>();
    const onStep = proxy((s: TttStepEvent) => {
      charts[s.candidate]?.add(s.step, s.loss);
      if (s.step >= s.totalSteps) finished.add(s.candidate);
      if (finished.size === edits.length) this.status.busy(`${label}: inference and vote…`);
      else this.status.busy(`${label}: candidate ${edits[s.candidate]?.card ?? s.candidate} step ${s.step}/${s.totalSteps} loss ${s.loss.toFixed(3)}`);
    });
    const result = await this.actions.run(label, this.cancelButton, (opId) =>
      this.engine.runCandidates({ task, selfEdits: edits.map((e) => e.edit), tttMaxSteps: steps, answerMaxTokens: answerTokens, seed }, onStep, opId),
    );
    if (!result) return null;
    this.show(
      task,
      result,
      edits.map((e) => e.card),
    );
    this.status.done(
      `${task.id}: ${result.solved ? 'solved' : 'not solved'} · train ${formatSeconds(result.trainSeconds)} · inference ${formatSeconds(result.inferenceSeconds)}`,
    );
    return result;
  }

  private show(task: ArcTaskView, result: RunResult, cards: number[]): void {
    replace(
      this.summary,
      el('span', { 'data-testid': 'result', class: result.solved ? 'ok result' : 'bad result' }, result.solved ? 'solved' : 'not solved'),
      el(
        'span',
        { 'data-testid': 'time-split' },
        ` · training ${formatSeconds(result.trainSeconds)} · inference ${formatSeconds(result.inferenceSeconds)} · total ${formatSeconds(result.trainSeconds + result.inferenceSeconds)}`,
      ),
    );
    replace(this.results, ...result.candidates.map((c, i) => this.candidateView(task, c, cards[i] ?? i)));
  }

  private candidateView(task: ArcTaskView, c: CandidateResult, card: number): HTMLElement {
    const head = el(
      'header',
      {},
      el('strong', {}, `candidate ${card}`),
      ` · ${c.steps} TTT steps · `,
      el('span', { class: c.solved ? 'ok' : 'bad' }, c.solved ? 'solved' : 'not solved'),
      c.skipped ? el('span', { class: 'muted' }, ` · not trained: ${c.skipped}`) : null,
    );
    const tests = task.test.map((t, j) => {
      const predicted = c.predictions[j] ?? [];
      const votes = c.votes[j] ?? [];
      // With nothing readable to vote on, the submitted attempt is the reference's placeholder [[0]].
      const label = predicted.length === 0 ? 'no answer' : votes.length === 0 ? 'placeholder (no readable answer)' : 'predicted';
      return el(
        'div',
        { class: 'test-result' },
        el('div', { class: 'pair-caption' }, `test ${j}: ${c.correct[j] ? 'right' : 'wrong'}`),
        el(
          'div',
          { class: 'pair-grids' },
          gridView(predicted, label, 'prediction'),
          t.output ? gridView(t.output, 'true') : el('span', { class: 'muted' }, 'no solution known'),
        ),
        votesView(votes),
      );
    });
    return el('article', { class: 'candidate-result', 'data-testid': 'candidate-result' }, head, ...tests);
  }
}

function votesView(votes: readonly { grid: GridJson; count: number }[]): HTMLElement {
  if (votes.length === 0) return el('div', { class: 'muted' }, 'no readable answer to vote on');
  return el(
    'details',
    { class: 'votes', 'data-testid': 'votes' },
    el('summary', {}, `votes: ${votes.map((v) => v.count).join(', ')}`),
    el('div', { class: 'vote-grids' }, ...votes.map((v) => gridView(v.grid, `${v.count} vote${v.count === 1 ? '' : 's'}`))),
  );
}
