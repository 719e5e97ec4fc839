/**
 * Folding the event log into the run state, the rules resuming relies on (a candidate is finished exactly when it is
 * scored; a killed one is redone, finished ones never; nothing is lost), the paper's metrics, and the config hash and
 * resume check.
 */
import { describe, expect, it } from 'vitest';
import { stampEvent, type RunEvent } from '../../src/seal/events.ts';
import { checkResumeConfig, checkRunConfig, configDiff, configHash, RunConfigMismatchError } from '../../src/seal/run-config.ts';
import {
  baselineMetrics,
  currentPolicy,
  foldEvents,
  isCandidateFinished,
  nextRound,
  pendingCandidates,
  policyForRound,
  resumeSummary,
  roundMetrics,
  selfEditRecords,
  taskOutcomes,
  type RunState,
} from '../../src/seal/run-state.ts';
import { Killed, MemoryLog, runFakeLoop, solves, TASKS, testConfig, type LoopStats } from './helpers.ts';

function started(config = testConfig()): MemoryLog {
  const log = new MemoryLog();
  log.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
  return log;
}

/** Continues a log from its records (a new process reading events.jsonl), as a fresh state. */
function reopened(events: RunEvent[]): MemoryLog {
  const log = new MemoryLog();
  for (const e of events) log.append(Object.fromEntries(Object.entries(e).filter(([k]) => !['v', 'seq', 'time'].includes(k))) as never);
  log.append({ type: 'run-resumed', configHash: log.state.configHash!, rounds: log.state.config!.rounds, finishedCandidates: 0, invocation: {} });
  return log;
}

/** The comparable outcome of a run: every candidate's score and every round's metrics. */
function outcome(state: RunState) {
  return [...state.rounds.values()].map((r) => ({
    metrics: roundMetrics(r),
    checkpoint: r.checkpoint,
    scores: [...r.candidates.values()].map((c) => [c.task, c.candidate, c.score?.reward, c.score?.solved]).sort(),
  }));
}

describe('fold and resume', () => {
  it("an uninterrupted run: every candidate scored once, metrics in the paper's terms", () => {
    const log = started();
    const stats: LoopStats = { sampled: [], trained: [] };
    runFakeLoop(log, { stats });
    const s = log.state;
    expect(s.status).toBe('finished');
    expect(nextRound(s)).toBeNull();
    expect(stats.trained).toHaveLength(2 * TASKS.length * 3);
    for (const round of [0, 1]) {
      const m = roundMetrics(s.rounds.get(round)!);
      const expected = TASKS.flatMap((t) => [0, 1, 2].map((k) => solves(round, t, k))).filter(Boolean).length;
      expect(m).toMatchObject({ round, tasks: 4, candidatesPerTask: 3, pairs: 12, successes: expected, skipped: 0 });
      expect(m.successRate).toBeCloseTo(expected / 12, 12);
      expect(m.tasksSolved).toBe(TASKS.filter((t) => [0, 1, 2].some((k) => solves(round, t, k))).length);
    }
    expect(s.rounds.get(1)!.policy).toEqual({ kind: 'checkpoint', round: 0, path: 'policy/round-0' });
    expect(currentPolicy(s)).toEqual({ kind: 'checkpoint', round: 1, path: 'policy/round-1' });
  });

  it('a kill at every record boundary: resuming redoes only unfinished candidates, loses none, and ends identical', () => {
    const reference = started();
    runFakeLoop(reference);
    const total = reference.events.length - 1;
    const expected = outcome(reference.state);
    for (let budget = 0; budget < total; budget++) {
      const first = started();
      const before: LoopStats = { sampled: [], trained: [] };
      expect(() => runFakeLoop(first, { budget, stats: before }), `budget ${budget}`).toThrow(Killed);
      const finishedBefore = new Set<string>();
      for (const r of first.state.rounds.values())
        for (const c of r.candidates.values()) if (c.score) finishedBefore.add(`${r.round}/${c.task}/${c.candidate}`);

      const second = reopened(first.events);
      const after: LoopStats = { sampled: [], trained: [] };
      runFakeLoop(second, { stats: after });
      // Finished candidates are never trained again; every other slot is trained exactly once more.
      for (const key of after.trained) expect(finishedBefore.has(key), `budget ${budget}: ${key} redone`).toBe(false);
      expect(new Set(after.trained).size).toBe(after.trained.length);
      expect(finishedBefore.size + after.trained.length).toBe(2 * TASKS.length * 3);
      // A recorded valid self-edit is reused, never sampled again.
      const sampledBefore = new Set(before.sampled);
      const keptEdits = [...sampledBefore].filter((k) => !finishedBefore.has(k));
      for (const k of keptEdits) {
        const wasRecorded = first.state.rounds
          .get(Number(k.split('/')[0]))
          ?.candidates.get(`${k.split('/')[1]}\u0000${k.split('/')[2]}`)
          ?.samples.some((x) => x.invalid === null);
        if (wasRecorded) expect(after.sampled, `budget ${budget}`).not.toContain(k);
      }
      expect(outcome(second.state), `budget ${budget}`).toEqual(expected);
      expect(second.state.status).toBe('finished');
      expect(second.state.warnings).toEqual([]);
    }
  });

  it('a candidate killed mid-TTT is pending and interrupted; its partial steps are dropped when it restarts', () => {
    const log = started();
    log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a', 'b'], candidatesPerTask: 2 });
    log.append({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 0, attempt: 0, text: 'x', edit: { lr: 1 } });
    log.append({ type: 'candidate-started', round: 0, task: 'a', candidate: 0 });
    log.append({ type: 'ttt-step', round: 0, task: 'a', candidate: 0, step: 1, loss: 3, lr: 1, tokens: 1 });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [] });
    log.append({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 1, attempt: 0, text: '{bad', edit: null, invalid: 'not JSON' });
    log.append({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 1, attempt: 1, text: 'y', edit: { lr: 2 } });
    log.append({ type: 'candidate-started', round: 0, task: 'a', candidate: 1 });
    log.append({ type: 'ttt-step', round: 0, task: 'a', candidate: 1, step: 1, loss: 5, lr: 1, tokens: 1 });
    log.append({ type: 'ttt-step', round: 0, task: 'a', candidate: 1, step: 2, loss: 4, lr: 1, tokens: 1 });
    // killed here
    const s = log.state;
    expect(isCandidateFinished(s, 0, 'a', 0)).toBe(true);
    expect(isCandidateFinished(s, 0, 'a', 1)).toBe(false);
    const pending = pendingCandidates(s, 0);
    expect(pending.map((p) => `${p.task}${p.candidate}`)).toEqual(['a1', 'b0', 'b1']);
    expect(pending[0]).toMatchObject({ interrupted: true, edit: { text: 'y', attempt: 1 } });
    expect(pending[0]!.samples).toHaveLength(2);
    expect(pending[1]).toMatchObject({ interrupted: false, edit: null });
    expect(roundMetrics(s.rounds.get(0)!)).toMatchObject({ pairs: 1, successes: 1, successRate: 1 });
    expect(resumeSummary(s)).toBe('resuming round 0: 1 of 4 candidates finished, 3 to do (1 interrupted, redone from the start)');

    log.append({ type: 'candidate-started', round: 0, task: 'a', candidate: 1 });
    const c = s.rounds.get(0)!.candidates.get('a\u00001')!;
    expect(c.starts).toBe(2);
    expect(c.ttt).toEqual([]);
    log.append({ type: 'ttt-step', round: 0, task: 'a', candidate: 1, step: 1, loss: 6, lr: 1, tokens: 1 });
    expect(c.ttt.map((p) => p.loss)).toEqual([6]);
  });

  it('a finished candidate is never overwritten: a second score, start or step is ignored with a warning', () => {
    const log = started();
    log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a'], candidatesPerTask: 1 });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [] });
    log.append({ type: 'candidate-started', round: 0, task: 'a', candidate: 0 });
    log.append({ type: 'ttt-step', round: 0, task: 'a', candidate: 0, step: 1, loss: 1, lr: 1, tokens: 1 });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 0, solved: false, tests: [] });
    const c = log.state.rounds.get(0)!.candidates.get('a\u00000')!;
    expect(c.score).toMatchObject({ reward: 1, solved: true, seq: 3 });
    expect(c.starts).toBe(0);
    expect(log.state.warnings).toHaveLength(3);
    expect(log.state.warnings[2]).toMatch(/line 6: round 0 task a candidate 0 was already scored on line 3; the first score stands/);
  });

  it('the M-step counts only once its checkpoint is recorded; the next round needs it', () => {
    const log = started();
    log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a'], candidatesPerTask: 1 });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [] });
    log.append({ type: 'policy-sft-started', round: 0, examples: 1 });
    log.append({ type: 'policy-sft-step', round: 0, step: 1, loss: 2, lr: 1, tokens: 1 });
    expect(() => policyForRound(log.state, 1)).toThrow(/round 1 needs the policy checkpoint of round 0/);
    expect(policyForRound(log.state, 0)).toEqual({ kind: 'base' });
    expect(nextRound(log.state)).toBe(0);
    log.append({ type: 'policy-sft-started', round: 0, examples: 1 });
    expect(log.state.rounds.get(0)!.sft).toEqual({ starts: 2, examples: 1, steps: [] });
    log.append({ type: 'policy-checkpoint-saved', round: 0, path: 'policy/round-0', fingerprint: 'sha256:ab', examples: 1 });
    expect(policyForRound(log.state, 1)).toEqual({ kind: 'checkpoint', round: 0, path: 'policy/round-0', fingerprint: 'sha256:ab' });
    log.append({ type: 'round-finished', round: 0, metrics: roundMetrics(log.state.rounds.get(0)!) });
    expect(nextRound(log.state)).toBe(1);
  });

  it('invalid and skipped candidates count as failed pairs; baselines get their own rows', () => {
    const log = started(testConfig({ command: 'eval', rounds: 1 }));
    log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a', 'b'], candidatesPerTask: 2 });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [{ id: 'a-0', correct: true }] });
    log.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 1, reward: 0, solved: false, tests: [], skipped: 'invalid self-edit' });
    log.append({ type: 'candidate-scored', round: 0, task: 'b', candidate: 0, reward: 0, solved: false, tests: [] });
    log.append({ type: 'candidate-scored', round: 0, task: 'b', candidate: 1, reward: 1, solved: true, tests: [] });
    log.append({ type: 'baseline-scored', name: 'ICL', round: null, task: 'a', reward: 0, solved: false, tests: [] });
    log.append({ type: 'baseline-scored', name: 'ICL', round: null, task: 'b', reward: 1, solved: true, tests: [] });
    log.append({ type: 'baseline-scored', name: 'ICL', round: null, task: 'b', reward: 0, solved: false, tests: [] });
    expect(roundMetrics(log.state.rounds.get(0)!)).toEqual({
      round: 0,
      tasks: 2,
      candidatesPerTask: 2,
      pairs: 4,
      successes: 2,
      successRate: 0.5,
      meanReward: 0.5,
      tasksSolved: 2,
      skipped: 1,
    });
    expect(taskOutcomes(log.state.rounds.get(0)!)).toEqual([
      { task: 'a', rewards: [1, 0], solved: 1, pairs: 2 },
      { task: 'b', rewards: [0, 1], solved: 1, pairs: 2 },
    ]);
    expect(baselineMetrics(log.state)).toEqual([{ name: 'ICL', round: null, tasks: 2, solved: 1, successRate: 0.5, meanReward: 0.5 }]);
    expect(log.state.warnings.join()).toMatch(/baseline "ICL" for task b was already scored/);
  });

  it("the paper's headline number: 29 of 8 x 5 pairs is 72.5%", () => {
    const log = started(testConfig({ tasks: { ids: Array.from({ length: 8 }, (_, i) => `t${i}`) }, selfEditsPerTask: 5, rounds: 1 }));
    log.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: log.state.config!.tasks.ids, candidatesPerTask: 5 });
    let n = 0;
    for (let t = 0; t < 8; t++)
      for (let k = 0; k < 5; k++) {
        const solved = n++ < 29;
        log.append({ type: 'candidate-scored', round: 0, task: `t${t}`, candidate: k, reward: solved ? 1 : 0, solved, tests: [] });
      }
    expect(roundMetrics(log.state.rounds.get(0)!)).toMatchObject({ pairs: 40, successes: 29, successRate: 0.725, tasksSolved: 6 });
  });

  it("self-edit records list every sample with its candidate's outcome", () => {
    const log = started();
    runFakeLoop(log, { invalidEvery: 2 });
    const records = selfEditRecords(log.state);
    const invalid = records.filter((r) => r.invalid !== null);
    expect(invalid.length).toBeGreaterThan(0);
    expect(invalid.every((r) => !r.chosen && r.edit === null)).toBe(true);
    expect(records.filter((r) => r.chosen)).toHaveLength(2 * TASKS.length * 3);
    expect(records[0]).toMatchObject({ round: 0, task: TASKS[0], candidate: 0 });
    expect(records.every((r) => r.reward !== null)).toBe(true);
  });

  it('records for a round that never started are kept, with a warning', () => {
    const log = started();
    log.append({ type: 'candidate-scored', round: 3, task: 'a', candidate: 0, reward: 1, solved: true, tests: [] });
    expect(isCandidateFinished(log.state, 3, 'a', 0)).toBe(true);
    expect(log.state.warnings[0]).toMatch(/round 3 has records before its 'round-started'/);
  });
});

describe('config hash and resume check', () => {
  it('is independent of key order and of where the model and tasks were read from, not of what they are', () => {
    const a = testConfig();
    const reordered = JSON.parse(
      JSON.stringify({
        settings: a.settings,
        seed: a.seed,
        rounds: a.rounds,
        selfEditsPerTask: a.selfEditsPerTask,
        tasks: a.tasks,
        model: a.model,
        command: a.command,
        domain: a.domain,
      }),
    );
    expect(configHash(reordered)).toBe(configHash(a));
    expect(configHash(testConfig({ model: { ...a.model, source: { path: '/elsewhere' } }, tasks: { ids: a.tasks.ids, source: 'other.json' } }))).toBe(
      configHash(a),
    );
    expect(configHash(testConfig({ rounds: 5 }))).toBe(configHash(a));
    expect(configHash(testConfig({ seed: 8 }))).not.toBe(configHash(a));
    expect(configHash(testConfig({ model: { ...a.model, fingerprint: 'sha256:ff' } }))).not.toBe(configHash(a));
    expect(configHash(testConfig({ tasks: { ids: [...TASKS].reverse() } }))).not.toBe(configHash(a));
    expect(configHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('resumes the same config, allows more rounds, refuses other changes with the fields named', () => {
    const stored = testConfig();
    expect(checkResumeConfig(stored, testConfig())).toEqual({ kind: 'same', roundsChanged: null });
    expect(checkResumeConfig(stored, testConfig({ rounds: 4 }))).toEqual({ kind: 'same', roundsChanged: { from: 2, to: 4 } });
    const changed = testConfig({ seed: 9, settings: { ttt: { batchSize: 4, lora: { rank: 128, alpha: 16 } }, data: { maxExamples: 250 } } });
    let error: unknown;
    try {
      checkResumeConfig(stored, changed, { runDir: '/runs/a' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RunConfigMismatchError);
    const message = (error as Error).message;
    expect(message).toMatch(/the run directory \/runs\/a holds a run with a different configuration/);
    expect(message).toMatch(/seed: 7 -> 9/);
    expect(message).toMatch(/settings\.ttt\.batchSize: 2 -> 4/);
    expect(message).toMatch(/Pick a new --run directory .* --force-config/);
    expect((error as RunConfigMismatchError).changes.map((c) => c.path)).toEqual(['seed', 'settings.ttt.batchSize']);
    const forced = checkResumeConfig(stored, changed, { force: true });
    expect(forced.kind).toBe('forced');
  });

  it('diffs arrays of another length as one change, and validates configs', () => {
    expect(configDiff({ a: [1, 2] }, { a: [1, 2, 3] })).toEqual([{ path: 'a', from: [1, 2], to: [1, 2, 3] }]);
    expect(configDiff({ a: [1, 2] }, { a: [1, 3] })).toEqual([{ path: 'a[1]', from: 2, to: 3 }]);
    expect(configDiff({ a: 1 }, {})).toEqual([{ path: 'a', from: 1, to: undefined }]);
    expect(() => checkRunConfig(testConfig({ selfEditsPerTask: 0 }))).toThrow(/selfEditsPerTask must be an integer >= 1/);
    expect(() => checkRunConfig(testConfig({ tasks: { ids: ['a', 'a'] } }))).toThrow(/duplicates/);
    expect(() => checkRunConfig(testConfig({ settings: { lr: Number.NaN } }))).toThrow(/\$\.settings\.lr is NaN/);
  });
});

describe('state from stamped records', () => {
  it('foldEvents over a log equals the live state', () => {
    const log = started();
    runFakeLoop(log);
    const folded = foldEvents(log.events.map((e) => stampEvent(e, e.seq, new Date(e.time))));
    expect(outcome(folded)).toEqual(outcome(log.state));
    expect(folded.events).toBe(log.events.length);
  });
});
