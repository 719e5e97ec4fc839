import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { gradNorm, gradNormPartials } from '../../src/ops/grad-norm.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { gradNormRef } from '../ref/grad-norm.ts';

/** Runs gradNorm on host arrays; returns the norm and clip scale read back. */
async function runGradNorm(ctx: GpuContext, grads: Float32Array[], maxNorm: number) {
  const tensors = grads.map((g) => ctx.upload('f32', [g.length], g));
  const partials = ctx.empty('f32', [gradNormPartials(tensors)]);
  const norm = ctx.empty('f32', [1]),
    clipScale = ctx.empty('f32', [1]);
  for (const t of [partials, norm, clipScale]) ctx.fill(t);
  const rec = ctx.recorder();
  gradNorm(rec, { grads: tensors, partials, norm, clipScale, maxNorm });
  rec.submit();
  const out = { norm: (await ctx.read(norm))[0]!, clip: (await ctx.read(clipScale))[0]! };
  ctx.free(...tensors, partials, norm, clipScale);
  return out;
}

describe('grad_norm', () => {
  const lists: [string, number[]][] = [
    ['one scalar', [1]],
    ['small odd tensors', [7, 3, 1, 5]],
    ['chunk boundaries', [4095, 4096, 4097, 8193]],
    ['LoRA-like A and B', [16 * 896, 896 * 16, 16 * 4864, 4864 * 16, 100003]],
  ];
  for (const [name, sizes] of lists) {
    it(`norm and clip scale: ${name}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const grads = sizes.map((n) => randn(n, r, 0.1 + r()));
      const ref = gradNormRef(grads, 1);
      // One maxNorm below the norm (clipping) and one above it (scale exactly 1).
      for (const maxNorm of [ref.norm / 3, ref.norm * 2]) {
        const got = await runGradNorm(ctx, grads, maxNorm);
        const want = gradNormRef(grads, maxNorm);
        expectClose([got.norm], [want.norm], TOL.f32, `norm (seed ${seed})`);
        expectClose([got.clip], [want.clip], TOL.f32, `clip scale, maxNorm ${maxNorm} (seed ${seed})`);
        if (maxNorm > ref.norm) expect(got.clip).toBe(1);
      }
    });
  }

  it('is deterministic: the same bits on every run', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const grads = [randn(50001, r), randn(12345, r, 3)];
    const a = await runGradNorm(ctx, grads, 0.5);
    const b = await runGradNorm(ctx, grads, 0.5);
    expect(b, `seed ${seed}`).toEqual(a);
  });

  it('no gradients: norm 0, clip scale 1', async () => {
    const ctx = await testContext();
    expect(await runGradNorm(ctx, [], 1)).toEqual({ norm: 0, clip: 1 });
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const g = ctx.empty('f32', [10000]),
      partials = ctx.empty('f32', [1]),
      norm = ctx.empty('f32', [1]),
      clip = ctx.empty('f32', [1]);
    const gi = ctx.empty('i32', [4]);
    const rec = ctx.recorder();
    expect(() => gradNorm(rec, { grads: [g], partials, norm })).toThrow(/partials: needs at least 3 elements/);
    expect(() => gradNorm(rec, { grads: [gi], partials, norm })).toThrow(/grads\[0\]: dtype i32/);
    expect(() => gradNorm(rec, { grads: [], partials, norm, clipScale: clip })).toThrow(/maxNorm/);
    ctx.free(g, partials, norm, clip, gi);
  });
});
