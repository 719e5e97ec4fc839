/**
 * The worker engine (runtime-browser/engine/) in headless Chromium: a module Worker running worker.ts, driven through
 * comlink as a page drives it, on the bundled stories260K (examples/models/stories260K, served by the test's Vite
 * server) and examples/arc-tiny. It loads the model with byte-accurate progress, samples K = 2 schema-constrained
 * self-edits streaming their tokens (12 tokens: SwiftShader compiles a pipeline per new shape, which dominates the
 * time; a whole self-edit of stories260K is ~230 tokens), plans a self-edit, round-trips a policy adapter through
 * PEFT files (the same logits), and refuses a broken task with one message. Training and scoring: engine-run.test.ts.
 * Browser only: the engine lives in a Web Worker of a page (the Node and Deno configs leave this file out).
 */
import * as Comlink from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArcTaskView, LoadProgress } from '../../runtime-browser/engine/api.ts';
import type { SealWorker } from '../../runtime-browser/engine/client.ts';
import { resolveLoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { serializePeftAdapter } from '../../src/lora/peft-format.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { MODEL, MODEL_FILES, selfEdit, startEngine } from './engine-harness.ts';

/** The schema's JSON as the constraint must start it (its keys in schema order, no spaces). */
const SCHEMA_START = '{"data_generation":{"use_basic_augmentations":';

describe('the worker engine (stories260K, tiny ARC tasks)', () => {
  let worker: Worker;
  let engine: SealWorker;
  let task: ArcTaskView;
  const edits = [selfEdit(1e-3, 2), selfEdit(1e-4, 1, false)];

  beforeAll(async () => {
    ({ worker, engine, task } = await startEngine());
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

  it('samples K = 2 self-edits under the schema, streaming each one token by token', async () => {
    const streamed = new Map<number, string[]>();
    const samples = await engine.sampleSelfEdits(
      { task, k: 2, seed: 1, maxNewTokens: 12 },
      Comlink.proxy((candidate: number, text: string) => {
        streamed.set(candidate, [...(streamed.get(candidate) ?? []), text]);
      }),
      'sample',
    );
    expect(samples).toHaveLength(2);
    // Callbacks arrive as messages: let the last ones in.
    await new Promise((r) => setTimeout(r, 100));
    for (const [i, s] of samples.entries()) {
      // 12 tokens cut every sample short (a whole one is ~230 tokens here): the constraint shows in how it starts.
      expect(SCHEMA_START.startsWith(s.text) || s.text.startsWith(SCHEMA_START), s.text).toBe(true);
      expect(s.text.length).toBeGreaterThan(8);
      expect(s.selfEdit).toBeNull();
      expect(s.error).toMatch(/\(cut at 12 new tokens\)$/);
      const pieces = streamed.get(i) ?? [];
      expect(pieces.length, `candidate ${i} streamed`).toBeGreaterThan(3);
      expect(pieces.at(-1)).toBe(s.text);
    }
    const plan = await engine.planSelfEdit(task, edits[0]!, { tttMaxSteps: 2 });
    expect(plan.examples).toBeGreaterThan(0);
    expect(plan.steps).toBe(2);
    const bad = { ...edits[0]!, training: { ...edits[0]!.training, strategy: 'sometimes' as never } };
    await expect(engine.planSelfEdit(task, bad, { tttMaxSteps: 2 })).rejects.toThrow(
      /invalid self-edit: training\.strategy must be "train_using_all_tokens" or "train_using_output_tokens", got "sometimes"/,
    );
  });

  it('a policy adapter imports from PEFT files, changes the logits, and exports to the same weights', async () => {
    await expect(engine.exportPolicy()).rejects.toThrow(/no policy adapter yet/);
    const config = parseModelConfig(await (await fetch(`${(MODEL as { url: string }).url}/config.json`)).json());
    const weights = initLoraWeights(config, resolveLoraConfig({ rank: 2, alpha: 4, targets: ['q_proj', 'v_proj'] }), { seed: 7, b: 'random' });
    const peft = serializePeftAdapter(weights, { baseModel: null });
    await engine.importPolicy({ 'adapter_config.json': new TextEncoder().encode(peft.config), 'adapter_model.safetensors': peft.weights });
    const prompt = 'Once upon a time';
    const withPolicy = await engine.logits(prompt, { policy: true });
    const base = await engine.logits(prompt, { policy: false });
    expect(withPolicy).toHaveLength(512);
    expect(Array.from(withPolicy)).not.toEqual(Array.from(base));

    const files = await engine.exportPolicy();
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(new TextDecoder().decode(files['adapter_config.json']))).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4 });
    expect(files['adapter_model.safetensors']).toEqual(peft.weights);
    await engine.importPolicy(files);
    expect(Array.from(await engine.logits(prompt, { policy: true }))).toEqual(Array.from(withPolicy));
    await expect(engine.importPolicy({ 'adapter_config.json': files['adapter_config.json']! })).rejects.toThrow(
      /needs adapter_config\.json and adapter_model\.safetensors/,
    );
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
