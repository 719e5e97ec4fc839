import { describe, expect, it } from 'vitest';
import { residualAdd } from '../../src/ops/residual.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randn, randu, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { residualRef } from '../ref/residual.ts';
import { poisoned } from './elementwise-helpers.ts';

// Lengths: 1, not a multiple of 4 (scalar path), multiples of 4 (vec4 path), a hidden-size-like row block.
const lengths = [1, 3, 4, 7, 1000, 1027, 17 * 2048];

describe('residual add', () => {
  for (const n of lengths) {
    it(`out = a + b and a += b, n=${n}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const a = randn(n, r),
        b = randn(n, r);
      const ta = ctx.upload('f32', [n], a),
        tb = ctx.upload('f32', [n], b),
        tacc = ctx.upload('f32', [n], a);
      const tout = poisoned(ctx, 'f32', [n]);
      const rec = ctx.recorder();
      residualAdd(rec, { a: ta, b: tb, out: tout });
      residualAdd(rec, { a: tacc, b: tb });
      rec.submit();
      const want = residualRef(a, b);
      expectClose(await ctx.read(tout), want, TOL.f32, `out (seed ${seed})`);
      expectClose(await ctx.read(tacc), want, TOL.f32, `a += b (seed ${seed})`);
      expect(Array.from(await ctx.read(ta))).toEqual(Array.from(a)); // the out-of-place form leaves a alone
      ctx.free(ta, tb, tacc, tout);
    });
  }

  it('more than 65535 workgroups (the grid is folded into 2-D), odd length', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const n = 65535 * 256 + 3;
    const a = randu(n, r),
      b = randu(n, r);
    const ta = ctx.upload('f32', [n], a),
      tb = ctx.upload('f32', [n], b),
      tout = poisoned(ctx, 'f32', [n]);
    const rec = ctx.recorder();
    residualAdd(rec, { a: ta, b: tb, out: tout });
    rec.submit();
    const out = await ctx.read(tout);
    // Every element must be written; the values are checked on a sample plus the tail.
    for (let i = 0; i < n; i++) if (Number.isNaN(out[i])) throw new Error(`out[${i}] not written (seed ${seed})`);
    const coords = [...sampleCoords(n, 4096, r), n - 3, n - 2, n - 1];
    expectClose(
      coords.map((i) => out[i]!),
      coords.map((i) => a[i]! + b[i]!),
      TOL.f32,
      `sampled out (seed ${seed})`,
    );
    ctx.free(ta, tb, tout);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const a = ctx.empty('f32', [2, 8]),
      b = ctx.empty('f32', [15]),
      h = ctx.empty('bf16', [16]);
    const rec = ctx.recorder();
    expect(() => residualAdd(rec, { a, b })).toThrow(/residual.b: expected 16 elements/);
    expect(() => residualAdd(rec, { a, b: h })).toThrow(/residual.b: dtype bf16 not supported/);
    expect(() => residualAdd(rec, { a, b: a })).toThrow(/b shares a buffer with a/);
    expect(() => residualAdd(rec, { a, b: a, out: a })).toThrow(/out shares a buffer with an input/);
    ctx.free(a, b, h);
  });
});
