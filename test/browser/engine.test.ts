/**
 * The worker engine (runtime-browser/engine/) in headless Chromium: a module Worker running worker.ts, driven through
 * comlink as a page drives it, on the bundled stories260K (examples/models/stories260K, served by the test's Vite
 * server) and examples/arc-tiny. It loads the model with byte-accurate progress, samples K = 2 schema-constrained
 * self-edits streaming their tokens, trains and scores candidates (loss events, votes, timings), exports the run's
 * log in the CLI's event format, cancels a run mid-TTT (AbortError, then a run works), runs a ReST-EM round whose
 * policy adapter round-trips through PEFT files, times a candidate, and refuses a broken task with one message.
 * Browser only: the engine lives in a Web Worker of a page (Node and Deno skip this file).
 */
import * as Comlink from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArcTaskView, LoadProgress, ModelSource, RunEventLike, SelfEditJson, TttStepEvent } from '../../runtime-browser/engine/api.ts';
import { createSealWorker, type SealWorker } from '../../runtime-browser/engine/client.ts';
import { foldEvents } from '../../src/seal/run-state.ts';
import { parseEventLog } from '../../src/seal/events.ts';
import { runtimeName } from '../harness/context.ts';

const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors'];
const inBrowser = runtimeName() === 'browser';
const served = (path: string) => new URL(path, inBrowser ? globalThis.location.origin : 'http://localhost/').href;
const MODEL: ModelSource = { kind: 'url', url: served('/examples/models/stories260K'), files: MODEL_FILES };

const isSelfEdit = (e: SelfEditJson | null): boolean =>
  e !== null &&
  ['use_basic_augmentations', 'use_size_augmentations', 'use_chain_augmentations', 'use_repeat_augmentations'].every(
    (k) => typeof (e.data_generation as unknown as Record<string, unknown>)[k] === 'boolean',
  ) &&
  ['train_using_all_tokens', 'train_using_output_tokens'].includes(e.training.strategy) &&
  Number.isFinite(e.training.learning_rate) &&
  Number.isInteger(e.training.num_train_epochs);

describe.skipIf(!inBrowser)('the worker engine (stories260K, tiny ARC tasks)', () => {
  let worker: Worker;
  let engine: SealWorker;
  let task: ArcTaskView;
  let edits: SelfEditJson[];

  beforeAll(async () => {
    worker = new Worker(new URL('../../runtime-browser/engine/worker.ts', import.meta.url), { type: 'module' });
    // A worker whose module fails to load answers nothing: fail with its error instead of waiting.
    const failed = new Promise<never>((_, reject) =>
      worker.addEventListener('error', (e) => reject(new Error(`the engine's worker failed to start: ${e.message || 'module load error'}`))),
    );
    engine = createSealWorker(worker);
    await Promise.race([engine.info(), failed]);
    const [challenges, solutions] = await Promise.all(
      ['tiny_challenges.json', 'tiny_solutions.json'].map(async (f) => (await fetch(served(`/examples/arc-tiny/${f}`))).text()),
    );
    task = (await engine.loadTasks(challenges!, solutions!, ['tiny0001']))[0]!;
  });

  afterAll(async () => {
    await engine?.dispose();
    worker?.terminate();
  });

  it('runs in a worker, inspects the model before loading it, and loads it with byte-accurate progress', async () => {
    const info = await engine.info();
    expect(info.inWorker).toBe(true);
    expect(info.model).toBeNull();
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);

    const sizes = await Promise.all(MODEL_FILES.map(async (f) => (await (await fetch(`${(MODEL as { url: string }).url}/${f}`)).blob()).size));
    const total = sizes.reduce((a, b) => a + b, 0);
    const inspection = await engine.inspectModel(MODEL);
    expect(inspection).toMatchObject({ architecture: 'llama', bytes: total, fits: true });
    expect(inspection.params).toBeGreaterThan(200_000);
    // SwiftShader has no shader-f16: the plan runs in f32.
    const f32 = !info.features.shaderF16;
    expect(inspection.memoryPlan.precision.value).toBe(f32 ? 'f32' : 'mixed');
    expect(inspection.memoryPlan.matmul.value).toBe(f32 ? 'f32' : 'auto');
    for (const choice of Object.values(inspection.memoryPlan)) expect(choice.reason.length).toBeGreaterThan(10);

    const progress: LoadProgress[] = [];
    const summary = await engine.loadModel(
      MODEL,
      {},
      Comlink.proxy((p: LoadProgress) => void progress.push(p)),
      'load',
    );
    expect(summary).toMatchObject({ architecture: 'llama', contextLength: 512, vocabSize: 512, hasChatTemplate: false });
    expect(progress.length).toBeGreaterThan(MODEL_FILES.length - 1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThanOrEqual(progress[i - 1]!.loaded);
    expect(progress.at(-1)).toMatchObject({ loaded: total, total, file: 'model.safetensors' });
    expect((await engine.info()).model).toEqual(summary);
  });

  it('samples K = 2 schema-valid self-edits, streaming each one token by token', async () => {
    const streamed = new Map<number, string[]>();
    const samples = await engine.sampleSelfEdits(
      { task, k: 2, seed: 1 },
      Comlink.proxy((candidate: number, text: string) => {
        streamed.set(candidate, [...(streamed.get(candidate) ?? []), text]);
      }),
      'sample',
    );
    expect(samples).toHaveLength(2);
    // Callbacks arrive as messages: let the last ones in.
    await new Promise((r) => setTimeout(r, 100));
    for (const [i, s] of samples.entries()) {
      expect(isSelfEdit(s.selfEdit), `sample ${i}: ${s.text} (${s.error})`).toBe(true);
      const pieces = streamed.get(i) ?? [];
      expect(pieces.length, `candidate ${i} streamed`).toBeGreaterThan(5);
      expect(pieces.at(-1)).toBe(s.text);
    }
    edits = samples.map((s) => s.selfEdit!);
    const plan = await engine.planSelfEdit(task, edits[0]!, { tttMaxSteps: 2 });
    expect(plan.examples).toBeGreaterThan(0);
    expect(plan.steps).toBeGreaterThan(0);
    expect(plan.steps).toBeLessThanOrEqual(2);
  });

  it('trains the candidates together (loss events) and scores them (votes, correctness, time split); the log is a CLI run log', async () => {
    const steps: TttStepEvent[] = [];
    const result = await engine.runCandidates(
      { task, selfEdits: edits, tttMaxSteps: 2, answerMaxTokens: 8, seed: 1, ttt: { warmupSteps: 0, maxExamples: 4 } },
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
  });

  it('a run cancelled mid-TTT rejects with an AbortError and is recorded as interrupted; the next run works', async () => {
    const long: SelfEditJson = { ...edits[0]!, training: { ...edits[0]!.training, num_train_epochs: 50 } };
    const steps: TttStepEvent[] = [];
    const cancelled = engine.runCandidates(
      { task, selfEdits: [long], tttMaxSteps: 200, answerMaxTokens: 8, seed: 1, ttt: { warmupSteps: 0, maxExamples: 4 } },
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
      { task, selfEdits: [edits[1]!], tttMaxSteps: 2, answerMaxTokens: 8, seed: 1 },
      Comlink.proxy(() => {}),
      'again',
    );
    expect(again.candidates[0]!.steps).toBeGreaterThan(0);
    expect((await engine.info()).model).not.toBeNull();
  });

  it('a ReST-EM round trains the policy on its winners; the policy exports as PEFT files that import back to the same logits', async () => {
    await expect(engine.exportPolicy()).rejects.toThrow(/no policy adapter yet/);
    const events: RunEventLike[] = [];
    const round = await engine.restEmRound(
      { tasks: [task], k: 2, tttMaxSteps: 1, answerMaxTokens: 4, seed: 1, winnerThreshold: -1, policyMaxSteps: 2, ttt: { maxExamples: 4 } },
      Comlink.proxy((e: RunEventLike) => void events.push(e)),
      'rest-em',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(round.winners).toBe(2);
    expect(round.policyLoss).toHaveLength(2);
    for (const l of round.policyLoss) expect(Number.isFinite(l)).toBe(true);
    expect(round.resampled).toHaveLength(1);
    expect(round.resampled[0]).toHaveLength(2);
    expect(events.map((e) => e.type)).toContain('policy-checkpoint-saved');

    const files = await engine.exportPolicy();
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(new TextDecoder().decode(files['adapter_config.json']))).toMatchObject({ peft_type: 'LORA', r: 16 });
    const prompt = 'Once upon a time';
    const withPolicy = await engine.logits(prompt, { policy: true });
    const base = await engine.logits(prompt, { policy: false });
    expect(withPolicy).toHaveLength(512);
    expect(Array.from(withPolicy)).not.toEqual(Array.from(base));
    await engine.importPolicy(files);
    expect(Array.from(await engine.logits(prompt, { policy: true }))).toEqual(Array.from(withPolicy));
  });

  it('times one candidate, split into training and inference', async () => {
    const t = await engine.timeOneCandidate({ shape: 'model', task, tttMaxSteps: 2, answerTokens: 4 }, 'time');
    expect(t.trainSeconds).toBeGreaterThan(0);
    expect(t.inferenceSeconds).toBeGreaterThan(0);
    expect(t.detail).toMatch(/task tiny0001, oracle self-edit: \d+ TTT examples, 2 steps/);
  });

  it('a broken task gives one clear message, as the CLI words it', async () => {
    await expect(engine.parseTask('{"train": [{"input": [[1, 2]], "output": [[1, 10]]}], "test": [{"input": [[1]]}]}')).rejects.toThrow(
      /^pasted task: task "pasted" train\[0\]\.output: cell \[0\]\[1\] is 10, not a colour 0-9$/,
    );
    await expect(engine.parseTask('{"train": [')).rejects.toThrow(/^pasted task: not valid JSON/);
    const ok = await engine.parseTask('{"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}', 'mine');
    expect(ok).toEqual({ id: 'mine', train: [{ input: [[1]], output: [[2]] }], test: [{ input: [[3]], output: [[4]] }] });
  });
});
