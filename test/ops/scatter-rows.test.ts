import { describe, expect, it } from 'vitest';
import { checkScatterRows, scatterRows } from '../../src/ops/scatter-rows.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';

describe('scatterRows', () => {
  for (const [rows, width, dstRows] of [
    [1, 1, 1],
    [3, 129, 40],
    [37, 64, 1000],
    [1100, 67, 1200],
  ] as const) {
    it(`writes each source row to its destination and nothing else (${rows} rows of ${width} into ${dstRows})`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const src = randn(rows * width, r);
      // Distinct random destinations: a shuffled prefix of [0, dstRows).
      const order = Array.from({ length: dstRows }, (_, i) => i);
      for (let i = dstRows - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const to = order.slice(0, rows);
      checkScatterRows(to, dstRows);
      const before = randn(dstRows * width, r);
      const srcT = ctx.upload('f32', [rows, width], src),
        toT = ctx.upload('u32', [rows], to),
        dst = ctx.upload('f32', [dstRows, width], before);
      const rec = ctx.recorder();
      scatterRows(rec, { src: srcT, rowsTo: toT, dst, rows, width, dstRows });
      rec.submit();
      const got = await ctx.readF32(dst);
      ctx.free(srcT, toT, dst);
      rec.dispose();
      const want = before.slice();
      to.forEach((t, i) => {
        want.set(src.subarray(i * width, (i + 1) * width), t * width);
      });
      expect(Array.from(got), `seed ${seed}`).toEqual(Array.from(want));
    });
  }

  it('rejects repeated or out-of-range destinations', () => {
    expect(() => checkScatterRows([1, 1], 4)).toThrow(/row 1 is written twice/);
    expect(() => checkScatterRows([4], 4)).toThrow(/outside \[0, 4\)/);
  });
});
