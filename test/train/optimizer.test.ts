/** AdamW with global-norm clipping over every A and B of an adapter, against the f64 AdamW and grad-norm references. */
import { describe, expect, it } from 'vitest';
import { LoraAdapter, type LoraTensors } from '../../src/lora/adapter.ts';
import { LoraOptimizer, type AdamWConfig } from '../../src/train/optimizer.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { adamwRef } from '../ref/adamw.ts';
import { gradNormRef } from '../ref/grad-norm.ts';
import { LLAMA_GQA } from './tiny-model.ts';

const STEPS: { lr: number; scale: number }[] = [
  { lr: 1e-2, scale: 1 },
  { lr: 5e-3, scale: 3 },
  { lr: 2e-3, scale: 1e-3 },
];

describe('LoraOptimizer', () => {
  for (const [name, config, chunkBytes] of [
    ['clipped to max_grad_norm 0.5, weight decay 0.01', { maxGradNorm: 0.5, weightDecay: 0.01, beta2: 0.95 }],
    ['no clipping, HF defaults otherwise', { maxGradNorm: null }],
    // A binding limit of 2 KiB while the tensors are made: their storage is many chunks (one dispatch each).
    ['clipped, weight decay 0.1, storage in many small chunks', { maxGradNorm: 1, weightDecay: 0.1 }, 2048],
  ] as [string, AdamWConfig, number?][]) {
    it(`3 steps equal torch AdamW after clip_grad_norm_: ${name}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const saved = ctx.limits.maxStorageBufferBindingSize;
      if (chunkBytes) (ctx.limits as { maxStorageBufferBindingSize: number }).maxStorageBufferBindingSize = chunkBytes;
      let adapter: LoraAdapter, opt: LoraOptimizer, grads: LoraTensors;
      try {
        adapter = LoraAdapter.create(ctx, LLAMA_GQA, { targets: ['q_proj', 'down_proj', 'v_proj'], rank: 3, alpha: 6 }, { seed, b: 'random' });
        opt = new LoraOptimizer(ctx, adapter, config);
        grads = adapter.zerosLike();
      } finally {
        (ctx.limits as { maxStorageBufferBindingSize: number | undefined }).maxStorageBufferBindingSize = saved;
      }
      if (chunkBytes) expect(adapter.params.chunks().length, 'several storage chunks').toBeGreaterThan(3);
      else expect(adapter.params.chunks().length).toBe(1);
      const start = await adapter.download();
      const refParams = start.modules.flatMap((m) => [Float64Array.from(m.a), Float64Array.from(m.b)]);
      const refM = refParams.map((p) => new Float64Array(p.length)),
        refV = refParams.map((p) => new Float64Array(p.length));
      const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...config };
      for (const [i, { lr, scale }] of STEPS.entries()) {
        const g = refParams.map((p) => randn(p.length, r, 0.1 * scale));
        grads.write(adapter.modules.map((_, k) => ({ a: g[2 * k]!, b: g[2 * k + 1]! })));
        const { gradNorm, step } = await opt.update(grads, lr);
        const want = gradNormRef(g, h.maxGradNorm ?? Infinity);
        expect(step).toBe(i + 1);
        expect(Math.abs(gradNorm - want.norm) / want.norm, `grad norm, step ${step} (seed ${seed})`).toBeLessThan(1e-6);
        refParams.forEach((p, k) => {
          adamwRef(p, g[k]!, refM[k]!, refV[k]!, { lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay, step: i + 1 }, want.clip);
        });
      }
      expect(opt.step).toBe(3);
      const got = await adapter.download();
      const [m, v] = [await opt.m.read(), await opt.v.read()];
      got.modules.forEach((mod, k) => {
        expectClose(mod.a, refParams[2 * k]!, TOL.f32, `${mod.path} A (seed ${seed})`);
        expectClose(mod.b, refParams[2 * k + 1]!, TOL.f32, `${mod.path} B (seed ${seed})`);
        expectClose(m[k]!.a, refM[2 * k]!, TOL.f32, `${mod.path} m(A) (seed ${seed})`);
        expectClose(v[k]!.b, refV[2 * k + 1]!, TOL.f32, `${mod.path} v(B) (seed ${seed})`);
        // The update itself must be there, not hidden by the size of the parameters.
        expect(mod.b.some((x, j) => x !== start.modules[k]!.b[j])).toBe(true);
      });
      opt.reset();
      expect(opt.step).toBe(0);
      for (const t of await opt.v.read()) expect([...t.a, ...t.b].every((x) => x === 0)).toBe(true);
      for (const x of [grads, opt, adapter]) x.dispose();
    });
  }

  it('rejects mismatched gradients and bad settings', async () => {
    const ctx = await testContext();
    const adapter = LoraAdapter.create(ctx, LLAMA_GQA, { targets: ['q_proj'], rank: 2, alpha: 2 }, { seed: 1 });
    const other = LoraAdapter.create(ctx, LLAMA_GQA, { targets: ['k_proj'], rank: 2, alpha: 2 }, { seed: 1 });
    const wrong = other.zerosLike();
    expect(() => new LoraOptimizer(ctx, adapter, { maxGradNorm: 0 })).toThrow(/maxGradNorm must be a finite positive number or null, got 0/);
    const opt = new LoraOptimizer(ctx, adapter);
    await expect(opt.update(wrong, 1e-3)).rejects.toThrow(/grads are not shaped like the adapter/);
    const grads = adapter.zerosLike();
    await expect(opt.update(grads, -1)).rejects.toThrow(/adamw: invalid lr -1/);
    expect(opt.step).toBe(0);
    for (const x of [grads, wrong, opt, other, adapter]) x.dispose();
    await expect(opt.update(grads, 1e-3)).rejects.toThrow(/used after dispose/);
  });
});
