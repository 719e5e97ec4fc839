/**
 * The dispatch census (bench/census.ts) and the counters it reads (src/gpu/counters.ts). The counters are checked
 * against work whose cost is known exactly (N dispatches, n bytes uploaded, one readback), and against an
 * independent count of every dispatch the census records (a spy on CommandRecorder.dispatch). The census of a
 * tiny model of the Llama-3.2-1B structure is taken at 2, 3 and 4 layers: each added layer must add the same
 * dispatches, and nothing else may change, so the counts come from the layers the step really records.
 */
import { describe, expect, it } from 'vitest';
import { censusCases, decodeWeightBytes, CENSUS_CASES, type CensusCase, type CensusModel } from '../../bench/census.ts';
import { SFT_SETUPS } from '../../bench/sft.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { CommandRecorder, type Dispatch } from '../../src/gpu/recorder.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { weightBlocks } from '../../src/model/split-weight.ts';
import { syntheticCheckpoint } from '../../src/model/synthetic-checkpoint.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { residualAdd } from '../../src/ops/residual.ts';
import { testContext } from '../harness/context.ts';

/** A tiny model of the Llama-3.2-1B architecture (tied head, GQA 2:1); even element counts, so no bf16 padding. */
const TINY = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 32,
  intermediate_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  vocab_size: 96,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  tie_word_embeddings: true,
  max_position_embeddings: 1024,
};

function tinyModel(layers: number): CensusModel {
  const hf = { ...TINY, num_hidden_layers: layers };
  const targets = SFT_SETUPS['Llama-3.2-1B']!.targets;
  // 64 tokens per adapter: over the skinny kernel's 32 rows, so mixed precision takes the scaled f16 kernel.
  return { name: 'tiny', real: hf, census: hf, lora: { targets, rank: 4, alpha: 8 }, sftTokens: { real: 64, census: 64 } };
}

/** Every dispatch `work` records with a non-empty grid, counted apart from the counters. */
async function spyDispatches<T>(work: () => Promise<T>): Promise<{ result: T; recorded: number }> {
  let recorded = 0;
  const dispatch = CommandRecorder.prototype.dispatch;
  CommandRecorder.prototype.dispatch = function (this: CommandRecorder, d: Dispatch) {
    const [x, y = 1, z = 1] = d.workgroups;
    if (x * y * z > 0) recorded++;
    return dispatch.call(this, d);
  };
  try {
    return { result: await work(), recorded };
  } finally {
    CommandRecorder.prototype.dispatch = dispatch;
  }
}

function addsInPlace(ctx: GpuContext, n: number, elems: number) {
  const a = ctx.upload('f32', [elems], new Float32Array(elems).fill(1));
  const b = ctx.upload('f32', [elems], new Float32Array(elems).fill(2));
  const rec = ctx.recorder();
  const submit = () => {
    for (let i = 0; i < n; i++) residualAdd(rec, { a, b });
    rec.submit();
  };
  return { a, b, rec, submit };
}

describe('GpuContext counters', () => {
  it('count the dispatches, submit, bind groups and parameter bytes of a recorder; an identical second submission creates nothing', async () => {
    const ctx = await testContext();
    const N = 7;
    const { a, b, rec, submit } = addsInPlace(ctx, N, 300);
    try {
      const before = ctx.counters.snapshot();
      submit();
      const first = ctx.counters.since(before);
      expect(first.dispatches).toBe(N);
      expect(first.submits).toBe(1);
      // Each dispatch has its own parameter slot, so its own bind group; one uniform buffer holds the parameters.
      expect(first.bindGroupsCreated).toBe(N);
      expect(first.buffersCreated).toBe(1);
      expect(first.pipelinesCreated).toBeLessThanOrEqual(1);
      expect(first.bytesUploaded).toBeGreaterThan(0);
      expect(first.hostWaits).toBe(0);

      const again = ctx.counters.snapshot();
      submit();
      const second = ctx.counters.since(again);
      expect(second).toMatchObject({ dispatches: N, submits: 1, bindGroupsCreated: 0, pipelinesCreated: 0, buffersCreated: 0, hostWaits: 0 });
      expect(second.bytesUploaded).toBe(first.bytesUploaded);
      expect(second.recordMs).toBeGreaterThanOrEqual(0);
      await ctx.sync();
      expect(Array.from(await ctx.read(a)).slice(0, 3)).toEqual([1 + 4 * N, 1 + 4 * N, 1 + 4 * N]);
    } finally {
      rec.dispose();
      ctx.free(a, b);
    }
  });

  it('do not count a dispatch with an empty grid', async () => {
    const ctx = await testContext();
    const rec = ctx.recorder();
    const a = ctx.empty('f32', [0]);
    const b = ctx.empty('f32', [0]);
    try {
      const before = ctx.counters.snapshot();
      residualAdd(rec, { a, b });
      rec.submit();
      expect(ctx.counters.since(before)).toMatchObject({ dispatches: 0, submits: 0 });
    } finally {
      rec.dispose();
      ctx.free(a, b);
    }
  });

  it('count uploaded and read-back bytes, and each wait for the GPU', async () => {
    const ctx = await testContext();
    const n = 1000;
    const before = ctx.counters.snapshot();
    const t = ctx.upload('f32', [n], new Float32Array(n).fill(3));
    expect(ctx.counters.since(before).bytesUploaded).toBe(4 * n);
    try {
      const beforeRead = ctx.counters.snapshot();
      const values = await ctx.read(t);
      expect(values[n - 1]).toBe(3);
      expect(ctx.counters.since(beforeRead)).toMatchObject({ bytesReadBack: 4 * n, submits: 1, hostWaits: 1, dispatches: 0, bytesUploaded: 0 });
      const beforeSync = ctx.counters.snapshot();
      await ctx.sync();
      expect(ctx.counters.since(beforeSync)).toMatchObject({ hostWaits: 1, submits: 0 });
    } finally {
      ctx.free(t);
    }
  });

  it('count a pool buffer once: a released buffer of the same size class is reused without a new one', async () => {
    const ctx = await testContext();
    // An odd size class no other test here uses, so the pool has no free buffer of it yet.
    const shape = [12345];
    const before = ctx.counters.snapshot();
    const t = ctx.empty('f32', shape);
    expect(ctx.counters.since(before).buffersCreated).toBe(1);
    ctx.free(t);
    const again = ctx.counters.snapshot();
    const u = ctx.empty('f32', shape);
    expect(ctx.counters.since(again).buffersCreated).toBe(0);
    ctx.free(u);
  });
});

describe('bench census', () => {
  it('counts every dispatch the cases record, and each added layer adds the same dispatches and nothing else', { timeout: 900_000 }, async () => {
    const ctx = await testContext();
    const byLayers = new Map<number, CensusCase[]>();
    for (const layers of [2, 3, 4]) {
      const before = ctx.counters.snapshot();
      const { result, recorded } = await spyDispatches(() => censusCases(ctx, tinyModel(layers), { cases: CENSUS_CASES, log: () => {} }));
      expect(ctx.counters.since(before).dispatches, `${layers} layers: every recorded dispatch is counted once`).toBe(recorded);
      expect(result.map((c) => c.name)).toEqual([...CENSUS_CASES]);
      byLayers.set(layers, result);
    }
    for (const [i, name] of CENSUS_CASES.entries()) {
      const [l2, l3, l4] = [2, 3, 4].map((l) => byLayers.get(l)![i]!);
      const perLayer = l3!.dispatches - l2!.dispatches;
      expect(perLayer, `${name}: a layer adds dispatches`).toBeGreaterThan(0);
      expect(l4!.dispatches - l3!.dispatches, `${name}: every layer adds the same dispatches`).toBe(perLayer);
      expect(l4!.dispatches - l2!.dispatches, `${name}: 2 -> 4 layers`).toBe(2 * perLayer);
      for (const c of [l2!, l3!, l4!]) {
        expect(c.pipelinesCreated, `${name}, ${c.layers} layers: a steady-state step compiles nothing`).toBe(0);
        expect(c.submits, `${name}: submits do not depend on the layer count`).toBe(l2!.submits);
        expect(c.hostWaits, `${name}: host waits do not depend on the layer count`).toBe(l2!.hostWaits);
        expect(c.hostWaits, `${name}: a step waits for its results`).toBeGreaterThan(0);
        const byKernel = Object.values(c.dispatchesByKernel).reduce((x, y) => x + y, 0);
        expect(byKernel, `${name}: the step's recorded dispatches are the counted ones`).toBe(c.dispatches);
      }
    }
    // Adapters add their products to every adapted projection of every layer.
    const k5 = (l: number) => byLayers.get(l)!.find((c) => c.name === 'decode-b1-k5')!.dispatches;
    const b1 = (l: number) => byLayers.get(l)!.find((c) => c.name === 'decode-b1')!.dispatches;
    expect(k5(3) - k5(2)).toBeGreaterThan(b1(3) - b1(2));
  });

  it('computes the weight bytes a decode step reads from the structure: the bytes loadWeights stores', async () => {
    const ctx = await testContext();
    for (const tied of [true, false]) {
      const config = parseModelConfig({ ...TINY, num_hidden_layers: 2, tie_word_embeddings: tied });
      const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
      const weights = await loadWeights(ctx, config, source, header);
      try {
        let stored = 0;
        for (const ref of weights.tensors.values()) for (const b of weightBlocks(ref)) stored += b.tensor.byteLength;
        const embedding = config.vocabSize * config.hiddenSize * 2;
        const rows = 3;
        // An untied table is only gathered from (one row per sequence); a tied one is the head and read whole.
        const read = stored - (tied ? 0 : embedding) + rows * config.hiddenSize * 2;
        expect(decodeWeightBytes(config, rows, null, 0), `tied ${tied}`).toBe(read);
        const lora = { targets: SFT_SETUPS['Llama-3.2-1B']!.targets, rank: 4 };
        const perAdapter = 4 * 4 * 2 * (32 + 32 + (32 + 16) + 2 * (32 + 64) + (64 + 32));
        expect(decodeWeightBytes(config, rows, lora, 5) - read).toBe(5 * perAdapter);
      } finally {
        weights.dispose();
      }
    }
  });
});
