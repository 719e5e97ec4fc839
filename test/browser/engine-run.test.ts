/**
 * The worker engine's runs (runtime-browser/engine/) in headless Chromium, as engine.test.ts sets it up: two
 * self-edits trained together (loss events) and scored (votes, correctness, the time split), the run's log in the
 * CLI's event format; a run cancelled mid-TTT (AbortError, recorded as interrupted, then a run works); one candidate
 * timed. Minutes each on SwiftShader, which compiles the training and decoding pipelines of every new shape.
 * Browser only: the engine lives in a Web Worker of a page (the Node and Deno configs leave this file out).
 */
import * as Comlink from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArcTaskView, SelfEditJson, TttStepEvent } from '../../runtime-browser/engine/api.ts';
import type { SealWorker } from '../../runtime-browser/engine/client.ts';
import { foldEvents } from '../../src/seal/run-state.ts';
import { parseEventLog } from '../../src/seal/events.ts';
import { MODEL, selfEdit, startEngine } from './engine-harness.ts';

/** A run that trains and scores: SwiftShader compiles the training and decoding pipelines of each new shape (minutes). */
const LONG = 900_000;

describe('the worker engine runs (stories260K, tiny ARC tasks)', () => {
  let worker: Worker;
  let engine: SealWorker;
  let task: ArcTaskView;
  const edits = [selfEdit(1e-3, 2), selfEdit(1e-4, 1, false)];

  beforeAll(async () => {
    ({ worker, engine, task } = await startEngine());
    await engine.loadModel(MODEL, {}, null, 'load');
  });

  afterAll(async () => {
    await engine?.dispose();
    worker?.terminate();
  });

  it(
    'trains the candidates together (loss events) and scores them (votes, correctness, time split); the log is a CLI run log',
    async () => {
      const steps: TttStepEvent[] = [];
      const result = await engine.runCandidates(
        { task, selfEdits: edits, tttMaxSteps: 2, answerMaxTokens: 4, seed: 1, ttt: { warmupSteps: 0, maxExamples: 4 } },
        Comlink.proxy((s: TttStepEvent) => void steps.push(s)),
        'run',
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(result.candidates).toHaveLength(2);
      for (const [i, c] of result.candidates.entries()) {
        expect(c.skipped).toBeUndefined();
        expect(c.steps).toBeGreaterThan(0);
        const mine = steps.filter((s) => s.candidate === i);
        expect(mine.map((s) => s.step)).toEqual(Array.from({ length: c.steps }, (_, j) => j + 1));
        for (const s of mine) {
          expect(Number.isFinite(s.loss) && s.loss > 0).toBe(true);
          expect(s.totalSteps).toBe(c.steps);
        }
        expect(c.predictions).toHaveLength(task.test.length);
        expect(c.attempts[0]).toHaveLength(2);
        expect(c.correct).toHaveLength(task.test.length);
        expect(c.solved).toBe(c.correct.every(Boolean));
        const key = (g: number[][]) => JSON.stringify(g);
        // Each vote count is of a readable answer; the first attempt is a voted grid (or [[0]] when nothing was readable).
        for (const v of c.votes[0]!) expect(v.count).toBeGreaterThan(0);
        if (c.votes[0]!.length > 0) expect(c.votes[0]!.map((v) => key(v.grid))).toContain(key(c.predictions[0]!));
      }
      expect(result.solved).toBe(result.candidates.some((c) => c.solved));
      expect(result.trainSeconds).toBeGreaterThan(0);
      expect(result.inferenceSeconds).toBeGreaterThan(0);

      const jsonl = await engine.exportSession();
      const log = parseEventLog(new TextEncoder().encode(jsonl));
      expect(log.torn).toBeNull();
      expect(log.events.map((e) => e.seq)).toEqual(log.events.map((_, i) => i + 1));
      const types = new Set(log.events.map((e) => e.type));
      for (const t of [
        'run-started',
        'round-started',
        'self-edit-sampled',
        'candidate-started',
        'ttt-step',
        'candidate-scored',
        'round-finished',
        'run-finished',
      ])
        expect(types.has(t as never), t).toBe(true);
      const state = foldEvents(log.events);
      expect(state.status).toBe('finished');
      expect(state.config).toMatchObject({ domain: 'arc', command: 'eval', selfEditsPerTask: 2, tasks: { ids: ['tiny0001'] } });
      expect(state.config!.model.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect([...state.rounds.get(0)!.candidates.values()].map((c) => c.score?.solved)).toEqual(result.candidates.map((c) => c.solved));
    },
    LONG,
  );

  it(
    'a run cancelled mid-TTT rejects with an AbortError and is recorded as interrupted; the next run works',
    async () => {
      const long: SelfEditJson = { ...edits[0]!, training: { ...edits[0]!.training, num_train_epochs: 50 } };
      const steps: TttStepEvent[] = [];
      const cancelled = engine.runCandidates(
        { task, selfEdits: [long], tttMaxSteps: 200, answerMaxTokens: 4, seed: 1, ttt: { warmupSteps: 0, maxExamples: 4 } },
        Comlink.proxy((s: TttStepEvent) => {
          steps.push(s);
          if (steps.length === 1) void engine.cancel('long');
        }),
        'long',
      );
      await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
      expect(steps.length).toBeGreaterThan(0);
      expect(steps.length).toBeLessThan(steps[0]!.totalSteps);
      expect(await engine.exportSession()).toContain('"type":"interrupted"');

      const again = await engine.runCandidates(
        { task, selfEdits: [edits[1]!], tttMaxSteps: 2, answerMaxTokens: 4, seed: 1, ttt: { warmupSteps: 0, maxExamples: 4 } },
        Comlink.proxy(() => {}),
        'again',
      );
      expect(again.candidates[0]!.steps).toBeGreaterThan(0);
      expect((await engine.info()).model).not.toBeNull();
    },
    LONG,
  );

  it(
    'times one candidate, split into training and inference',
    async () => {
      const t = await engine.timeOneCandidate({ shape: 'model', task, tttMaxSteps: 2, answerTokens: 2 }, 'time');
      expect(t.trainSeconds).toBeGreaterThan(0);
      expect(t.inferenceSeconds).toBeGreaterThan(0);
      expect(t.detail).toMatch(/task tiny0001, oracle self-edit: \d+ TTT examples, 2 steps/);
    },
    LONG,
  );
});
