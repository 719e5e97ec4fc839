/**
 * Candidates that trained 0 steps: why (a skip, 0 planned steps, a learning rate of 0 at every step) is read from the
 * log alone, counted in the summary's "Skipped" column, shown per candidate in the report, and grouped by kind in the
 * end-of-run line. The expected numbers are counted by hand from the records written here.
 */
import { describe, expect, it } from 'vitest';
import type { DomainContext, InnerTrainingPlan } from '../../src/seal/domain.ts';
import { runSealLoop } from '../../src/seal/loop.ts';
import { renderReportHtml } from '../../src/seal/report.ts';
import { configHash } from '../../src/seal/run-config.ts';
import { foldEvents, roundMetrics, whereRunStands, zeroStepLine, zeroStepReason } from '../../src/seal/run-state.ts';
import { formatRunSummary } from '../../src/seal/summary.ts';
import { MemoryLog, testConfig } from './helpers.ts';
import { fakeConfig, FakeDomain, FakeEngine, FakeRecorder, MemoryStore, newEngineLog, type FakeEdit } from './loop-fakes.ts';

const OVER = 'over the step budget (375): 4 epochs x 250 examples / batch 2 = 500 steps; trained for 0 epochs (the adapter stays untrained)';

const PEAK = 'warmup (11 steps) >= planned steps (2): the learning rate never reaches its peak 1e-4 (it ends at 9.09e-6)';

/** One round of 2 tasks x 3 candidates: 2 over the budget (run untrained), 1 skipped, 1 with lr 0, 2 trained. */
function round(): MemoryLog {
  const config = testConfig({ tasks: { ids: ['a', 'b'] }, selfEditsPerTask: 3, rounds: 1 });
  const log = new MemoryLog();
  log.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
  log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a', 'b'], candidatesPerTask: 3 });
  const slot = (task: string, candidate: number) => ({ round: 0, task, candidate });
  for (const task of ['a', 'b']) for (let k = 0; k < 3; k++) log.append({ type: 'self-edit-sampled', ...slot(task, k), attempt: 0, text: '{}', edit: {} });
  const scored = (task: string, k: number, solved: boolean) =>
    log.append({ type: 'candidate-scored', ...slot(task, k), reward: solved ? 1 : 0, solved, tests: [] });
  // a/0, b/0: over the budget, run for 0 epochs (an untrained adapter, scored as the model itself; one solves).
  for (const [task, solved] of [
    ['a', false],
    ['b', true],
  ] as const) {
    log.append({ type: 'candidate-started', ...slot(task, 0), examples: 250, plannedSteps: 0, notes: [OVER], untrained: OVER });
    scored(task, 0, solved);
  }
  // a/1: skipped before training.
  log.append({
    type: 'candidate-scored',
    ...slot('a', 1),
    reward: 0,
    solved: false,
    tests: [],
    skipped: 'empty TTT dataset: every example was over the token limit',
  });
  // b/1: one step, learning rate 0 throughout.
  log.append({
    type: 'candidate-started',
    ...slot('b', 1),
    examples: 4,
    plannedSteps: 1,
    untrained: 'learning rate 0 at every step: warmup of 11 steps >= 1 planned step(s)',
  });
  log.append({ type: 'ttt-step', ...slot('b', 1), step: 1, loss: 2, lr: 0, tokens: 10 });
  scored('b', 1, false);
  // a/2, b/2: trained.
  for (const task of ['a', 'b']) {
    const notes = task === 'a' ? [PEAK] : [];
    log.append({ type: 'candidate-started', ...slot(task, 2), examples: 4, plannedSteps: 2, notes });
    log.append({ type: 'ttt-step', ...slot(task, 2), step: 1, loss: 2, lr: 1e-4, tokens: 10 });
    log.append({ type: 'ttt-step', ...slot(task, 2), step: 2, loss: 1, lr: 5e-5, tokens: 10 });
    scored(task, 2, task === 'a');
  }
  return log;
}

describe('candidates that trained 0 steps', () => {
  it('each has its reason, from the log alone (a resumed run reads the same)', () => {
    const state = foldEvents(round().events);
    const r = state.rounds.get(0)!;
    const why = (task: string, k: number) => zeroStepReason(r.candidates.get(`${task}\u0000${k}`)!);
    expect(why('a', 0)).toBe(OVER);
    expect(why('b', 0)).toBe(OVER);
    expect(why('a', 1)).toMatch(/^empty TTT dataset: /);
    expect(why('b', 1)).toMatch(/^learning rate 0 at every step: warmup of 11/);
    expect(why('a', 2)).toBeNull();
    expect(why('b', 2)).toBeNull();
    // 6 pairs, 2 solved (b/0 untrained, a/2 trained), 4 skipped.
    expect(roundMetrics(r)).toMatchObject({ pairs: 6, successes: 2, skipped: 4 });
  });

  it('a log from before `untrained` existed: 0 planned steps still counts, with its notes as the reason', () => {
    const old = round().events.map((e) => (e.type === 'candidate-started' && e.plannedSteps === 0 ? { ...e, untrained: undefined } : e));
    const state = foldEvents(old);
    expect(zeroStepReason(state.rounds.get(0)!.candidates.get('a\u00000')!)).toBe(OVER);
    expect(roundMetrics(state.rounds.get(0)!).skipped).toBe(4);
  });

  it('the end-of-run line, the terminal summary and the report say how many and why', () => {
    const log = round();
    const line = '4 of 6 candidates trained 0 steps: 2 over the step budget (375), 1 empty TTT dataset, 1 learning rate 0 at every step';
    expect(zeroStepLine(log.state)).toBe(line);
    const summary = formatRunSummary(log.state);
    expect(summary).toContain(`${line} (per candidate: report.html)`);
    expect(summary).toMatch(/round 0\* +base model +6\/6 +2\/6 .* 4$/m);
    const html = renderReportHtml(log.state);
    expect(html).toContain(`<p class="warn">${line} (per candidate: Self-edits below)</p>`);
    expect(html).toMatch(/<td class="num">6 \/ 6<\/td><td class="num">2<\/td>.*<td class="num">4<\/td><td>scored<\/td><\/tr>/);
    expect(html).toContain(`<span class="bad">not trained:</span> ${OVER}`);
    expect(html).toContain('<span class="bad">skipped:</span> empty TTT dataset: every example was over the token limit');
    expect(html).toContain('<span class="bad">not trained:</span> learning rate 0 at every step');
    // A trained candidate's plan notes are shown too (not counted as skipped).
    expect(html).toContain(PEAK.replace('>=', '&gt;='));
    expect(html.split(OVER).length - 1).toBe(2); // once per over-budget candidate: its reason, not repeated as a note
  });

  it('a run where every candidate trained has no such line', () => {
    const log = round();
    const trainedOnly = foldEvents(log.events.filter((e) => !('candidate' in e) || e.candidate === 2));
    expect(zeroStepLine(trainedOnly)).toBeNull();
    expect(formatRunSummary(trainedOnly)).not.toContain('trained 0 steps');
  });
});

describe('where an interrupted run stands', () => {
  it('counts as interrupted only candidates whose training started, not slots whose self-edit was only sampled', () => {
    const log = round();
    const events = log.events.filter(
      (e) => !(e.type === 'candidate-scored' && e.candidate === 2) && !(e.type === 'candidate-started' && e.task === 'b' && e.candidate === 2),
    );
    events.push({ ...events[events.length - 1]!, type: 'interrupted', signal: 'SIGINT' } as never);
    const state = foldEvents(events);
    expect(state.status).toBe('interrupted');
    // a/2 started (interrupted), b/2 only sampled: 2 to do, 1 interrupted.
    expect(whereRunStands(state)).toBe('round 0: 4 of 6 candidates finished, 2 to do (1 interrupted, redone from the start)');
    expect(whereRunStands(state, 'resuming')).toMatch(/^resuming round 0: /);
  });
});

/** The fake domain with plans that run but cannot train: by candidate slot's learning rate. */
class UntrainedPlans extends FakeDomain {
  override trainingPlan(context: DomainContext, edit: FakeEdit): InnerTrainingPlan {
    const plan = super.trainingPlan(context, edit);
    if (plan.skip !== null) return plan;
    // One step under 4 warmup steps: step 0's rate is 0 (schedule.ts), so the only step changes nothing.
    if (context.id === 't1') return { ...plan, hyper: { ...plan.hyper, maxSteps: 1, warmupSteps: 4 }, plannedSteps: 1 };
    // 0 planned steps (over a budget): the adapter stays as initialised.
    if (context.id === 't2')
      return {
        ...plan,
        hyper: { ...plan.hyper, maxSteps: null, epochs: 0 },
        plannedSteps: 0,
        notes: ['over the step budget (9): 12 steps; trained for 0 epochs'],
      };
    return plan;
  }
}

describe('the loop records why a running candidate cannot train', () => {
  it("'candidate-started' carries untrained: lr 0 at every step, or 0 planned steps; trained ones have none", async () => {
    const config = fakeConfig({ rounds: 1 });
    const rec = new FakeRecorder();
    rec.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
    await runSealLoop(rec, new MemoryStore(), new UntrainedPlans(), new FakeEngine(newEngineLog()), {
      mode: 'eval',
      sampling: { temperature: 1, topP: 1, maxNewTokens: 16, attemptsPerEdit: 2 },
      policyMode: 'adapter',
    });
    const startedBy = (task: string) =>
      rec.log.events.filter((e) => e.type === 'candidate-started' && e.task === task).map((e) => (e as { untrained?: string }).untrained);
    const t1 = startedBy('t1');
    expect(t1.length).toBeGreaterThan(0);
    for (const u of t1) expect(u).toBe('learning rate 0 at every step: warmup of 4 steps >= 1 planned step(s)');
    for (const u of startedBy('t2')) expect(u).toBe('over the step budget (9): 12 steps; trained for 0 epochs');
    for (const u of startedBy('t3')) expect(u).toBeUndefined();
    const r = rec.state.rounds.get(0)!;
    const started = [...r.candidates.values()].filter((c) => c.plan !== null);
    const skippedBefore = [...r.candidates.values()].filter((c) => c.plan === null).length;
    const untrained = started.filter((c) => c.task !== 't3').length;
    expect(roundMetrics(r).skipped).toBe(skippedBefore + untrained);
  });
});
