import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { bytesFor, roundTo, type DType } from '../../src/gpu/dtype.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { encodeFloats, writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { allocateBlocks, BlockUploader, deviceBindingLimit, planRowBlocks, SplitTensor, weightBlocks, type WeightRef } from '../../src/model/split-weight.ts';
import { packSequences, Transformer } from '../../src/inference/transformer.ts';
import { embed, linear } from '../../src/model/weight-ops.ts';
import { loadWeights, type ModelWeights } from '../../src/model/weights.ts';
import { matmul } from '../../src/ops/matmul.ts';
import { fileSource, readJsonFile } from '../../runtime-node/file-source.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randint, randn, rng, TOL } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';
import { embeddingRef } from '../ref/embedding.ts';
import { matmulRef } from '../ref/matmul.ts';
import { referenceLogits, type Weights } from '../ref/transformer.ts';

/** Split and unsplit runs use the same kernels in the same order per output element: they agree to rounding noise at most. */
const SAME_KERNELS = 1e-12;

/** Asserts the planned ranges cover [0, rows) in order, are balanced, and each block's storage (padded) fits the limit. */
function expectValidPlan(plan: { rowStart: number; rows: number }[], dtype: DType, shape: number[], limit: number): void {
  const rowElems = shape.slice(1).reduce((a, b) => a * b, 1);
  let next = 0;
  for (const { rowStart, rows } of plan) {
    expect(rowStart).toBe(next);
    expect(rows).toBeGreaterThan(0);
    expect(bytesFor(dtype, rows * rowElems), `block at row ${rowStart}`).toBeLessThanOrEqual(limit);
    next += rows;
  }
  expect(next).toBe(shape[0]);
  const sizes = plan.map((b) => b.rows);
  expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
}

describe('row-block planner', () => {
  it('keeps a tensor that fits whole, splits one that does not into the fewest balanced blocks within the limit', () => {
    expect(planRowBlocks('w', 'f32', [512, 64], 512 * 64 * 4)).toEqual([{ rowStart: 0, rows: 512 }]);
    expect(planRowBlocks('w', 'f32', [64], 256)).toEqual([{ rowStart: 0, rows: 64 }]);
    // 256-byte rows, 37 per block at most: 14 blocks of 37 or 36 rows.
    const plan = planRowBlocks('w', 'f32', [512, 64], 37 * 256 + 100);
    expect(plan.length).toBe(14);
    expectValidPlan(plan, 'f32', [512, 64], 37 * 256 + 100);
    expect(plan.map((b) => b.rows)).toEqual([...Array(8).fill(37), ...Array(6).fill(36)]);
    // Qwen2.5-7B's embedding under a 128 MiB binding: 7168-byte rows, at most 18724 per block.
    const qwen = planRowBlocks('model.embed_tokens.weight', 'bf16', [152064, 3584], 128 * 2 ** 20);
    expect(qwen.length).toBe(Math.ceil(152064 / Math.floor(2 ** 27 / 7168)));
    expectValidPlan(qwen, 'bf16', [152064, 3584], 128 * 2 ** 20);
  });

  it('16-bit rows of odd length: blocks start mid-word, each block is padded to whole words within the limit', () => {
    // 33 bf16 = 66 bytes a row; 3 rows = 198 bytes (200 padded) fit 200 but not 199.
    expect(planRowBlocks('w', 'bf16', [37, 33], 200).map((b) => b.rows)).toEqual([...Array(11).fill(3), 2, 2]);
    const tight = planRowBlocks('w', 'bf16', [37, 33], 199);
    expectValidPlan(tight, 'bf16', [37, 33], 199);
    expect(Math.max(...tight.map((b) => b.rows))).toBe(2);
    for (const [dtype, shape, limit] of [
      ['f16', [101, 7], 30],
      ['bf16', [9, 1], 6],
      ['f32', [1000, 3], 4096],
      ['bf16', [7, 5, 3], 64],
    ] as [DType, number[], number][]) {
      expectValidPlan(planRowBlocks('w', dtype, shape, limit), dtype, shape, limit);
    }
  });

  it('a single row over the limit is a clear error naming the tensor and the limit', () => {
    expect(() => planRowBlocks('model.layers.3.mlp.down_proj.weight', 'bf16', [64, 172], 300)).toThrow(
      /weight 'model\.layers\.3\.mlp\.down_proj\.weight' \[64, 172\] bf16: one row takes 344 bytes of storage, over the 300-byte storage binding limit/,
    );
    // 3 bf16 = 6 bytes, but 8 with the padding a lone row needs: over a 7-byte limit.
    expect(() => planRowBlocks('w', 'bf16', [4, 3], 7)).toThrow(/one row takes 8 bytes of storage, over the 7-byte/);
    expect(() => planRowBlocks('w', 'f32', [4, 3], 0)).toThrow(/binding limit must be at least 4 bytes/);
  });

  it('the default limit is the device binding and buffer limits', async () => {
    const ctx = await testContext();
    expect(deviceBindingLimit(ctx)).toBe(Math.min(ctx.limits.maxStorageBufferBindingSize!, ctx.limits.maxBufferSize!));
  });
});

/** Little-endian bytes of values rounded to a dtype. */
const rawBytes = (values: Float32Array, dtype: 'f32' | 'bf16') => encodeFloats(values, dtype === 'f32' ? 'F32' : 'BF16');

/** Reads every block of a weight back, concatenated in row order. */
async function readWeight(ctx: GpuContext, ref: WeightRef): Promise<Float32Array> {
  const parts = await Promise.all(weightBlocks(ref).map((b) => ctx.readF32(b.tensor)));
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Streams `bytes` into the blocks of a fresh split tensor in chunks of the given sizes (cycled). */
async function uploadInChunks(ctx: GpuContext, dtype: DType, shape: number[], limit: number, bytes: Uint8Array, chunkSizes: number[]) {
  const plan = planRowBlocks('w', dtype, shape, limit);
  const blocks = allocateBlocks(ctx, 'w', dtype, shape, plan);
  for (const b of blocks) ctx.fill(b.tensor);
  const uploader = new BlockUploader(ctx, blocks, bytes.byteLength / shape[0]!);
  for (let at = 0, i = 0; at < bytes.byteLength; i++) {
    const n = Math.min(chunkSizes[i % chunkSizes.length]!, bytes.byteLength - at);
    uploader.write(bytes.subarray(at, at + n), at);
    at += n;
  }
  uploader.finish();
  return new SplitTensor('w', dtype, shape, blocks, limit);
}

describe('streaming into row blocks', () => {
  it('chunks of any size straddling blocks that start mid-word land in the right rows', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    // bf16 rows of 5 (10 bytes): blocks of 3 rows start at byte 30, 60, ... (not word-aligned in the stream).
    for (const [dtype, shape, limit, chunks] of [
      ['bf16', [23, 5], 32, [6, 2, 14, 4]],
      ['bf16', [23, 5], 32, [1, 3, 7]],
      ['bf16', [7, 1], 4, [2]],
      ['f32', [19, 3], 40, [12, 8, 4, 100]],
    ] as ['f32' | 'bf16', number[], number, number[]][]) {
      const values = roundTo(randn(shape[0]! * shape[1]!, r), dtype);
      const split = await uploadInChunks(ctx, dtype, shape, limit, rawBytes(values, dtype), chunks);
      expect(split.blocks.length).toBeGreaterThan(1);
      expect(Array.from(await readWeight(ctx, split)), `${dtype} ${shape} limit ${limit} chunks ${chunks} (seed ${seed})`).toEqual(Array.from(values));
      ctx.free(...split.blocks.map((b) => b.tensor));
    }
  });

  it('refuses chunks out of order, too many bytes, and a short stream', async () => {
    const ctx = await testContext();
    const blocks = allocateBlocks(ctx, 'w', 'f32', [4, 2], planRowBlocks('w', 'f32', [4, 2], 16));
    const bytes = new Uint8Array(32);
    const skip = new BlockUploader(ctx, blocks, 8);
    skip.write(bytes.subarray(0, 8), 0);
    expect(() => skip.write(bytes.subarray(12, 16), 12)).toThrow(/chunk at byte 12, expected 8/);
    expect(() => skip.finish()).toThrow(/received 8 of 32 bytes/);
    const long = new BlockUploader(ctx, blocks, 8);
    expect(() => long.write(new Uint8Array(36), 0)).toThrow(/4 bytes past the end of the tensor/);
    ctx.free(...blocks.map((b) => b.tensor));
  });
});

describe('ops over split weights', () => {
  it('linear: y = x·Wᵀ + bias over row blocks equals the unsplit matmul (skinny and tiled kernels, bf16 odd K)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [N, K] = [75, 33];
    const w = roundTo(randn(N * K, r, 0.5), 'bf16'),
      bias = randn(N, r);
    // 66-byte rows; 13 rows per block: boundaries at 13, 26, ... (not multiples of the skinny kernel's 8 columns or the tiles).
    const split = await uploadInChunks(ctx, 'bf16', [N, K], 13 * 66 + 2, rawBytes(w, 'bf16'), [1 << 20]);
    expect(split.blocks.map((b) => b.rows)).toEqual([13, 13, 13, 12, 12, 12]);
    const whole = ctx.upload('bf16', [N, K], w),
      tbias = ctx.upload('f32', [N], bias);
    for (const [M, variant] of [
      [5, 'skinny'],
      [40, 'portable'],
    ] as const) {
      const x = randn(M * K, r);
      const tx = ctx.upload('f32', [M, K], x),
        ySplit = ctx.empty('f32', [M, N]),
        yWhole = ctx.empty('f32', [M, N]);
      ctx.fill(ySplit);
      const rec = ctx.recorder();
      linear(rec, { x: tx, weight: split, y: ySplit, M, bias: tbias, variant });
      matmul(rec, { a: tx, b: whole, c: yWhole, M, N, K, transB: true, bias: tbias, variant });
      rec.submit();
      const got = await ctx.readF32(ySplit);
      expectClose(got, await ctx.readF32(yWhole), SAME_KERNELS, `M=${M} ${variant}: split vs whole (seed ${seed})`);
      expectClose(got, matmulRef(x, w, { M, N, K, transB: true, bias }), TOL.f32, `M=${M} ${variant}: split vs reference (seed ${seed})`);
      ctx.free(tx, ySplit, yWhole);
    }
    ctx.free(whole, tbias, ...split.blocks.map((b) => b.tensor));
  });

  it('embed: a gather over row blocks equals the whole gather; out-of-vocab ids still get NaN rows', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [vocab, dim, tokens] = [41, 7, 60];
    const table = roundTo(randn(vocab * dim, r), 'bf16');
    const split = await uploadInChunks(ctx, 'bf16', [vocab, dim], 5 * 14 + 2, rawBytes(table, 'bf16'), [6]); // 5 rows: 70 bytes, 72 padded
    expect(split.blocks.length).toBe(9);
    const ids = randint(tokens, r, vocab);
    ids[7] = vocab;
    const tids = ctx.upload('u32', [tokens], ids),
      out = ctx.empty('f32', [tokens, dim]);
    ctx.fill(out, 0);
    const rec = ctx.recorder();
    embed(rec, { table: split, ids: tids, out, tokens, dim });
    rec.submit();
    const got = await ctx.readF32(out);
    expect(Array.from(got.subarray(7 * dim, 8 * dim)).every(Number.isNaN), 'the out-of-vocab row is NaN').toBe(true);
    got.fill(0, 7 * dim, 8 * dim);
    const want = embeddingRef(table, ids, vocab, dim).fill(0, 7 * dim, 8 * dim);
    expectClose(got, want, TOL.f32, `out (seed ${seed})`);
    expect(() => embed(rec, { table: split, ids: tids, out, tokens, dim: 8 })).toThrow(/embed: table must be \[vocab, 8\], got \[41, 7\]/);
    ctx.free(tids, out, ...split.blocks.map((b) => b.tensor));
  });
});

/** stories260K: f32, hidden 64, ffn 172, vocab 512, tied embeddings. BOS + "Once upon a time, there was a dog named". */
const PROMPT = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428, 395];

async function loadStories(ctx: GpuContext, maxBindingBytes?: number) {
  const dir = sharedPath('models/stories260K');
  const config = parseModelConfig(await readJsonFile(`${dir}/config.json`));
  const source = fileSource(`${dir}/model.safetensors`);
  const header = await parseSafetensorsHeader(source);
  // A small chunk size: chunks straddle row blocks.
  const weights = await loadWeights(ctx, config, source, header, { maxBindingBytes, chunkBytes: 3000 });
  return { config, weights, model: new Transformer(ctx, config, weights, { matmul: 'f32' }) };
}

function blockRows(weights: ModelWeights, name: string): number[] {
  return weightBlocks(weights.ref(name)).map((b) => b.rows);
}

function expectRowsClose(got: Float32Array[], want: Float32Array[], tol: number, what: string): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) => {
    expectClose(row, want[i]!, tol, `${what} row ${i}`);
  });
}

describe('a model with split weights', () => {
  it('stories260K split into row blocks: logits equal the unsplit model, greedy tokens identical', async () => {
    const ctx = await testContext();
    // 256-byte rows (embedding, gate, up, q, o): at most 37 per block; 688-byte rows (down): at most 13.
    const limit = 37 * 256 + 100;
    const whole = await loadStories(ctx);
    const split = await loadStories(ctx, limit);
    const embedRows = blockRows(split.weights, 'model.embed_tokens.weight');
    expect(embedRows).toEqual([...Array(8).fill(37), ...Array(6).fill(36)]); // odd blocks; boundaries 37, 74, …: no tile multiple
    expect(split.weights.lmHeadRef).toBe(split.weights.ref('model.embed_tokens.weight'));
    expect(blockRows(split.weights, 'model.layers.0.mlp.gate_proj.weight')).toEqual([35, 35, 34, 34, 34]);
    expect(blockRows(split.weights, 'model.layers.4.mlp.up_proj.weight')).toEqual([35, 35, 34, 34, 34]);
    expect(blockRows(split.weights, 'model.layers.2.mlp.down_proj.weight')).toEqual([13, 13, 13, 13, 12]);
    expect(blockRows(split.weights, 'model.layers.0.self_attn.k_proj.weight')).toEqual([32]); // 8 KiB: stays whole
    expect(() => split.weights.get('model.embed_tokens.weight')).toThrow(
      /'model\.embed_tokens\.weight' \[512, 64\] f32 is stored as 14 row blocks \(over the 9572-byte storage binding limit\); use ref/,
    );
    expect(() => split.weights.lmHead).toThrow(/stored as 14 row blocks/);
    for (const name of whole.weights.tensors.keys()) {
      expect(Array.from(await readWeight(ctx, split.weights.ref(name))), name).toEqual(Array.from(await readWeight(ctx, whole.weights.ref(name))));
    }

    // 12 tokens run the skinny kernel, 40 (two packed sequences) the tiled one.
    for (const batch of [{ ids: PROMPT }, packSequences([PROMPT, [...PROMPT, ...PROMPT, ...PROMPT.slice(0, 4)]])]) {
      const got = await split.model.logits(batch);
      const want = await whole.model.logits(batch);
      expectRowsClose(got, want, SAME_KERNELS, `${batch.ids.length} tokens, split vs whole`);
    }
    const greedy = await whole.model.generate(PROMPT, 24);
    expect(await split.model.generate(PROMPT, 24)).toEqual(greedy);
    for (const m of [whole, split]) {
      m.model.dispose();
      m.weights.dispose();
    }
  });

  it('a tiny random Qwen2 (q/k/v biases) in bf16 with an odd hidden size, split everywhere: logits equal unsplit and the f64 reference', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const config: ModelConfig = {
      architecture: 'qwen2',
      hiddenSize: 33,
      intermediateSize: 45,
      numLayers: 2,
      numHeads: 3,
      numKvHeads: 1,
      headDim: 10,
      vocabSize: 37,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      ropeScaling: null,
      tieWordEmbeddings: false,
      attentionBias: true,
      maxPositionEmbeddings: 256,
      bosTokenId: null,
      eosTokenIds: [],
    };
    const bytes = randomBf16Checkpoint(config, rng(seed));
    const source = memorySource(bytes, 'tiny.safetensors');
    const header = await parseSafetensorsHeader(source);
    const ref: Weights = new Map();
    for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
    // 66-byte rows (hidden 33): 3 per block, so blocks start mid-word; 90-byte rows (down, ffn 45): 2 per block.
    const limit = 200;
    const whole = await loadWeights(ctx, config, source, header);
    const split = await loadWeights(ctx, config, source, header, { maxBindingBytes: limit, chunkBytes: 14 });
    await expect(loadWeights(ctx, config, source, header, { maxBindingBytes: 60 })).rejects.toThrow(
      /weight 'model\.embed_tokens\.weight' \[37, 33\] bf16: one row takes 68 bytes of storage, over the 60-byte storage binding limit/,
    );
    expect(blockRows(split, 'model.embed_tokens.weight')).toEqual([...Array(11).fill(3), 2, 2]);
    expect(blockRows(split, 'lm_head.weight')).toEqual([...Array(11).fill(3), 2, 2]);
    expect(blockRows(split, 'model.layers.1.mlp.gate_proj.weight')).toEqual(Array(15).fill(3));
    expect(blockRows(split, 'model.layers.0.self_attn.q_proj.weight')).toEqual(Array(10).fill(3));
    expect(blockRows(split, 'model.layers.0.mlp.down_proj.weight')).toEqual([...Array(16).fill(2), 1]);
    for (const name of whole.tensors.keys()) {
      expect(Array.from(await readWeight(ctx, split.ref(name))), name).toEqual(Array.from(ref.get(name)!));
    }
    const splitModel = new Transformer(ctx, config, split, { matmul: 'f32' });
    const wholeModel = new Transformer(ctx, config, whole, { matmul: 'f32' });
    const r = rng(seed + 1);
    for (const T of [7, 41]) {
      const ids = Array.from({ length: T }, () => Math.floor(r() * config.vocabSize));
      const got = await splitModel.logits({ ids });
      expectRowsClose(got, await wholeModel.logits({ ids }), SAME_KERNELS, `T=${T} split vs whole (seed ${seed})`);
      const want = referenceLogits(config, ref, ids);
      got.forEach((row, i) => {
        expectClose(row, want[i]!, TOL.f32, `T=${T} split vs reference row ${i} (seed ${seed})`);
      });
    }
    expect(await splitModel.generate([3, 1, 4], 10)).toEqual(await wholeModel.generate([3, 1, 4], 10));
    for (const m of [splitModel, wholeModel]) m.dispose();
    whole.dispose();
    split.dispose();
  });
});

/** An in-memory bf16 .safetensors checkpoint with random weights for a config. */
function randomBf16Checkpoint(config: ModelConfig, r: () => number): Uint8Array {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads: nh, numKvHeads: nkv, vocabSize: v } = config;
  const tensors: [string, number[], number, number][] = [['model.embed_tokens.weight', [v, h], 1, 0]];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      [`${p}.input_layernorm.weight`, [h], 0.2, 1],
      [`${p}.post_attention_layernorm.weight`, [h], 0.2, 1],
      [`${p}.self_attn.q_proj.weight`, [nh * d, h], 0.3, 0],
      [`${p}.self_attn.k_proj.weight`, [nkv * d, h], 0.3, 0],
      [`${p}.self_attn.v_proj.weight`, [nkv * d, h], 0.3, 0],
      [`${p}.self_attn.q_proj.bias`, [nh * d], 0.5, 0],
      [`${p}.self_attn.k_proj.bias`, [nkv * d], 0.5, 0],
      [`${p}.self_attn.v_proj.bias`, [nkv * d], 0.5, 0],
      [`${p}.self_attn.o_proj.weight`, [h, nh * d], 0.3, 0],
      [`${p}.mlp.gate_proj.weight`, [ff, h], 0.3, 0],
      [`${p}.mlp.up_proj.weight`, [ff, h], 0.3, 0],
      [`${p}.mlp.down_proj.weight`, [h, ff], 0.3, 0],
    );
  }
  tensors.push(['model.norm.weight', [h], 0.2, 1], ['lm_head.weight', [v, h], 0.5, 0]);
  return writeSafetensors(
    tensors.map(([name, shape, scale, shift]) => ({
      name,
      dtype: 'BF16',
      shape,
      data: randn(
        shape.reduce((x, y) => x * y, 1),
        r,
        scale,
      ).map((x) => x + shift),
    })),
  );
}
