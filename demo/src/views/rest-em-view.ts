/**
 * ReST-EM: one round over chosen tasks (sample K self-edits each, train and score them, keep the winners, fine-tune
 * the policy on them), with the policy's loss chart, then the self-edits the new policy samples, to compare.
 */
import { proxy } from 'comlink';
import type { ArcTaskView, RestEmResult, RunEventLike } from '../../../runtime-browser/engine/api.ts';
import type { Actions } from '../actions.ts';
import { button, el, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';
import { LossChart } from './loss-chart.ts';
import type { RunSettings } from './settings-view.ts';

const LOG_LINES = 300;

export class RestEmView {
  readonly element: HTMLElement;
  private readonly taskList = el('div', { class: 'task-choices', 'data-testid': 'rest-em-tasks' });
  private readonly threshold = el('input', { type: 'number', value: 0, step: 'any', 'aria-label': 'winner threshold', 'data-testid': 'rest-em-threshold' });
  private readonly runButton = button('Run a ReST-EM round', () => void this.run(), { 'data-testid': 'rest-em-run' });
  private readonly cancelButton = button('Cancel', () => {}, { disabled: true, 'data-testid': 'rest-em-cancel' });
  private readonly log = el('ol', { class: 'event-log' });
  private readonly chart = el('div', { class: 'charts' });
  private readonly outcome = el('div', { 'data-testid': 'rest-em-result' });
  private readonly resampled = el('div', { class: 'resampled' });
  private tasks: ArcTaskView[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly actions: Actions,
    private readonly status: StatusLine,
    private readonly settings: () => RunSettings,
    /** Shows the resampled self-edits of the current task as cards. */
    private readonly showResampled: (taskId: string, samples: RestEmResult['resampled'][number]) => void,
  ) {
    actions.register(this.runButton);
    this.element = section(
      'ReST-EM round',
      'rest-em',
      el('p', { class: 'muted' }, 'Winners are self-edits whose reward is above the threshold (0: solved tasks, the paper; -1: every valid self-edit).'),
      this.taskList,
      el('div', { class: 'row' }, el('label', {}, 'winner threshold ', this.threshold), this.runButton, this.cancelButton),
      this.outcome,
      this.chart,
      this.resampled,
      el('details', {}, el('summary', {}, 'events'), this.log),
    );
  }

  /** The tasks offered (the chosen set's), with `checked` ticked. */
  setTasks(tasks: readonly ArcTaskView[], checked: string): void {
    this.tasks = [...tasks];
    replace(
      this.taskList,
      ...tasks.map((t) =>
        el(
          'label',
          { class: 'task-choice' },
          el('input', { type: 'checkbox', value: t.id, checked: t.id === checked, 'data-testid': `rest-em-task-${t.id}` }),
          ` ${t.id}`,
        ),
      ),
    );
  }

  async run(): Promise<RestEmResult | null> {
    const chosen = new Set(Array.from(this.taskList.querySelectorAll<HTMLInputElement>('input:checked'), (i) => i.value));
    const tasks = this.tasks.filter((t) => chosen.has(t.id));
    const winnerThreshold = Number(this.threshold.value);
    if (tasks.length === 0) {
      this.status.set('tick at least one task for the ReST-EM round', 'error');
      return null;
    }
    if (this.threshold.value.trim() === '' || !Number.isFinite(winnerThreshold)) {
      this.status.set('the winner threshold must be a number (0: solved; -1: every valid self-edit)', 'error');
      return null;
    }
    const { k, steps, answerTokens, seed } = this.settings();
    const policyChart = new LossChart('policy SFT loss', 0);
    replace(this.chart, policyChart.element);
    replace(this.outcome);
    replace(this.resampled);
    replace(this.log);
    const label = `ReST-EM round over ${tasks.length} task${tasks.length === 1 ? '' : 's'}`;
    this.status.busy(`${label}…`);
    const onEvent = proxy((e: RunEventLike) => {
      this.log.append(el('li', {}, describeEvent(e)));
      // Keep the page light on long rounds: the whole log is in the exported session.
      if (this.log.childElementCount > LOG_LINES) this.log.firstElementChild?.remove();
      if (e.type === 'policy-sft-step' && typeof e.step === 'number' && typeof e.loss === 'number') policyChart.add(e.step, e.loss);
      this.status.busy(`${label}: ${describeEvent(e)}`);
    });
    const result = await this.actions.run(label, this.cancelButton, (opId) =>
      this.engine.restEmRound({ tasks, k, tttMaxSteps: steps, answerMaxTokens: answerTokens, seed, winnerThreshold }, onEvent, opId),
    );
    if (!result) return null;
    replace(
      this.outcome,
      el('strong', { 'data-testid': 'rest-em-winners' }, `${result.winners} winner${result.winners === 1 ? '' : 's'}`),
      result.policyLoss.length > 0
        ? ` · policy trained ${result.policyLoss.length} steps, loss ${result.policyLoss[0]!.toFixed(3)} -> ${result.policyLoss.at(-1)!.toFixed(3)}`
        : ' · no winner: the policy is unchanged',
    );
    if (policyChart.length === 0) {
      for (const [i, loss] of result.policyLoss.entries()) policyChart.add(i + 1, loss);
    }
    replace(
      this.resampled,
      el('h3', {}, 'Sampled again with the new policy'),
      ...tasks.map((t, i) =>
        el(
          'div',
          { class: 'resampled-task' },
          el('strong', {}, t.id),
          el(
            'ol',
            {},
            ...(result.resampled[i] ?? []).map((s) => el('li', {}, el('code', {}, s.selfEdit ? JSON.stringify(s.selfEdit) : `invalid: ${s.error ?? s.text}`))),
          ),
        ),
      ),
    );
    for (const [i, t] of tasks.entries()) this.showResampled(t.id, result.resampled[i] ?? []);
    this.status.done(`${label}: ${result.winners} winners`);
    return result;
  }
}

/** One line for an event of the run log. */
function describeEvent(e: RunEventLike): string {
  const parts = [e.type];
  for (const key of ['round', 'task', 'context', 'candidate', 'step', 'loss', 'reward']) {
    const v = e[key];
    if (typeof v === 'number') parts.push(`${key} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
    else if (typeof v === 'string') parts.push(`${key} ${v}`);
  }
  return parts.join(' · ');
}
