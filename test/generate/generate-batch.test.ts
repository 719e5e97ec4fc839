import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBatch, generateText, type SamplingOptions } from '../../src/generate/generate.ts';
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
      ...opts, prompts, maxBatch, onText: (i, p) => pieces[i]!.push(p), onDone: (i) => finished.push(i),
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

  it('sampling: each sequence draws from its own stream, so batching does not change the samples', async () => {
    const seed = freshSeed();
    await expectBatchEqualsAlone({ maxNewTokens: 12, temperature: 1, topP: 0.9, seed, stopIds: [] }, 3);
    await expectBatchEqualsAlone({ maxNewTokens: 10, temperature: 0.8, topK: 20, seed, stopIds: [], streams: [9, 9, 3, 0] }, 4);
  });

  it('samples of one prompt on different streams differ; the same stream repeats', async () => {
    const { transformer, tokenizer } = model;
    const seed = freshSeed();
    const same = Array.from({ length: 6 }, () => prompts[0]!);
    const out = await generateBatch(transformer, tokenizer, { prompts: same, maxNewTokens: 16, temperature: 1, seed, stopIds: [] });
    expect(new Set(out.map((o) => o.text)).size, `seed ${seed}`).toBeGreaterThan(1);
    const again = await generateBatch(transformer, tokenizer, { prompts: same, maxNewTokens: 16, temperature: 1, seed, stopIds: [], streams: [0, 0, 1, 1, 2, 2] });
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
