/** LoRA config validation, module geometry, PEFT-style seeded initialisation, and adapters on the GPU. */
import { describe, expect, it } from 'vitest';
import { LoraAdapter, type LoraTensors } from '../../src/lora/adapter.ts';
import { LORA_TARGETS, loraModules, loraParameterCount, loraScale, resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed } from '../harness/numerics.ts';
import { LLAMA_GQA } from '../train/tiny-model.ts';

/** Llama-3.2-1B's shapes (the SEAL ARC base model). */
const LLAMA_1B: ModelConfig = {
  ...LLAMA_GQA,
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 16,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
};

describe('LoRA config', () => {
  it('resolves targets to canonical order, deduplicated, with scale alpha/r or alpha/sqrt(r)', () => {
    const c = resolveLoraConfig({ targets: ['down_proj', 'q_proj', 'v_proj', 'q_proj'], rank: 16, alpha: 32 });
    expect(c).toEqual({ targets: ['q_proj', 'v_proj', 'down_proj'], rank: 16, alpha: 32, rsLora: false, dropout: 0, scale: 2 });
    expect(resolveLoraConfig({ targets: ['k_proj'], rank: 16, alpha: 32, rsLora: true, dropout: 0 }).scale).toBe(8);
    expect(loraScale(16, 128)).toBe(0.125); // SEAL's ARC inner loop: r = 128, alpha = 16
    expect(resolveLoraConfig(resolveLoraConfig({ targets: [...LORA_TARGETS], rank: 3, alpha: 1 })).targets).toEqual([...LORA_TARGETS]);
  });

  it('rejects bad configs with clear errors', () => {
    const ok: LoraConfig = { targets: ['q_proj'], rank: 8, alpha: 16 };
    expect(() => resolveLoraConfig({ ...ok, rank: 0 })).toThrow(/LoRA config: rank must be a positive integer, got 0/);
    expect(() => resolveLoraConfig({ ...ok, rank: 2.5 })).toThrow(/rank must be a positive integer, got 2.5/);
    expect(() => resolveLoraConfig({ ...ok, targets: ['q_proj', 'qkv_proj'] })).toThrow(
      /unknown target module "qkv_proj"; supported: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/,
    );
    expect(() => resolveLoraConfig({ ...ok, targets: [] })).toThrow(/targets must be a non-empty list/);
    expect(() => resolveLoraConfig({ ...ok, alpha: 0 })).toThrow(/alpha must be a finite positive number, got 0/);
    expect(() => resolveLoraConfig({ ...ok, alpha: NaN })).toThrow(/alpha must be a finite positive number/);
    expect(() => resolveLoraConfig({ ...ok, dropout: 0.05 })).toThrow(/dropout 0.05 is not supported: .* dropout must be 0/);
  });

  it("lists the adapted projections with their [out, in] sizes; Llama-3.2-1B at SEAL's ARC settings has 76.5M parameters", () => {
    const mods = loraModules(LLAMA_GQA, ['down_proj', 'k_proj', 'o_proj']);
    expect(mods.map((m) => [m.path, m.outFeatures, m.inFeatures])).toEqual(
      [0, 1].flatMap((l) => [
        [`model.layers.${l}.self_attn.k_proj`, 18, 34],
        [`model.layers.${l}.self_attn.o_proj`, 34, 54],
        [`model.layers.${l}.mlp.down_proj`, 34, 50],
      ]),
    );
    const arc = resolveLoraConfig({ targets: ['q_proj', 'v_proj', 'gate_proj', 'down_proj', 'up_proj'], rank: 128, alpha: 16 });
    expect(loraParameterCount(LLAMA_1B, arc)).toBe(76_546_048);
  });
});

describe('LoRA initialisation', () => {
  it('A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform_ with a = sqrt(5)), B = 0, reproducible from the seed', () => {
    const seed = freshSeed();
    const config = resolveLoraConfig({ targets: ['q_proj', 'down_proj'], rank: 16, alpha: 16 });
    const w = initLoraWeights(LLAMA_1B, config, { seed });
    const q = w.modules[0]!,
      down = w.modules[1]!;
    expect([q.path, down.path]).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj']);
    for (const m of [q, down]) {
      const bound = 1 / Math.sqrt(m.inFeatures);
      expect(m.a.length).toBe(16 * m.inFeatures);
      expect(m.b.every((v) => v === 0)).toBe(true);
      let max = 0,
        sum = 0,
        sq = 0;
      for (const v of m.a) {
        max = Math.max(max, Math.abs(v));
        sum += v;
        sq += v * v;
      }
      const n = m.a.length;
      expect(max, `seed ${seed}`).toBeLessThanOrEqual(Math.fround(bound));
      expect(max, `seed ${seed}`).toBeGreaterThan(0.99 * bound);
      expect(Math.abs(sum / n), `mean (seed ${seed})`).toBeLessThan((4 * bound) / Math.sqrt(3 * n)); // 4 sigma
      expect(sq / n / ((bound * bound) / 3), `variance ratio (seed ${seed})`).toBeCloseTo(1, 1);
    }
    const again = initLoraWeights(LLAMA_1B, config, { seed });
    expect(again.modules[1]!.a).toEqual(down.a);
    expect(initLoraWeights(LLAMA_1B, config, { seed: seed + 1 }).modules[0]!.a).not.toEqual(q.a);
  });

  it('gives each (layer, projection, matrix) its own stream: adding targets leaves the others unchanged; random B is bounded by 1/sqrt(r)', () => {
    const seed = freshSeed();
    const few = initLoraWeights(LLAMA_GQA, resolveLoraConfig({ targets: ['v_proj'], rank: 4, alpha: 8 }), { seed, b: 'random' });
    const all = initLoraWeights(LLAMA_GQA, resolveLoraConfig({ targets: [...LORA_TARGETS], rank: 4, alpha: 8 }), { seed, b: 'random' });
    for (const m of few.modules) {
      const same = all.modules.find((x) => x.path === m.path)!;
      expect(same.a).toEqual(m.a);
      expect(same.b).toEqual(m.b);
      expect(m.b.every((v) => Math.abs(v) <= 0.5) && m.b.some((v) => v !== 0)).toBe(true);
    }
    expect(all.modules[7]!.path).toBe('model.layers.1.self_attn.q_proj');
    expect(all.modules[7]!.a).not.toEqual(all.modules[0]!.a); // layer 1's stream is not layer 0's
    expect(() => initLoraWeights(LLAMA_GQA, few.config, { seed: -1 })).toThrow(/seed must be a non-negative safe integer, got -1/);
  });
});

describe('LoRA adapter on the GPU', () => {
  it('uploads, downloads, reloads in place and makes zeroed gradients', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const config = { targets: ['o_proj', 'gate_proj'], rank: 3, alpha: 6 };
    const adapter = LoraAdapter.create(ctx, LLAMA_GQA, config, { seed, b: 'random' });
    const host = initLoraWeights(LLAMA_GQA, resolveLoraConfig(config), { seed, b: 'random' });
    expect(adapter.scale).toBe(2);
    expect(adapter.get(1, 'gate_proj')!.a.shape).toEqual([3, 34]);
    expect(adapter.get(1, 'gate_proj')!.b.shape).toEqual([50, 3]);
    expect(adapter.get(0, 'q_proj')).toBeUndefined();
    const down = await adapter.download();
    down.modules.forEach((m, i) => {
      expect(m.a).toEqual(host.modules[i]!.a);
      expect(m.b).toEqual(host.modules[i]!.b);
    });
    // Reset to PEFT's start (same A, B = 0), as SEAL does before each inner-loop run.
    adapter.load({ ...host, modules: host.modules.map((m) => ({ ...m, b: new Float32Array(m.b.length) })) });
    const reset = await adapter.download();
    expect(reset.modules.every((m, i) => m.b.every((v) => v === 0) && m.a.every((v, j) => v === host.modules[i]!.a[j]))).toBe(true);
    const grads = adapter.zerosLike();
    expect(grads.list().length).toBe(2 * adapter.modules.length);
    for (const g of await grads.read()) expect([...g.a, ...g.b].every((v) => v === 0)).toBe(true);
    grads.dispose();
    adapter.dispose();
    expect(() => adapter.get(0, 'o_proj')).toThrow(/used after dispose/);
  });

  it('keeps its tensors as aligned, disjoint views in a few storage chunks, laid out alike for parameters and gradients', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const config = { targets: [...LORA_TARGETS], rank: 5, alpha: 10 };
    const saved = ctx.limits.maxStorageBufferBindingSize;
    (ctx.limits as { maxStorageBufferBindingSize: number }).maxStorageBufferBindingSize = 4096; // forces many chunks
    let adapter: LoraAdapter, grads: LoraTensors, rank4: LoraAdapter;
    try {
      adapter = LoraAdapter.create(ctx, LLAMA_GQA, config, { seed, b: 'random' });
      grads = adapter.zerosLike();
      rank4 = LoraAdapter.create(ctx, LLAMA_GQA, { ...config, rank: 4 }, { seed });
    } finally {
      (ctx.limits as { maxStorageBufferBindingSize: number | undefined }).maxStorageBufferBindingSize = saved;
    }
    const chunks = adapter.params.chunks();
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.byteLength).toBeLessThanOrEqual(4096);
    // Every tensor lies inside one chunk on a 256-byte boundary, and no two overlap.
    const spans = adapter.params.list().map((t) => {
      const c = chunks.findIndex((ch) => ch.buffer === t.buffer);
      expect(c, 'in a chunk').toBeGreaterThanOrEqual(0);
      expect(t.byteOffset % 256).toBe(0);
      expect(t.byteOffset + t.byteLength).toBeLessThanOrEqual(chunks[c]!.byteOffset + chunks[c]!.byteLength);
      return { c, start: t.byteOffset, end: t.byteOffset + t.byteLength };
    });
    for (const [i, x] of spans.entries()) for (const y of spans.slice(i + 1)) expect(x.c !== y.c || x.end <= y.start || y.end <= x.start).toBe(true);
    expect(adapter.params.sameLayout(grads)).toBe(true);
    expect(adapter.params.sameLayout(rank4.params)).toBe(false);
    // The views hold the adapter's values; the gaps between them are zero.
    const host = await adapter.download();
    const want = initLoraWeights(LLAMA_GQA, resolveLoraConfig(config), { seed, b: 'random' });
    expect(host.modules.map((m) => [...m.a, ...m.b])).toEqual(want.modules.map((m) => [...m.a, ...m.b]));
    let inViews = 0,
      nonZero = 0;
    for (const c of chunks) for (const x of await ctx.readF32(c)) nonZero += x !== 0 ? 1 : 0;
    for (const m of want.modules) for (const x of [...m.a, ...m.b]) inViews += x !== 0 ? 1 : 0;
    expect(nonZero).toBe(inViews);
    for (const x of [grads, rank4, adapter]) x.dispose();
  });

  it('refuses weights that do not fit the model', async () => {
    const ctx = await testContext();
    const host = initLoraWeights(LLAMA_GQA, resolveLoraConfig({ targets: ['q_proj'], rank: 2, alpha: 2 }), { seed: 1 });
    const bad = { ...host, modules: host.modules.map((m, i) => (i === 1 ? { ...m, a: m.a.subarray(1) } : m)) };
    expect(() => LoraAdapter.upload(ctx, LLAMA_GQA, bad)).toThrow(/model.layers.1.self_attn.q_proj: A has 67 values, expected 2 x 34/);
    expect(() => LoraAdapter.upload(ctx, { ...LLAMA_GQA, numLayers: 3 }, host)).toThrow(/2 modules, expected 3/);
  });
});
