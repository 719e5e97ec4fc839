import { describe, expect, it } from 'vitest';
import { roundTo, type DType } from '../../src/gpu/dtype.ts';
import { rmsnormBackward, rmsnormForward } from '../../src/ops/rmsnorm.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { rmsnormBackwardRef, rmsnormRef } from '../ref/rmsnorm.ts';

const shapes: [number, number][] = [
  [1, 3],
  [1, 7],
  [3, 64],
  [5, 173],
  [17, 1000],
  [2, 2049],
];

describe('rmsnorm', () => {
  it('reference backward matches finite differences', () => {
    const r = rng(freshSeed());
    const rows = 3,
      dim = 11,
      eps = 1e-5;
    const x = f64(randn(rows * dim, r)),
      w = f64(randn(dim, r)),
      dy = f64(randn(rows * dim, r));
    const loss = () => rmsnormRef(x, w, rows, dim, eps).y.reduce((s, v, i) => s + v * dy[i]!, 0);
    checkGradient(loss, x, rmsnormBackwardRef(x, w, dy, rows, dim, eps), { what: 'rmsnorm dx', coords: sampleCoords(x.length, 33, r) });
  });

  for (const wd of ['f32', 'bf16', 'f16'] as DType[]) {
    for (const [rows, dim] of shapes) {
      it(`forward and backward, ${wd} weight, rows=${rows} dim=${dim}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        const eps = 1e-5;
        const x = randn(rows * dim, r),
          w = roundTo(randn(dim, r, 0.5), wd),
          dy = randn(rows * dim, r);
        const tx = ctx.upload('f32', [rows, dim], x),
          tw = ctx.upload(wd, [dim], w),
          tdy = ctx.upload('f32', [rows, dim], dy);
        const ty = ctx.empty('f32', [rows, dim]),
          trs = ctx.empty('f32', [rows]),
          tdx = ctx.empty('f32', [rows, dim]);
        for (const t of [ty, trs, tdx]) ctx.fill(t);
        const rec = ctx.recorder();
        rmsnormForward(rec, { x: tx, weight: tw, y: ty, rstd: trs, rows, dim, eps });
        rmsnormBackward(rec, { x: tx, weight: tw, rstd: trs, dy: tdy, dx: tdx, rows, dim });
        rec.submit();
        const ref = rmsnormRef(x, w, rows, dim, eps);
        expectClose(await ctx.read(ty), ref.y, TOL.f32, `y (seed ${seed})`);
        expectClose(await ctx.read(trs), ref.rstd, TOL.f32, `rstd (seed ${seed})`);
        expectClose(await ctx.read(tdx), rmsnormBackwardRef(x, w, dy, rows, dim, eps), TOL.f32, `dx (seed ${seed})`);
        ctx.free(tx, tw, tdy, ty, trs, tdx);
      });
    }
  }

  it('rejects mismatched shapes with a clear error', async () => {
    const ctx = await testContext();
    const x = ctx.empty('f32', [2, 8]),
      w = ctx.empty('f32', [7]),
      y = ctx.empty('f32', [2, 8]),
      rs = ctx.empty('f32', [2]);
    expect(() => rmsnormForward(ctx.recorder(), { x, weight: w, y, rstd: rs, rows: 2, dim: 8, eps: 1e-5 })).toThrow(/rmsnorm.weight: expected 8 elements/);
    ctx.free(x, w, y, rs);
  });
});
