import { describe, expect, it } from 'vitest';
import { roundTo, type DType } from '../../src/gpu/dtype.ts';
import { biasAdd, biasBackward } from '../../src/ops/bias.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { biasAddRef, biasBackwardRef } from '../ref/bias.ts';
import { dot, expectSameBits, poisoned } from './elementwise-helpers.ts';

// [rows, cols]: single row/column, odd cols (16-bit biases then end mid-word), Qwen2-0.5B's q/k widths,
// more columns than one backward workgroup covers, more rows than row slices.
const shapes: [number, number][] = [
  [1, 1],
  [1, 7],
  [3, 5],
  [17, 896],
  [5, 128],
  [64, 129],
  [300, 3],
];

describe('bias', () => {
  it('reference backward matches finite differences', () => {
    const r = rng(freshSeed());
    const [rows, cols] = [4, 5];
    const y = f64(randn(rows * cols, r)),
      bias = f64(randn(cols, r)),
      dy = f64(randn(rows * cols, r));
    checkGradient(() => dot(biasAddRef(y, bias, rows, cols), dy), bias, biasBackwardRef(dy, rows, cols), { what: 'dbias' });
  });

  for (const bd of ['f32', 'bf16', 'f16'] as DType[]) {
    for (const [rows, cols] of shapes) {
      it(`y += bias (${bd}), rows=${rows} cols=${cols}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        const y = randn(rows * cols, r),
          bias = roundTo(randn(cols, r, 0.5), bd);
        const ty = ctx.upload('f32', [rows, cols], y),
          tb = ctx.upload(bd, [cols], bias);
        const rec = ctx.recorder();
        biasAdd(rec, { y: ty, bias: tb, rows, cols });
        rec.submit();
        expectClose(await ctx.read(ty), biasAddRef(y, bias, rows, cols), TOL.f32, `y (${bd}, seed ${seed})`);
        ctx.free(ty, tb);
      });
    }
  }

  for (const [rows, cols] of [...shapes, [2048, 70]] as [number, number][]) {
    it(`dbias = column sums of dy, deterministic, rows=${rows} cols=${cols}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const dy = randn(rows * cols, r);
      const tdy = ctx.upload('f32', [rows, cols], dy);
      const first = poisoned(ctx, 'f32', [cols]),
        second = poisoned(ctx, 'f32', [cols]);
      const rec = ctx.recorder();
      biasBackward(rec, { dy: tdy, dbias: first, rows, cols });
      biasBackward(rec, { dy: tdy, dbias: second, rows, cols });
      rec.submit();
      const got = await ctx.readF32(first);
      expectClose(got, biasBackwardRef(dy, rows, cols), TOL.f32, `dbias (seed ${seed})`);
      expectSameBits(await ctx.readF32(second), got, `dbias, second run (seed ${seed})`);
      ctx.free(tdy, first, second);
    });
  }

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const y = ctx.empty('f32', [3, 8]),
      b = ctx.empty('bf16', [7]),
      bi = ctx.empty('i32', [8]),
      db = ctx.empty('bf16', [8]);
    const rec = ctx.recorder();
    expect(() => biasAdd(rec, { y, bias: b, rows: 3, cols: 8 })).toThrow(/bias.bias: expected 8 elements/);
    expect(() => biasAdd(rec, { y, bias: bi, rows: 3, cols: 8 })).toThrow(/weights of dtype i32 are not supported/);
    expect(() => biasBackward(rec, { dy: y, dbias: db, rows: 3, cols: 8 })).toThrow(/bias.dbias: dtype bf16 not supported/);
    expect(() => biasBackward(rec, { dy: y, dbias: y, rows: 3, cols: 8 })).toThrow(/bias.dbias: expected 8 elements/);
    expect(() => biasAdd(rec, { y, bias: b, rows: 3.5, cols: 8 })).toThrow(/bias: rows must be a positive integer, got 3.5/);
    ctx.free(y, b, bi, db);
  });
});
