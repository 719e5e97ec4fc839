/**
 * The knowledge run's pieces that need no GPU: summary.json's per-passage accuracies and gains from a folded event
 * log, the paper's table filled from several runs with bootstrap intervals over passages, completion length per
 * round, judge agreement from the recorded verdicts, the passage-only and synthetic baselines' self-edits, and the
 * M-step's winner rule with --keep-only-gains (best of K per passage, only above the un-adapted model).
 */
import { describe, expect, it } from 'vitest';
import { PassageOnlyDomain, SyntheticCompletions } from '../../src/domains/knowledge/baselines.ts';
import { KNOWLEDGE_DEFAULTS, parseSquadDataset, trainingSequences } from '../../src/domains/knowledge/index.ts';
import { SquadJudge } from '../../src/domains/knowledge/judges/index.ts';
import { KNOWLEDGE_REST_EM_DEFAULTS, knowledgeWinnerRule } from '../../src/domains/knowledge/rest-em.ts';
import { bootstrapMean, judgeAgreement, knowledgeReportSections, knowledgeSummary, paperTable, roundLines } from '../../src/domains/knowledge/run-report.ts';
import type { RunEvent, TestOutcome } from '../../src/seal/events.ts';
import { selectWinners } from '../../src/seal/rest-em.ts';
import { configHash, type RunConfig } from '../../src/seal/run-config.ts';
import { foldEvents, type RunState } from '../../src/seal/run-state.ts';
import { fakeConfig } from '../seal/loop-fakes.ts';

/** A record before its v, seq and time are stamped. */
type Ev = { type: RunEvent['type'] } & Record<string, unknown>;

const tests = (task: string, correct: boolean[], other?: boolean[]): TestOutcome[] =>
  correct.map((c, j) => ({ id: `${task}-q${j}`, correct: c, prediction: { verdicts: other ? { squad: c, 'squad:em': other[j]! } : { squad: c } } }));

/** A run of `command` over passages 0 and 1: base accuracies, and one round with 2 candidates each. */
function runState(command: string, base: [boolean[], boolean[]] | null, candidates: Record<string, boolean[][]>, other = false): RunState {
  const config: RunConfig = fakeConfig({ domain: 'knowledge', command, tasks: { ids: ['0', '1'] }, selfEditsPerTask: 2, rounds: 1 });
  const events: Ev[] = [{ type: 'run-started', config, configHash: configHash(config), invocation: {} }];
  if (base)
    base.forEach((c, i) => {
      const t = tests(String(i), c, other ? c.map((x) => !x) : undefined);
      events.push({
        type: 'baseline-scored',
        name: 'base',
        round: null,
        task: String(i),
        reward: t.filter((x) => x.correct).length / t.length,
        solved: false,
        tests: t,
      });
    });
  if (Object.keys(candidates).length > 0) {
    events.push({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['0', '1'], candidatesPerTask: 2 });
    for (const [task, list] of Object.entries(candidates)) {
      list.forEach((c, k) => {
        const text = 'x'.repeat(10 * (k + 1));
        events.push({ type: 'self-edit-sampled', round: 0, task, candidate: k, attempt: 0, text, edit: { completion: text } });
        const t = tests(task, c);
        events.push({
          type: 'candidate-scored',
          round: 0,
          task,
          candidate: k,
          reward: t.filter((x) => x.correct).length / t.length,
          solved: false,
          tests: t,
          adapter: null,
        });
      });
    }
  }
  return foldEvents(events.map((e, i) => ({ v: 1, seq: i + 1, time: '2026-01-01T00:00:00.000Z', ...e }) as unknown as RunEvent));
}

describe('knowledge run report', () => {
  const seal = runState('train', [[true, false], [false]], {
    '0': [
      [true, true],
      [false, false],
    ],
    '1': [[true], [false]],
  });

  it('summary: per passage the un-adapted and the mean adapted accuracy of the last round, the gain, and the means', () => {
    const s = knowledgeSummary(seal);
    expect(s.round).toBe(0);
    expect(s.passages).toEqual([
      { id: '0', baseline_accuracy: 0.5, adapted_accuracy: 0.5, gain: 0 },
      { id: '1', baseline_accuracy: 0, adapted_accuracy: 0.5, gain: 0.5 },
    ]);
    expect(s.baseline_accuracy).toBe(0.25);
    expect(s.adapted_accuracy).toBe(0.5);
    expect(s.gain).toBe(0.25);
    // A base-only run: no adapted accuracy.
    const base = knowledgeSummary(runState('baseline-base', [[true, true], [false]], {}));
    expect(base.adapted_accuracy).toBeNull();
    expect(base.passages.map((p) => p.gain)).toEqual([null, null]);
  });

  it("the paper's table: each row from the run of its kind, a bootstrap interval over passages", () => {
    const passage = runState('baseline-passage', null, { '0': [[false, true]], '1': [[false]] });
    const table = paperTable([
      { label: 'seal', state: seal },
      { label: 'p', state: passage },
    ]);
    expect(table.map((t) => [t.row, t.source, t.interval.mean, t.interval.n])).toEqual([
      ['base', 'seal', 0.25, 2],
      ['passage', 'p', 0.25, 2],
      ['SEAL', 'seal (round 0)', 0.5, 2],
    ]);
    // Equal passages: no spread; different ones: the interval spans their range and holds the mean.
    expect(bootstrapMean([0.5, 0.5, 0.5])).toEqual({ mean: 0.5, low: 0.5, high: 0.5, n: 3 });
    const ci = bootstrapMean([0, 0, 1, 1, 0.5, 0.25, 0.75, 1, 0, 0.5])!;
    expect(ci.low).toBeGreaterThanOrEqual(0);
    expect(ci.low).toBeLessThan(ci.mean);
    expect(ci.high).toBeGreaterThan(ci.mean);
    expect(ci.high).toBeLessThanOrEqual(1);
    expect(bootstrapMean([])).toBeNull();
  });

  it('completion length per round, judge agreement, and the HTML sections', () => {
    expect(roundLines(seal)).toEqual([{ round: 0, accuracy: 0.5, candidates: 4, chars: 15 }]);
    expect(judgeAgreement(seal)).toEqual([]);
    const twoJudges = runState('eval', [[true, false], [false]], {}, true);
    const [pair] = judgeAgreement(twoJudges);
    expect(pair).toMatchObject({ a: 'squad', b: 'squad:em', n: 3, agreement: 0, onlyA: 1, onlyB: 2 });
    const html = knowledgeReportSections(twoJudges);
    expect(html).toContain('judge agreement');
    expect(html).toContain('squad / squad:em');
    expect(knowledgeReportSections(seal)).toContain('+50.0');
  });

  it('baselines: passage only trains on the passage; synthetic completions found by title and context', () => {
    const data = parseSquadDataset(
      [
        { title: 'A', context: 'Alpha text.', questions: [{ question: 'q?', answer: 'a' }] },
        { title: 'B', context: 'Beta text.', questions: [{ question: 'q?', answer: 'b' }] },
      ],
      'two',
    );
    const domain = new PassageOnlyDomain(data, [1], { knowledge: KNOWLEDGE_DEFAULTS, prompt: 'implications', compat: false, judges: [new SquadJudge()] });
    const parsed = domain.parseSelfEdit('');
    expect(parsed).toMatchObject({ ok: true, edit: { completion: '' } });
    const plan = domain.trainingPlan(domain.contexts()[0]!, { completion: '' });
    expect(plan.rows).toEqual([{ kind: 'text', text: 'B\nBeta text.', line: 1 }]);
    expect(trainingSequences(data.passages[1]!, '')).toEqual(['B\nBeta text.']);

    const synthetic = new SyntheticCompletions(
      parseSquadDataset(
        [{ title: 'B', context: 'Beta text.', questions: [{ question: 'q?', answer: 'b' }], completions: ['  one ', '', 'two', 'three'] }],
        'synthetic.json',
      ),
    );
    expect(synthetic.of(data.passages[1]!, 2)).toEqual(['one', 'two']);
    expect(() => synthetic.of(data.passages[1]!, 4)).toThrow(/3 non-empty completion\(s\) for "B", fewer than --self-edits 4/);
    expect(() => synthetic.of(data.passages[0]!, 1)).toThrow(/no completions for the passage "A"/);
  });

  it('the M-step: r=64/alpha=128 on all seven projections, 2 epochs, lr 3e-4, batch 10; best of K, above the base with keep-only-gains', () => {
    expect(KNOWLEDGE_REST_EM_DEFAULTS.lora).toMatchObject({
      rank: 64,
      alpha: 128,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    const h = KNOWLEDGE_REST_EM_DEFAULTS.hyper;
    expect([h.epochs, h.lr, (h.batchSize ?? 1) * (h.gradAccum ?? 1)]).toEqual([2, 3e-4, 10]);
    const scored = [
      { context: '0', candidate: 0, reward: 0.5, text: 'a0' },
      { context: '0', candidate: 1, reward: 0.5, text: 'a1' },
      { context: '1', candidate: 0, reward: 0.2, text: 'b0' },
      { context: '1', candidate: 1, reward: 0.4, text: 'b1' },
      { context: '2', candidate: 0, reward: 0.9, text: 'c0' },
    ];
    const base = new Map([
      ['0', 0.5],
      ['1', 0.3],
    ]);
    // The reference: the best of each passage, ties to the earlier, kept even when it does not beat the base.
    expect(selectWinners(scored, knowledgeWinnerRule(false), base).map((s) => s.text)).toEqual(['a0', 'b1', 'c0']);
    // Only gains: passage 0's best ties the base (dropped); passage 2 has no base score (dropped).
    expect(selectWinners(scored, knowledgeWinnerRule(true), base).map((s) => s.text)).toEqual(['b1']);
  });
});
