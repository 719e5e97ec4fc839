/**
 * The SEAL loop's core logic on a fake domain and engine (no GPU): the record protocol of a round (samples, starts,
 * TTT steps, scores, the M-step, round-finished), resampling invalid self-edits within a cap, skips, grouping of
 * candidates trained together, divergence, ReST-EM winners and the policy carried to the next round, and above all
 * resuming: a kill after any record, or several kills in a row, redoes no scored candidate, resamples no recorded
 * self-edit, and ends exactly as an uninterrupted run.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/seal/events.ts';
import { runInContextBaseline, runSealLoop, type SealLoopOptions } from '../../src/seal/loop.ts';
import { policySftRows, selectWinners, type RestEmSettings, type ScoredSelfEdit } from '../../src/seal/rest-em.ts';
import { configHash, type RunConfig } from '../../src/seal/run-config.ts';
import { chosenEdit, foldEvents, roundMetrics, type RunState } from '../../src/seal/run-state.ts';
import { roundSeed, sampleStream } from '../../src/seal/streams.ts';
import type { DomainContext } from '../../src/seal/domain.ts';
import { Killed, MemoryLog } from './helpers.ts';
import {
  CONTEXTS,
  fakeConfig,
  fakeSample,
  fakeWeights,
  FakeDomain,
  FakeEngine,
  FakeRecorder,
  MemoryStore,
  newEngineLog,
  type EngineLog,
} from './loop-fakes.ts';

const REST_EM: RestEmSettings = {
  winners: { kind: 'reward-above', threshold: 0 },
  lora: { rank: 2, alpha: 4, targets: ['q_proj'] },
  hyper: { lr: 1e-4, epochs: 1 },
  initSeed: 0,
  continuePolicy: true,
};

function options(extra: Partial<SealLoopOptions<DomainContext>> = {}): SealLoopOptions<DomainContext> {
  return { mode: 'train', sampling: { temperature: 1, topP: 1, maxNewTokens: 16, attemptsPerEdit: 2 }, policyMode: 'merge', restEm: REST_EM, ...extra };
}

function started(config: RunConfig = fakeConfig()): FakeRecorder {
  const rec = new FakeRecorder();
  rec.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
  return rec;
}

/** A new process reading the log: a fresh state folded from the records, then 'run-resumed'. */
function reopened(events: readonly RunEvent[]): FakeRecorder {
  const rec = new FakeRecorder(new MemoryLog());
  for (const e of events) rec.append(Object.fromEntries(Object.entries(e).filter(([k]) => !['v', 'seq', 'time'].includes(k))) as never);
  rec.append({ type: 'run-resumed', configHash: rec.state.configHash!, rounds: rec.state.config!.rounds, finishedCandidates: 0, invocation: {} });
  return rec;
}

async function run(
  rec: FakeRecorder,
  store = new MemoryStore(),
  log: EngineLog = newEngineLog(),
  extra: Partial<SealLoopOptions<DomainContext>> = {},
  domain = new FakeDomain(),
) {
  const engine = new FakeEngine(log);
  await runSealLoop(rec, store, domain, engine, options(extra));
  return { store, log, engine };
}

/** What a run decided: per round the policy, every slot's chosen text and score, the checkpoint. */
function outcome(state: RunState) {
  return [...state.rounds.values()].map((r) => ({
    policy: r.policy,
    metrics: roundMetrics(r),
    checkpoint: r.checkpoint,
    slots: [...r.candidates.values()]
      .map((c) => [c.task, c.candidate, chosenEdit(c)?.text ?? null, c.score?.reward, c.score?.skipped, c.samples.length])
      .sort(),
  }));
}

const slotKey = (e: { round: number; task: string; candidate: number }) => `${e.round}/${e.task}/${e.candidate}`;

describe('SEAL loop (fake domain and engine)', () => {
  it('records a round as the protocol says and carries the trained policy into the next round', async () => {
    const rec = started();
    const { store, log } = await run(rec);
    const s = rec.state;
    const types = rec.log.events.map((e) => e.type);
    expect(types.filter((t) => t === 'round-finished')).toHaveLength(2);
    expect(types.filter((t) => t === 'candidate-scored')).toHaveLength(2 * CONTEXTS.length * 3);
    // Per round: every sample first (one batch for all contexts), then per context its starts, steps and scores.
    const round0 = rec.log.events.filter((e) => 'round' in e && e.round === 0).map((e) => e.type);
    expect(round0.indexOf('candidate-started')).toBeGreaterThan(round0.lastIndexOf('self-edit-sampled'));
    for (const r of [0, 1]) {
      const round = s.rounds.get(r)!;
      for (const c of round.candidates.values()) {
        const chosen = chosenEdit(c);
        expect(c.score, slotKey(c)).not.toBeNull();
        // Every sample is the engine's draw for its slot's stream; at most attemptsPerEdit of them.
        c.samples.forEach((x) => {
          expect(x.text).toBe(fakeSample(roundSeed(21, r), sampleStream(c.task, c.candidate, x.attempt)));
        });
        expect(c.samples.length).toBeLessThanOrEqual(2);
        if (chosen === null) expect(c.score!.skipped).toMatch(/^no valid self-edit in 2 samples: not JSON/);
        else if ((chosen.edit as { lr: number }).lr === 0) expect(c.score!.skipped).toBe('a learning rate of 0 trains nothing');
        else {
          expect(c.score!.skipped).toBeNull();
          expect(c.ttt.map((p) => p.step)).toEqual([1, 2, 3]);
          expect(c.score!.solved).toBe((chosen.edit as { lr: number }).lr >= 0.5);
        }
      }
    }
    // Every path is taken in both rounds (fakeConfig's seed is chosen so): resampled, given up, skipped, trained.
    for (const r of [0, 1]) {
      const slots = [...s.rounds.get(r)!.candidates.values()];
      expect(
        slots.some((c) => c.samples.length === 2 && chosenEdit(c) !== null),
        `round ${r} resampled`,
      ).toBe(true);
      expect(
        slots.some((c) => chosenEdit(c) === null),
        `round ${r} given up`,
      ).toBe(true);
      expect(
        slots.some((c) => c.score!.skipped === 'a learning rate of 0 trains nothing'),
        `round ${r} skipped`,
      ).toBe(true);
      expect(slots.filter((c) => c.score!.solved).length, `round ${r} winners`).toBeGreaterThan(0);
    }
    // The clamped self-edit keeps its adjustment.
    const clamped = [...s.rounds.values()]
      .flatMap((r) => [...r.candidates.values()])
      .flatMap((c) => c.samples)
      .filter((x) => x.text === '{"lr": 1.5}');
    expect(clamped.length).toBeGreaterThan(0);
    for (const x of clamped) expect(x).toMatchObject({ edit: { lr: 0.9 }, adjustments: [{ field: 'lr', from: 1.5, to: 0.9 }] });
    // The plan's notes go with its start; a plan without notes records none.
    const starts = rec.log.events.filter((e) => e.type === 'candidate-started');
    const lrOf = (e: { round: number; task: string; candidate: number }) =>
      (chosenEdit(s.rounds.get(e.round)!.candidates.get(`${e.task}\u0000${e.candidate}`)!)!.edit as { lr: number }).lr;
    for (const e of starts) expect((e as { notes?: string[] }).notes).toEqual(lrOf(e) > 0.8 ? ['a high learning rate'] : undefined);
    expect(starts.some((e) => lrOf(e) > 0.8)).toBe(true);

    // M-step: the winners of each round, prompt + winning text; round 1 samples with round 0's policy.
    expect(s.rounds.get(1)!.policy).toEqual({ kind: 'checkpoint', round: 0, path: 'policy/round-0' });
    expect(log.policies.map((p) => p.mode)).toEqual(['merge', 'merge']);
    expect(log.policies[0]!.tag).toBeNull();
    for (const r of [0, 1]) {
      const winners = [...s.rounds.get(r)!.candidates.values()].filter((c) => c.score!.reward > 0).length;
      expect(s.rounds.get(r)!.checkpoint).toMatchObject({ path: `policy/round-${r}`, examples: winners });
      expect(log.policyJobs[r]!.rows).toBe(winners);
    }
    expect(log.policies[1]!.tag).toBe(store.files.get('policy/round-0')!.config.alpha);
    expect(log.policyJobs.map((j) => j.init)).toEqual(['seed', 'weights']);
    expect(rec.reports).toBe(2);
    expect(foldEvents(rec.log.events).warnings).toEqual([]);
  });

  it('a kill after any record: resuming redoes no scored candidate, resamples no recorded self-edit, and ends the same', async () => {
    const reference = started();
    const refRun = await run(reference);
    const expected = outcome(reference.state);
    const total = reference.log.events.length;
    for (let budget = 1; budget < total; budget++) {
      const first = started();
      first.budget = budget - 1;
      const firstLog = newEngineLog();
      await expect(run(first, new MemoryStore(), firstLog), `budget ${budget}`).rejects.toThrow(Killed);
      const store = new MemoryStore();
      for (const [k, w] of refRun.store.files) if (first.state.rounds.get(Number(k.split('-')[1]))?.checkpoint) store.files.set(k, w);

      const second = reopened(first.log.events);
      const scoredBefore = new Set(first.log.events.filter((e) => e.type === 'candidate-scored').map((e) => slotKey(e as never)));
      const sampledBefore = new Set(
        first.log.events.filter((e) => e.type === 'self-edit-sampled').map((e) => `${slotKey(e as never)}#${(e as { attempt: number }).attempt}`),
      );
      const resumeFrom = second.log.events.length;
      const { log } = await run(second, store);
      const after = second.log.events.slice(resumeFrom);
      for (const e of after) {
        if (e.type === 'candidate-started' || e.type === 'candidate-scored' || e.type === 'ttt-step')
          expect(scoredBefore.has(slotKey(e)), `budget ${budget}: ${e.type} of finished ${slotKey(e)}`).toBe(false);
        if (e.type === 'self-edit-sampled')
          expect(sampledBefore.has(`${slotKey(e)}#${e.attempt}`), `budget ${budget}: ${slotKey(e)} attempt ${e.attempt} drawn twice`).toBe(false);
      }
      // Every slot scored exactly once over both processes.
      const scores = second.log.events.filter((e) => e.type === 'candidate-scored').map((e) => slotKey(e as never));
      expect(new Set(scores).size, `budget ${budget}`).toBe(scores.length);
      expect(scores.length).toBe(2 * CONTEXTS.length * 3);
      expect(outcome(second.state), `budget ${budget}`).toEqual(expected);
      expect(second.state.warnings, `budget ${budget}`).toEqual([]);
      // The engine was only asked to train what was unfinished: one training per candidate started after the resume.
      expect(log.trainCalls.flat().length, `budget ${budget}`).toBe(after.filter((e) => e.type === 'candidate-started').length);
    }
  });

  it('survives several kills in a row (every 17 records: one group of 3 trains in 15) with the same result', async () => {
    const reference = started();
    await run(reference);
    let rec = started();
    const store = new MemoryStore();
    let kills = 0;
    for (;;) {
      rec.budget = 17;
      try {
        await run(rec, store);
        break;
      } catch (e) {
        if (!(e instanceof Killed)) throw e;
        kills++;
        rec = reopened(rec.log.events);
      }
    }
    expect(kills).toBeGreaterThan(4);
    expect(outcome(rec.state)).toEqual(outcome(reference.state));
    expect(rec.state.resumes).toBe(kills);
  });

  it('trains and scores at most maxParallel candidates per call, each group together, and keeps adapters when asked', async () => {
    const rec = started(fakeConfig({ selfEditsPerTask: 5, rounds: 1 }));
    const { log, store } = await run(rec, new MemoryStore(), newEngineLog(), { maxParallel: 2, keepAdapters: true });
    expect(Math.max(...log.trainCalls.map((c) => c.length))).toBeLessThanOrEqual(2);
    // Every training group is scored as one generation batch of its candidates (one prompt each in the fake domain).
    expect(log.scoringBatches).toEqual(log.trainCalls);
    expect(log.trainCalls.some((c) => c.length === 2)).toBe(true);
    const trained = [...rec.state.rounds.get(0)!.candidates.values()].filter((c) => c.score!.skipped === null);
    expect(trained.length).toBeGreaterThan(2);
    for (const c of trained) {
      expect(c.score!.adapter).toBe(`adapters/round-0/${c.task}/candidate-${c.candidate}`);
      expect(store.files.get(c.score!.adapter!)!.config.alpha).toBe((chosenEdit(c)!.edit as { lr: number }).lr);
    }
  });

  it('a diverged group is retrained one by one: the diverged candidate scores 0, the others as alone', async () => {
    const config = fakeConfig({ rounds: 1, selfEditsPerTask: 6 });
    const reference = started(config);
    await run(reference);
    const lrs = [...reference.state.rounds.get(0)!.candidates.values()]
      .map((c) => (chosenEdit(c)?.edit as { lr: number } | undefined)?.lr)
      .filter((x): x is number => x !== undefined && x > 0);
    const bad = lrs[0]!;
    const rec = started(config);
    const engine = new FakeEngine();
    engine.divergeAt = bad;
    await runSealLoop(rec, new MemoryStore(), new FakeDomain(), engine, options());
    for (const c of rec.state.rounds.get(0)!.candidates.values()) {
      const ref = reference.state.rounds.get(0)!.candidates.get(`${c.task}\u0000${c.candidate}`)!;
      if ((chosenEdit(c)?.edit as { lr: number } | undefined)?.lr === bad)
        expect(c.score).toMatchObject({ reward: 0, skipped: expect.stringMatching(/^TTT diverged: SFT job 0/) });
      else expect(c.score!.reward).toBe(ref.score!.reward);
    }
    expect(rec.state.warnings).toEqual([]);
  });

  it('eval: one round with the given policy and no M-step; the oracle trains a fixed self-edit without sampling', async () => {
    const rec = started(fakeConfig({ command: 'eval', rounds: 1 }));
    const policy = { ref: { kind: 'checkpoint' as const, round: 3, path: '/elsewhere/policy/round-3' }, weights: fakeWeights(42) };
    const { log } = await run(rec, new MemoryStore(), newEngineLog(), { mode: 'eval', policy, restEm: undefined });
    expect(rec.state.rounds.get(0)!.policy).toEqual(policy.ref);
    expect(log.policies).toEqual([{ tag: 42, mode: 'merge' }]);
    expect(log.policyJobs).toEqual([]);
    expect(rec.log.events.some((e) => e.type.startsWith('policy-'))).toBe(false);

    const oracle = started(fakeConfig({ command: 'baseline-oracle', rounds: 1, selfEditsPerTask: 1 }));
    const domain = new FakeDomain();
    const o = await run(
      oracle,
      new MemoryStore(),
      newEngineLog(),
      { mode: 'eval', restEm: undefined, fixedSelfEdits: () => [domain.oracleSelfEdit()] },
      domain,
    );
    expect(o.log.sampled).toEqual([]);
    for (const c of oracle.state.rounds.get(0)!.candidates.values()) expect(c.samples).toMatchObject([{ text: '{"lr": 0.7}', attempt: 0 }]);
    expect(roundMetrics(oracle.state.rounds.get(0)!)).toMatchObject({ pairs: 3, successes: 3 });
  });

  it('an aborted signal stops the loop between steps with an AbortError; the same run then resumes to the uninterrupted outcome', async () => {
    const whole = started();
    await run(whole);
    const rec = started();
    const controller = new AbortController();
    const append = rec.append.bind(rec);
    rec.append = (input) => {
      const e = append(input);
      if (input.type === 'ttt-step') controller.abort();
      return e;
    };
    const store = new MemoryStore();
    await expect(run(rec, store, newEngineLog(), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const round = rec.state.rounds.get(0)!;
    expect(round.finished).toBe(false);
    expect([...round.candidates.values()].filter((c) => c.score !== null).length, 'stopped within the round').toBeLessThan(CONTEXTS.length * 3);
    rec.append = append;
    await run(rec, store);
    expect(outcome(rec.state)).toEqual(outcome(whole.state));
    await expect(run(started(), new MemoryStore(), newEngineLog(), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('in-context baseline: each context scored once without an adapter, resumable', async () => {
    const rec = started(fakeConfig({ command: 'baseline-in-context', rounds: 1, selfEditsPerTask: 1 }));
    rec.budget = 1;
    const engine = new FakeEngine();
    await expect(runInContextBaseline(rec, new FakeDomain(), engine)).rejects.toThrow(Killed);
    const again = reopened(rec.log.events);
    const log = newEngineLog();
    await runInContextBaseline(again, new FakeDomain(), new FakeEngine(log));
    expect(log.scored).toEqual([null, null]);
    expect(log.scoringBatches).toEqual([[null, null]]); // the pending contexts scored together
    expect([...again.state.baselines.values()].map((b) => [b.task, b.reward])).toEqual(CONTEXTS.map((t) => [t, 0]));
  });

  it("refuses contexts that are not the run's tasks, and bad sampling settings", async () => {
    await expect(run(started(), new MemoryStore(), newEngineLog(), {}, new FakeDomain(['t1', 't2']))).rejects.toThrow(
      /contexts \(t1, t2\) are not the run's tasks \(t1, t2, t3\)/,
    );
    await expect(
      run(started(), new MemoryStore(), newEngineLog(), { sampling: { temperature: 1, topP: 1, maxNewTokens: 0, attemptsPerEdit: 1 } }),
    ).rejects.toThrow(/maxNewTokens must be an integer >= 1/);
    await expect(run(started(), new MemoryStore(), newEngineLog(), { restEm: undefined })).rejects.toThrow(/needs restEm/);
  });
});

describe('ReST-EM winners', () => {
  const scored: ScoredSelfEdit[] = [
    { context: 'a', candidate: 0, reward: 0, text: 'a0' },
    { context: 'a', candidate: 1, reward: 1, text: 'a1' },
    { context: 'a', candidate: 2, reward: 1, text: 'a2' },
    { context: 'b', candidate: 0, reward: 0.25, text: 'b0' },
    { context: 'b', candidate: 1, reward: 0.5, text: 'b1' },
    { context: 'c', candidate: 0, reward: 0, text: 'c0' },
  ];

  it('reward-above keeps every pair above the threshold; best-per-context one per context (ties: lowest index)', () => {
    expect(selectWinners(scored, { kind: 'reward-above', threshold: 0 }).map((s) => s.text)).toEqual(['a1', 'a2', 'b0', 'b1']);
    expect(selectWinners(scored, { kind: 'reward-above', threshold: 0.3 }).map((s) => s.text)).toEqual(['a1', 'a2', 'b1']);
    expect(selectWinners(scored, { kind: 'best-per-context', threshold: null }).map((s) => s.text)).toEqual(['a1', 'b1', 'c0']);
    expect(selectWinners(scored, { kind: 'best-per-context', threshold: 0 }).map((s) => s.text)).toEqual(['a1', 'b1']);
  });

  it("a policy row is the context's self-edit prompt answered by the winning text", () => {
    const domain = new FakeDomain(['a', 'b', 'c']);
    const rows = policySftRows(selectWinners(scored, { kind: 'best-per-context', threshold: 0 }), domain);
    expect(rows).toEqual([
      { kind: 'messages', line: 1, messages: [...domain.selfEditPrompt({ id: 'a' }), { role: 'assistant', content: 'a1' }] },
      { kind: 'messages', line: 2, messages: [...domain.selfEditPrompt({ id: 'b' }), { role: 'assistant', content: 'b1' }] },
    ]);
  });

  it('no winner: a warning, the policy kept as it was, and the next round samples from it', async () => {
    const rec = started(fakeConfig({ rounds: 2 }));
    const { log } = await run(rec, new MemoryStore(), newEngineLog(), { restEm: { ...REST_EM, winners: { kind: 'reward-above', threshold: 5 } } });
    expect(rec.state.warnings.filter((w) => /no self-edit won \(rule reward > 5\)/.test(w))).toHaveLength(2);
    expect(rec.log.events.some((e) => e.type === 'policy-sft-started')).toBe(false);
    expect(rec.state.rounds.get(0)!.checkpoint).toMatchObject({ examples: 0 });
    expect(log.policyJobs.map((j) => j.rows)).toEqual([0, 0]);
  });
});

describe('sampling streams', () => {
  it('depend on the slot only, and differ between slots, attempts and rounds', () => {
    const streams = new Set<number>();
    for (const t of CONTEXTS) for (let k = 0; k < 20; k++) for (let a = 0; a < 4; a++) streams.add(sampleStream(t, k, a));
    expect(streams.size).toBe(CONTEXTS.length * 20 * 4);
    expect(sampleStream('t1', 3, 1)).toBe(sampleStream('t1', 3, 1));
    expect(roundSeed(11, 0)).not.toBe(roundSeed(11, 1));
    expect(roundSeed(11, 0)).not.toBe(roundSeed(12, 0));
    expect(() => roundSeed(1.5, 0)).toThrow(/safe integer/);
  });
});
