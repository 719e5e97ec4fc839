/**
 * The grouped multi-adapter LoRA primitive (src/lora/grouped-lora.ts) against an f64 reference written from the
 * math (itself checked by finite differences): rows in runs of several adapters with different ranks and
 * scales, an adapter appearing in two runs, rows with no adapter, an adapter that does not adapt the
 * projection, the skinny (few rows) and tiled (many rows) kernels, per-adapter gradient accumulation.
 */
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import {
  adapterRuns,
  groupedLoraBackward,
  groupedLoraForward,
  groupedLoraScratchSize,
  planGroupedLora,
  type LoraWeights,
} from '../../src/lora/grouped-lora.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';

interface RefAdapter {
  a: Float64Array; // [r, in]
  b: Float64Array; // [out, r]
  rank: number;
  scale: number;
}

/** delta[t] = s_g · (x[t]·A_gᵀ)·B_gᵀ for the adapter g of row t (0 for rows without an adapter or whose adapter is undefined). */
function groupedLoraRef(
  x: ArrayLike<number>,
  rowAdapters: readonly number[],
  adapters: readonly (RefAdapter | undefined)[],
  inF: number,
  outF: number,
): Float64Array {
  const T = rowAdapters.length;
  const out = new Float64Array(T * outF);
  for (let t = 0; t < T; t++) {
    const ad = adapters[rowAdapters[t]!];
    if (!ad) continue;
    const u = new Float64Array(ad.rank);
    for (let j = 0; j < ad.rank; j++) for (let i = 0; i < inF; i++) u[j]! += x[t * inF + i]! * ad.a[j * inF + i]!;
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let j = 0; j < ad.rank; j++) s += u[j]! * ad.b[o * ad.rank + j]!;
      out[t * outF + o] = ad.scale * s;
    }
  }
  return out;
}

/** Gradients of L = sum(delta ⊙ G): dx, and dA, dB of each adapter, summed over its own rows only. */
function groupedLoraGradRef(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  rowAdapters: readonly number[],
  adapters: readonly (RefAdapter | undefined)[],
  inF: number,
  outF: number,
) {
  const T = rowAdapters.length;
  const dx = new Float64Array(T * inF);
  const grads = adapters.map((ad) => ad && { a: new Float64Array(ad.rank * inF), b: new Float64Array(outF * ad.rank) });
  for (let t = 0; t < T; t++) {
    const ad = adapters[rowAdapters[t]!];
    const gr = grads[rowAdapters[t]!];
    if (!ad || !gr) continue;
    const u = new Float64Array(ad.rank),
      e = new Float64Array(ad.rank);
    for (let j = 0; j < ad.rank; j++) for (let i = 0; i < inF; i++) u[j]! += x[t * inF + i]! * ad.a[j * inF + i]!;
    for (let j = 0; j < ad.rank; j++) for (let o = 0; o < outF; o++) e[j]! += g[t * outF + o]! * ad.b[o * ad.rank + j]!;
    for (let o = 0; o < outF; o++) for (let j = 0; j < ad.rank; j++) gr.b[o * ad.rank + j]! += ad.scale * g[t * outF + o]! * u[j]!;
    for (let j = 0; j < ad.rank; j++) {
      for (let i = 0; i < inF; i++) {
        gr.a[j * inF + i]! += ad.scale * e[j]! * x[t * inF + i]!;
        dx[t * inF + i]! += ad.scale * e[j]! * ad.a[j * inF + i]!;
      }
    }
  }
  return { dx, grads };
}

const IN = 19,
  OUT = 13; // not multiples of 4, nor are the ranks: scalar loads throughout (few kernel variants)
/** Runs (adapter, rows): adapter 0 twice, rows without an adapter, adapter 2 over the skinny kernel's 32 rows, adapter 3 not adapting. */
const LAYOUT: [number, number][] = [
  [0, 6],
  [1, 9],
  [-1, 3],
  [0, 4],
  [2, 35],
  [3, 2],
  [1, 1],
];
const RANKS = [3, 5, 2];
const SCALES = [1.7, 0.5, 2];

function rowAdaptersOf(layout: readonly [number, number][]): number[] {
  return layout.flatMap(([g, n]) => new Array<number>(n).fill(g));
}

function refAdapters(r: () => number): (RefAdapter | undefined)[] {
  return [...RANKS.map((rank, g) => ({ rank, scale: SCALES[g]!, a: f64(randn(rank * IN, r, 0.5)), b: f64(randn(OUT * rank, r, 0.5)) })), undefined];
}

function upload(ctx: GpuContext, ads: readonly (RefAdapter | undefined)[]): (LoraWeights | undefined)[] {
  return ads.map((ad) => ad && { a: ctx.upload('f32', [ad.rank, IN], ad.a), b: ctx.upload('f32', [OUT, ad.rank], ad.b), rank: ad.rank, scale: ad.scale });
}

describe('grouped multi-adapter LoRA', () => {
  it('reference: dx, dA and dB of every adapter match finite differences', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const rows = rowAdaptersOf([
      [0, 2],
      [1, 3],
      [-1, 1],
      [0, 1],
      [3, 1],
      [2, 2],
    ]);
    const ads = refAdapters(r);
    const x = f64(randn(rows.length * IN, r)),
      g = f64(randn(rows.length * OUT, r));
    const loss = () => groupedLoraRef(x, rows, ads, IN, OUT).reduce((s, v, i) => s + v * g[i]!, 0);
    const { dx, grads } = groupedLoraGradRef(x, g, rows, ads, IN, OUT);
    checkGradient(loss, x, dx, { what: `dx (seed ${seed})` });
    ads.forEach((ad, k) => {
      if (!ad) return;
      checkGradient(loss, ad.a, grads[k]!.a, { what: `dA of adapter ${k} (seed ${seed})`, coords: sampleCoords(ad.a.length, 20, r) });
      checkGradient(loss, ad.b, grads[k]!.b, { what: `dB of adapter ${k} (seed ${seed})`, coords: sampleCoords(ad.b.length, 20, r) });
    });
  });

  it('adapterRuns splits rows into maximal runs and skips rows without an adapter', () => {
    expect(adapterRuns([0, 0, 1, -1, -1, 1, 1, 0])).toEqual([
      { adapter: 0, rowStart: 0, rows: 2 },
      { adapter: 1, rowStart: 2, rows: 1 },
      { adapter: 1, rowStart: 5, rows: 2 },
      { adapter: 0, rowStart: 7, rows: 1 },
    ]);
    expect(adapterRuns([])).toEqual([]);
    expect(() => adapterRuns([0, 1.5])).toThrow(/row 1 has adapter index 1.5, not an integer/);
  });

  it('forward and backward equal the reference: several runs per adapter, rows without one, per-adapter accumulation', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const rows = rowAdaptersOf(LAYOUT);
    const T = rows.length;
    const ads = refAdapters(r);
    const weights = upload(ctx, ads);
    const runs = adapterRuns(rows);
    const plan = planGroupedLora(runs, IN, OUT, (g) => weights[g])!;
    expect(plan.segments.map((s) => [s.adapter, s.rows])).toEqual(LAYOUT.filter(([g]) => g >= 0 && g < 3));
    expect(plan.segments.every((s) => s.uOffset % 4 === 0)).toBe(true);
    expect(plan.uSize).toBeLessThanOrEqual(groupedLoraScratchSize(runs, (g) => RANKS[g] ?? 0));

    const xHost = randn(T * IN, r),
      y0 = randn(T * OUT, r),
      dyHost = randn(T * OUT, r),
      dx0 = randn(T * IN, r);
    const acc1 = { a: randn(RANKS[1]! * IN, r), b: randn(OUT * RANKS[1]!, r) }; // adapter 1 accumulates into these
    const x = ctx.upload('f32', [T, IN], xHost),
      y = ctx.upload('f32', [T, OUT], y0),
      dy = ctx.upload('f32', [T, OUT], dyHost),
      dx = ctx.upload('f32', [T, IN], dx0);
    const u = ctx.empty('f32', [plan.uSize]),
      e = ctx.empty('f32', [plan.uSize]);
    const g0 = { a: ctx.empty('f32', [RANKS[0]!, IN]), b: ctx.empty('f32', [OUT, RANKS[0]!]) };
    const g1 = { a: ctx.upload('f32', [RANKS[1]!, IN], acc1.a), b: ctx.upload('f32', [OUT, RANKS[1]!], acc1.b) };
    for (const t of [u, e, g0.a, g0.b]) ctx.fill(t);
    const rec = ctx.recorder();
    groupedLoraForward(rec, plan, { x, y, u });
    // Adapter 2 has no gradient tensors: its rows still reach dx.
    groupedLoraBackward(rec, plan, { dy, x, u, e, dx, grads: [g0, g1, undefined], accumulate: [false, true, false] });
    rec.submit();

    const delta = groupedLoraRef(xHost, rows, ads, IN, OUT);
    const want = groupedLoraGradRef(xHost, dyHost, rows, ads, IN, OUT);
    expectClose(
      await ctx.readF32(y),
      delta.map((d, i) => d + y0[i]!),
      TOL.f32,
      `y (seed ${seed})`,
    );
    expectClose(
      await ctx.readF32(dx),
      want.dx.map((d, i) => d + dx0[i]!),
      TOL.f32,
      `dx (seed ${seed})`,
    );
    expectClose(await ctx.readF32(g0.a), want.grads[0]!.a, TOL.f32, `dA adapter 0, two runs (seed ${seed})`);
    expectClose(await ctx.readF32(g0.b), want.grads[0]!.b, TOL.f32, `dB adapter 0, two runs (seed ${seed})`);
    expectClose(
      await ctx.readF32(g1.a),
      want.grads[1]!.a.map((d, i) => d + acc1.a[i]!),
      TOL.f32,
      `dA adapter 1, accumulated (seed ${seed})`,
    );
    expectClose(
      await ctx.readF32(g1.b),
      want.grads[1]!.b.map((d, i) => d + acc1.b[i]!),
      TOL.f32,
      `dB adapter 1, accumulated (seed ${seed})`,
    );
    // Rows without an adapter, or whose adapter does not adapt this projection, are left exactly as they were.
    const yOut = await ctx.readF32(y);
    rows.forEach((g, t) => {
      if (g >= 0 && g < 3) return;
      expect(Array.from(yOut.subarray(t * OUT, (t + 1) * OUT)), `row ${t} untouched`).toEqual(Array.from(y0.subarray(t * OUT, (t + 1) * OUT)));
    });
    ctx.free(x, y, dy, dx, u, e, g0.a, g0.b, g1.a, g1.b, ...weights.flatMap((w) => (w ? [w.a, w.b] : [])));
  });

  it('rejects mis-shaped adapters and buffers with clear errors', async () => {
    const ctx = await testContext();
    const a = ctx.empty('f32', [3, IN]),
      b = ctx.empty('f32', [OUT, 3]),
      x = ctx.empty('f32', [10, IN]),
      y = ctx.empty('f32', [10, OUT]);
    const runs = [{ adapter: 0, rowStart: 0, rows: 10 }];
    expect(() => planGroupedLora(runs, IN + 1, OUT, () => ({ a, b, rank: 3, scale: 1 }))).toThrow(
      /adapter 0 has A \[3, 19\] and B \[13, 3\], expected \[3, 20\] and \[13, 3\]/,
    );
    expect(planGroupedLora(runs, IN, OUT, () => undefined)).toBeUndefined();
    const plan = planGroupedLora(runs, IN, OUT, () => ({ a, b, rank: 3, scale: 1 }))!;
    const small = ctx.empty('f32', [plan.uSize - 1]);
    const rec = ctx.recorder();
    expect(() => groupedLoraForward(rec, plan, { x, y, u: small })).toThrow(/u has 31 elements, needs 32/);
    const short = planGroupedLora([{ adapter: 0, rowStart: 4, rows: 7 }], IN, OUT, () => ({ a, b, rank: 3, scale: 1 }))!;
    expect(() => groupedLoraForward(rec, short, { x, y, u: small })).toThrow(/x has 190 elements, fewer than rows up to 11 of 19/);
    expect(rec.pending).toBe(0);
    ctx.free(a, b, x, y, small);
  });
});
