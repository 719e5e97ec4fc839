import { describe, expect, it } from 'vitest';
import { attentionDecode, checkDecodeRanges } from '../../src/ops/attention-decode.ts';
import { attentionForward, seqStartFromLengths } from '../../src/ops/attention.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { attentionDecodeRef } from '../ref/attention-decode.ts';

interface Case {
  name: string;
  Hq: number;
  Hkv: number;
  D: number;
  cacheRows: number;
  /** [start, end) per query row. */
  ranges: [number, number][];
  scale?: number;
}

const cases: Case[] = [
  { name: 'one row, one key', Hq: 1, Hkv: 1, D: 1, cacheRows: 1, ranges: [[0, 1]] },
  {
    name: 'GQA, ragged slots',
    Hq: 6,
    Hkv: 2,
    D: 10,
    cacheRows: 300,
    ranges: [
      [0, 37],
      [100, 101],
      [200, 300],
      [5, 70],
    ],
  },
  {
    name: 'head dim 128, keys over one workgroup stride',
    Hq: 4,
    Hkv: 1,
    D: 128,
    cacheRows: 333,
    ranges: [
      [0, 333],
      [64, 129],
    ],
  },
  {
    name: 'odd head dim, overlapping ranges',
    Hq: 3,
    Hkv: 3,
    D: 7,
    cacheRows: 90,
    ranges: [
      [0, 90],
      [1, 89],
      [45, 46],
    ],
    scale: 0.37,
  },
  {
    name: 'Llama-3.2-1B heads, 9 sequences',
    Hq: 32,
    Hkv: 8,
    D: 64,
    cacheRows: 9 * 40,
    ranges: Array.from({ length: 9 }, (_, b) => [b * 40, b * 40 + 1 + ((b * 13) % 40)] as [number, number]),
  },
];

describe('attentionDecode', () => {
  for (const c of cases) {
    it(`matches the f64 reference: ${c.name}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const rows = c.ranges.length;
      const { Hq, Hkv, D, cacheRows } = c;
      const qh = randn(rows * Hq * D, r),
        kh = randn(cacheRows * Hkv * D, r),
        vh = randn(cacheRows * Hkv * D, r);
      const flat = c.ranges.flat();
      checkDecodeRanges(flat, rows, cacheRows);
      const q = ctx.upload('f32', [rows, Hq, D], qh),
        k = ctx.upload('f32', [cacheRows, Hkv, D], kh),
        v = ctx.upload('f32', [cacheRows, Hkv, D], vh);
      const ranges = ctx.upload('u32', [rows, 2], flat),
        out = ctx.empty('f32', [rows, Hq, D]);
      ctx.fill(out);
      const rec = ctx.recorder();
      attentionDecode(rec, { q, k, v, ranges, out, rows, cacheRows, Hq, Hkv, D, scale: c.scale });
      rec.submit();
      const got = await ctx.readF32(out);
      ctx.free(q, k, v, ranges, out);
      rec.dispose();
      const scale = c.scale ?? 1 / Math.sqrt(D);
      expectClose(got, attentionDecodeRef(qh, kh, vh, flat, { rows, Hq, Hkv, D, scale }), TOL.f32, `seed ${seed}`);
    });
  }

  it('equals the packed causal kernel on the last token of each sequence', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const lengths = [5, 1, 70, 19];
    const T = lengths.reduce((a, b) => a + b),
      Hq = 4,
      Hkv = 2,
      D = 12;
    const qh = randn(T * Hq * D, r),
      kh = randn(T * Hkv * D, r),
      vh = randn(T * Hkv * D, r);
    const q = ctx.upload('f32', [T, Hq, D], qh),
      k = ctx.upload('f32', [T, Hkv, D], kh),
      v = ctx.upload('f32', [T, Hkv, D], vh);
    const seqStart = ctx.upload('u32', [T], seqStartFromLengths(lengths));
    const full = ctx.empty('f32', [T, Hq, D]),
      lse = ctx.empty('f32', [Hq, T]);
    // The decode query of each sequence is its last packed token, over keys [sequence start, last + 1).
    const ends = lengths.map((_, b) => lengths.slice(0, b + 1).reduce((x, y) => x + y));
    const rows = lengths.length;
    const lastQ = new Float32Array(rows * Hq * D);
    ends.forEach((e, b) => {
      lastQ.set(qh.subarray((e - 1) * Hq * D, e * Hq * D), b * Hq * D);
    });
    const dq = ctx.upload('f32', [rows, Hq, D], lastQ);
    const ranges = ctx.upload(
      'u32',
      [rows, 2],
      ends.flatMap((e, b) => [e - lengths[b]!, e]),
    );
    const out = ctx.empty('f32', [rows, Hq, D]);
    const rec = ctx.recorder();
    attentionForward(rec, { q, k, v, out: full, lse, seqStart, T, Hq, Hkv, D });
    attentionDecode(rec, { q: dq, k, v, ranges, out, rows, cacheRows: T, Hq, Hkv, D });
    rec.submit();
    const fullOut = await ctx.readF32(full),
      got = await ctx.readF32(out);
    ctx.free(q, k, v, seqStart, full, lse, dq, ranges, out);
    rec.dispose();
    const want = new Float32Array(rows * Hq * D);
    ends.forEach((e, b) => {
      want.set(fullOut.subarray((e - 1) * Hq * D, e * Hq * D), b * Hq * D);
    });
    expectClose(got, want, TOL.f32, `seed ${seed}`);
  });

  it('rejects empty or out-of-cache ranges and mismatched tensors', async () => {
    expect(() => checkDecodeRanges([3, 3], 1, 10)).toThrow(/row 0 has key range \[3, 3\)/);
    expect(() => checkDecodeRanges([0, 11], 1, 10)).toThrow(/<= 10/);
    expect(() => checkDecodeRanges([0, 1], 2, 10)).toThrow(/2 per row/);
    const ctx = await testContext();
    const q = ctx.empty('f32', [1, 2, 4]),
      k = ctx.empty('f32', [3, 1, 4]),
      ranges = ctx.empty('u32', [1, 2]),
      out = ctx.empty('f32', [1, 2, 4]);
    const rec = ctx.recorder();
    expect(() => attentionDecode(rec, { q, k, v: k, ranges, out, rows: 1, cacheRows: 4, Hq: 2, Hkv: 1, D: 4 })).toThrow(/attentionDecode.k/);
    expect(() => attentionDecode(rec, { q, k, v: k, ranges, out, rows: 1, cacheRows: 3, Hq: 3, Hkv: 2, D: 4 })).toThrow(/multiple of Hkv/);
    ctx.free(q, k, ranges, out);
    rec.dispose();
  });
});
