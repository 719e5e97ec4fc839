import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonSchemaConstraint } from '../../src/constrain/index.ts';
import { generateBatch, generateText, type SamplingOptions } from '../../src/generate/generate.ts';
import { KvCache } from '../../src/model/kv-cache.ts';
import { loadModelDir, type LoadedModel } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';

const PROMPTS = ['Once upon a time, there was a dog named', 'Lily', 'The sun was hot. Tom and his mom went to the park to play with a ball', 'One day'];

describe('generateBatch (stories260K)', () => {
  let model: LoadedModel;
  let prompts: number[][];
  beforeAll(async () => {
    // A small prefill chunk so the longest prompt is prefilled in pieces.
    model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32', prefillChunk: 8 });
    prompts = PROMPTS.map((p) => model.tokenizer.encode(p));
  });
  afterAll(() => model?.dispose());

  /** Each prompt alone (generateText, its own stream) vs all together with at most maxBatch in the cache. */
  async function expectBatchEqualsAlone(opts: SamplingOptions & { streams?: number[] }, maxBatch: number) {
    const { transformer, tokenizer } = model;
    const pieces: string[][] = prompts.map(() => []);
    const finished: number[] = [];
    const batch = await generateBatch(transformer, tokenizer, {
      ...opts,
      prompts,
      maxBatch,
      onText: (i, p) => pieces[i]!.push(p),
      onDone: (i) => finished.push(i),
    });
    for (const [i, promptIds] of prompts.entries()) {
      const { streams, ...sampling } = opts;
      const alone = await generateText(transformer, tokenizer, { ...sampling, promptIds, stream: streams?.[i] ?? i });
      expect(batch[i], `prompt ${i} (${JSON.stringify(opts)})`).toEqual(alone);
      expect(pieces[i]!.join('')).toBe(alone.text);
    }
    expect([...finished].sort()).toEqual(prompts.map((_, i) => i));
    return batch;
  }

  it('greedy: prompts of different lengths together equal each alone, with slots refilled as sequences end', async () => {
    const out = await expectBatchEqualsAlone({ maxNewTokens: 14, stopIds: [], stopStrings: ['.'] }, 2);
    // The stop string ends some sequences early, so later prompts start while others are still decoding.
    expect(new Set(out.map((o) => o.ids.length)).size).toBeGreaterThan(1);
  });

  it('an aborted signal stops generation between steps with an AbortError, frees the cache, and the next call generates as before', async () => {
    const { transformer, tokenizer } = model;
    const ctx = transformer.ctx;
    const opts = { prompts, maxNewTokens: 12, stopIds: [], maxBatch: 2 };
    const whole = await generateBatch(transformer, tokenizer, opts);
    ctx.pool.trim();
    const held = ctx.pool.allocatedBytes;
    const controller = new AbortController();
    const pieces: string[] = [];
    const aborted = generateBatch(transformer, tokenizer, {
      ...opts,
      signal: controller.signal,
      onText: (_, piece) => {
        pieces.push(piece);
        if (pieces.length === 3) controller.abort();
      },
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    // At most the step in flight when the abort came (pipelined decoding) adds its pieces.
    expect(pieces.length).toBeLessThan(3 + 2 * prompts.length);
    ctx.pool.trim();
    expect(ctx.pool.allocatedBytes, 'the KV cache and token buffers are freed').toBe(held);
    expect(await generateBatch(transformer, tokenizer, opts)).toEqual(whole);
    await expect(generateBatch(transformer, tokenizer, { ...opts, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('sampling: each sequence draws from its own stream, so batching does not change the samples', async () => {
    const seed = freshSeed();
    await expectBatchEqualsAlone({ maxNewTokens: 12, temperature: 1, topP: 0.9, seed, stopIds: [] }, 3);
    await expectBatchEqualsAlone({ maxNewTokens: 10, temperature: 0.8, topK: 20, seed, stopIds: [], streams: [9, 9, 3, 0] }, 4);
  });

  it('pipelined decoding (the default) gives exactly what waiting for every step gives, and submits most steps from GPU-side tokens', async () => {
    const { transformer, tokenizer } = model;
    const seed = freshSeed();
    const launches = { host: 0, device: 0 };
    const original = transformer.launchStep.bind(transformer);
    transformer.launchStep = (cache, entries, choose, deviceIds) => {
      launches[deviceIds ? 'device' : 'host']++;
      return original(cache, entries, choose, deviceIds);
    };
    try {
      for (const opts of [
        { maxNewTokens: 14, stopIds: [] as number[], stopStrings: ['.'], maxBatch: 2 }, // ends at different steps; slots refilled
        { maxNewTokens: 12, temperature: 1, topP: 0.9, seed, maxBatch: 3 }, // sampling; EOS may end some
        { maxNewTokens: 2, stopIds: [] as number[] }, // the shortest that pipelines
        { maxNewTokens: 1, stopIds: [] as number[] }, // nothing to pipeline
      ]) {
        const texts: string[][] = prompts.map(() => []);
        launches.host = launches.device = 0;
        const piped = await generateBatch(transformer, tokenizer, { ...opts, prompts, onText: (i, p) => texts[i]!.push(p) });
        const pipedLaunches = { ...launches };
        const waited = await generateBatch(transformer, tokenizer, { ...opts, prompts, pipeline: false });
        expect(piped, `${JSON.stringify(opts)} (seed ${seed})`).toEqual(waited);
        expect(texts.map((t) => t.join(''))).toEqual(waited.map((w) => w.text));
        expect(launches.device, 'pipeline: false never launches from the GPU').toBe(pipedLaunches.device);
        if (opts.maxNewTokens === 1) expect(pipedLaunches.device).toBe(0);
        else expect(pipedLaunches.device, `${JSON.stringify(opts)}: ${JSON.stringify(pipedLaunches)}`).toBeGreaterThan(0);
        if (opts.maxNewTokens >= 12) expect(pipedLaunches.device).toBeGreaterThan(pipedLaunches.host);
      }
    } finally {
      transformer.launchStep = original;
    }
  });

  it('a KV cache over the binding limit gets fewer slots (the rest wait), and the same output', async () => {
    const { transformer, tokenizer } = model;
    const opts = { maxNewTokens: 10, stopIds: [] as number[] };
    const wide = await generateBatch(transformer, tokenizer, { ...opts, prompts });
    const maxT = Math.max(...prompts.map((p) => p.length)) + opts.maxNewTokens;
    const limits = transformer.ctx.limits;
    const saved = limits.maxStorageBufferBindingSize!;
    const one = transformer.createCache(maxT, 1);
    const slotBytes = one.slotRows * one.rowElems * 4; // one slot of one layer's keys
    one.dispose();
    const created: number[] = [];
    const createCache = transformer.createCache.bind(transformer);
    transformer.createCache = (t, slots) => {
      created.push(slots ?? 1);
      return createCache(t, slots);
    };
    try {
      limits.maxStorageBufferBindingSize = Math.ceil(slotBytes * 2.5); // room for two slots of maxT positions
      expect(KvCache.slotsThatFit(transformer.ctx, transformer.config, maxT)).toBe(2);
      expect(await generateBatch(transformer, tokenizer, { ...opts, prompts })).toEqual(wide);
      limits.maxStorageBufferBindingSize = Math.floor(slotBytes / 2); // not even one: the cache says so
      await expect(generateBatch(transformer, tokenizer, { ...opts, prompts })).rejects.toThrow(/over this device's binding limit/);
    } finally {
      limits.maxStorageBufferBindingSize = saved;
      delete (transformer as { createCache?: unknown }).createCache;
    }
    expect(created).toEqual([2, 1]);
  });

  it('samples of one prompt on different streams differ; the same stream repeats', async () => {
    const { transformer, tokenizer } = model;
    const seed = freshSeed();
    const same = Array.from({ length: 6 }, () => prompts[0]!);
    const out = await generateBatch(transformer, tokenizer, { prompts: same, maxNewTokens: 16, temperature: 1, seed, stopIds: [] });
    expect(new Set(out.map((o) => o.text)).size, `seed ${seed}`).toBeGreaterThan(1);
    const again = await generateBatch(transformer, tokenizer, {
      prompts: same,
      maxNewTokens: 16,
      temperature: 1,
      seed,
      stopIds: [],
      streams: [0, 0, 1, 1, 2, 2],
    });
    expect(again[0]).toEqual(out[0]);
    expect(again[1]).toEqual(out[0]);
    expect(again[3]).toEqual(out[1]);
  });

  it('rejects bad batch options', async () => {
    const { transformer, tokenizer } = model;
    await expect(generateBatch(transformer, tokenizer, { prompts: [], maxNewTokens: 1 })).rejects.toThrow(/no prompts/);
    await expect(generateBatch(transformer, tokenizer, { prompts: [[1], []], maxNewTokens: 1 })).rejects.toThrow(/prompt 1 has no tokens/);
    await expect(generateBatch(transformer, tokenizer, { prompts: [[1]], maxNewTokens: 1, streams: [1, 2] })).rejects.toThrow(/one u32 per prompt/);
    await expect(generateBatch(transformer, tokenizer, { prompts: [[1]], maxNewTokens: 1, maxBatch: 0 })).rejects.toThrow(/maxBatch/);
    await expect(generateBatch(transformer, tokenizer, { prompts: [[1, 999]], maxNewTokens: 1 })).rejects.toThrow(/token id 999 outside/);
  });
});

describe('generateBatch with JSON-schema constraints (stories260K)', () => {
  it('every sequence of a batch is a valid document, and equals its one-at-a-time generation', async () => {
    const model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32' });
    try {
      const { transformer, tokenizer } = model;
      const schema = {
        type: 'object',
        properties: {
          who: { enum: ['Tom', 'Lily'] },
          age: { type: 'integer', minimum: 1, maximum: 9 },
          toys: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 2 },
        },
        required: ['who', 'age', 'toys'],
      };
      const constraint = JsonSchemaConstraint.fromTokenizer(schema, tokenizer, { vocabSize: transformer.config.vocabSize });
      const prompts = ['Once upon a time', 'Tom had a', 'Lily'].map((p) => tokenizer.encode(p));
      const seed = freshSeed();
      const opts = { maxNewTokens: 60, temperature: 1, seed };
      const batch = await generateBatch(transformer, tokenizer, { ...opts, prompts, maxBatch: 2, constraint: () => constraint.sequence() });
      for (const [i, out] of batch.entries()) {
        expect(out.finishReason, `seed ${seed}: ${out.text}`).toBe('stop');
        const doc = JSON.parse(out.text) as { who: string; age: number; toys: string[] };
        expect(['Tom', 'Lily']).toContain(doc.who);
        expect(Number.isInteger(doc.age) && doc.age >= 1 && doc.age <= 9).toBe(true);
        expect(doc.toys.length).toBeLessThanOrEqual(2);
        const alone = await generateText(transformer, tokenizer, { ...opts, promptIds: prompts[i]!, stream: i, constraint: constraint.sequence() });
        expect(out, `seed ${seed}`).toEqual(alone);
      }
    } finally {
      model.dispose();
    }
  });
});
