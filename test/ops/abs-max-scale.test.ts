import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { ABS_MAX_PARTIALS, absMaxScale } from '../../src/ops/abs-max-scale.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';
import { absMaxScaleRef } from '../ref/abs-max-scale.ts';

interface Region {
  rows: number;
  cols: number;
  offset?: number;
  stride?: number;
}

/** Runs absMaxScale over a region of `data`; returns (s, 1/s) read back. */
async function runScale(ctx: GpuContext, data: Float32Array, region: Region): Promise<[number, number]> {
  const a = ctx.upload('f32', [data.length], data);
  const partials = ctx.empty('u32', [ABS_MAX_PARTIALS]);
  const scale = ctx.upload('f32', [2], [NaN, NaN]);
  try {
    const rec = ctx.recorder();
    absMaxScale(rec, { a, partials, scale, ...region });
    rec.submit();
    const [s, inv] = await ctx.readF32(scale);
    return [s!, inv!];
  } finally {
    ctx.free(a, partials, scale);
  }
}

describe('abs_max_scale', () => {
  // [rows, cols, offset, stride]: one element, odd sizes, a column slice, and more elements than
  // ABS_MAX_PARTIALS minimum-size chunks (so each workgroup takes a larger chunk).
  const regions: [number, number, number, number][] = [
    [1, 1, 0, 1],
    [7, 13, 0, 13],
    [33, 17, 5, 40],
    [301, 129, 3, 300],
    [1100, 2000, 0, 2000],
  ];
  for (const [rows, cols, offset, stride] of regions) {
    it(`the power of two of max|A| over ${rows}x${cols} at offset ${offset}, stride ${stride}; elements outside ignored`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      // Magnitudes from 1e-9 to 1e5: the scale must land max|A|·s in [2^14, 2^15) whatever the range.
      for (const magnitude of [1e-9, 3e-6, 1, 1e5]) {
        const data = randn(offset + rows * stride + 7, r, magnitude);
        // The largest element outside the region is 100x anything inside: the region alone must count.
        const outside = offset > 0 ? 0 : stride > cols ? cols : -1;
        if (outside >= 0) data[outside] = 100 * magnitude * 8;
        data[data.length - 1] = 100 * magnitude * 8;
        const ref = absMaxScaleRef(data, rows, cols, offset, stride);
        const got = await runScale(ctx, data, { rows, cols, offset, stride });
        expect(got, `magnitude ${magnitude} (seed ${seed})`).toEqual(ref);
        let max = 0;
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(data[offset + i * stride + j]!));
        expect(max * got[0]).toBeGreaterThanOrEqual(2 ** 14);
        expect(max * got[0]).toBeLessThan(2 ** 15);
      }
    });
  }

  it('all zeros, inf or NaN give s = 1; the f32 extremes stay within normal scales', async () => {
    const ctx = await testContext();
    const zeros = new Float32Array(1000);
    expect(await runScale(ctx, zeros, { rows: 10, cols: 100 })).toEqual([1, 1]);
    for (const bad of [Infinity, -Infinity, NaN]) {
      const data = randn(1000, rng(1));
      data[517] = bad;
      expect(await runScale(ctx, data, { rows: 10, cols: 100 }), String(bad)).toEqual([1, 1]);
    }
    const huge = new Float32Array([3.4e38, -1]);
    expect(await runScale(ctx, huge, { rows: 1, cols: 2 })).toEqual([2 ** -113, 2 ** 113]);
    const tiny = new Float32Array([1e-44, 0]); // subnormal: the scale stops at 2^126
    expect(await runScale(ctx, tiny, { rows: 2, cols: 1 })).toEqual([2 ** 126, 2 ** -126]);
    expect(absMaxScaleRef(tiny, 2, 1)).toEqual([2 ** 126, 2 ** -126]);
  });

  it('an empty region gives s = 1', async () => {
    const ctx = await testContext();
    expect(await runScale(ctx, new Float32Array(4), { rows: 0, cols: 4 })).toEqual([1, 1]);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const a = ctx.empty('f32', [100]),
      partials = ctx.empty('u32', [ABS_MAX_PARTIALS]),
      scale = ctx.empty('f32', [2]);
    const rec = ctx.recorder();
    expect(() => absMaxScale(rec, { a, partials, scale, rows: 11, cols: 10 })).toThrow(/reaches element 110, past the 100/);
    expect(() => absMaxScale(rec, { a, partials, scale, rows: 2, cols: 10, stride: 5 })).toThrow(/stride must be >= cols/);
    expect(() => absMaxScale(rec, { a, partials: scale, scale, rows: 1, cols: 1 })).toThrow(/partials: dtype f32 not supported/);
    const small = ctx.empty('u32', [10]);
    expect(() => absMaxScale(rec, { a, partials: small, scale, rows: 1, cols: 1 })).toThrow(/needs 1024 elements/);
    ctx.free(a, partials, scale, small);
  });
});
