import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeForward, ropeInverseFrequencies, type RopeConfig } from '../../src/ops/rope.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randint, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { ropeBackwardRef, ropeInvFreqRef, ropeRef } from '../ref/rope.ts';
import { dot, poisoned } from './elementwise-helpers.ts';

const LLAMA32_1B = {
  headDim: 64,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
};
const LLAMA31_8B = {
  headDim: 128,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
};

/** Largest relative difference; the host function rounds to f32 after every op as PyTorch does. */
function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < expected.length; i++) e = Math.max(e, Math.abs(actual[i]! - expected[i]!) / Math.abs(expected[i]!));
  return e;
}

// A few f32 roundings (pow, reciprocal, the llama3 blend) each cost <= 2^-24 relative; 1e-6 is ~17 of them.
const INV_FREQ_TOL = 1e-6;

describe('rope inverse frequencies', () => {
  it('Llama-3.2-1B (llama3 scaling, factor 32) matches the f64 formula in all three bands', () => {
    const got = ropeInverseFrequencies(LLAMA32_1B);
    const want = ropeInvFreqRef(64, 500000, { factor: 32, low: 1, high: 4, originalMax: 8192 });
    expect(got.length).toBe(32);
    expect(maxRelError(got, want)).toBeLessThan(INV_FREQ_TOL);
    // Wavelength 2π·500000^(i/32) is below 2048 for i <= 14 (kept), above 8192 for i >= 18 (divided by 32).
    const plain = ropeInvFreqRef(64, 500000);
    const kept = [...got.keys()].filter((i) => Math.abs(got[i]! / plain[i]! - 1) < INV_FREQ_TOL);
    const divided = [...got.keys()].filter((i) => Math.abs((got[i]! * 32) / plain[i]! - 1) < INV_FREQ_TOL);
    expect(kept).toEqual([...Array(15).keys()]);
    expect(divided).toEqual([...Array(14).keys()].map((i) => i + 18));
    expect(got[0]).toBe(1);
  });

  it("Llama-3.2-1B values are bit-exact f32 results of transformers' f32 operations", () => {
    // From an independent NumPy float32 transcription of _compute_llama3_parameters (pow correctly rounded;
    // PyTorch's own f32 pow may differ in the last bit). Indices 15..17 are the interpolated band.
    const golden: Record<number, number> = {
      0: 1,
      1: 0.663601279258728,
      14: 0.0032114461064338684,
      15: 0.0012905480107292533,
      16: 0.000429556705057621,
      17: 9.708286233944818e-5,
      18: 1.9461638657958247e-5,
      31: 9.418306490260875e-8,
    };
    const got = ropeInverseFrequencies(LLAMA32_1B);
    for (const [i, v] of Object.entries(golden)) expect(got[Number(i)], `inv_freq[${i}]`).toBe(v);
  });

  it('Llama-3.1-8B (factor 8, head_dim 128) and plain rope_theta match the f64 formula', () => {
    expect(maxRelError(ropeInverseFrequencies(LLAMA31_8B), ropeInvFreqRef(128, 500000, { factor: 8, low: 1, high: 4, originalMax: 8192 }))).toBeLessThan(
      INV_FREQ_TOL,
    );
    // Qwen2 style: no rope_scaling; the legacy `type` key and an explicit 'default' mean the same.
    const qwen = ropeInverseFrequencies({ headDim: 64, ropeTheta: 1e6 });
    expect(maxRelError(qwen, ropeInvFreqRef(64, 1e6))).toBeLessThan(INV_FREQ_TOL);
    expect(ropeInverseFrequencies({ headDim: 64, ropeTheta: 1e6, ropeScaling: null })).toEqual(qwen);
    expect(ropeInverseFrequencies({ headDim: 64, ropeTheta: 1e6, ropeScaling: { type: 'default' } })).toEqual(qwen);
    expect(maxRelError(ropeInverseFrequencies({ headDim: 2, ropeTheta: 10000 }), [1])).toBe(0);
  });

  it('rejects bad configs with clear errors', () => {
    expect(() => ropeInverseFrequencies({ headDim: 63, ropeTheta: 10000 })).toThrow(/headDim must be an even integer/);
    expect(() => ropeInverseFrequencies({ headDim: 64, ropeTheta: 10000, ropeScaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/'yarn' is not supported/);
    expect(() => ropeInverseFrequencies({ headDim: 64, ropeTheta: 10000, ropeScaling: { rope_type: 'llama3', factor: 8 } })).toThrow(
      /needs a numeric 'low_freq_factor'/,
    );
  });
});

// [tokens, heads, headDim]: T = 1, one pair, odd head counts, head dims of real models, awkward sizes.
const shapes: [number, number, number][] = [
  [1, 1, 2],
  [1, 3, 64],
  [5, 3, 6],
  [17, 7, 64],
  [33, 2, 128],
  [9, 5, 34],
];
const configs: Record<string, Omit<RopeConfig, 'headDim'>> = { 'llama3 (Llama-3.2-1B)': LLAMA32_1B, 'default (theta 10000)': { ropeTheta: 10000 } };
const MAX_POSITION = 8192;

/**
 * Packed positions: runs of consecutive positions (sequences of 1..8 tokens) from random starts; the first token
 * is at 0 and the last at MAX_POSITION - 1, so every test includes the largest angles.
 */
function packedPositions(tokens: number, r: () => number): Uint32Array {
  const pos = new Uint32Array(tokens);
  let t = 0;
  while (t < tokens) {
    const len = 1 + Math.floor(r() * Math.min(tokens - t, 8));
    const start = Math.floor(r() * (MAX_POSITION - len));
    for (let j = 0; j < len; j++) pos[t + j] = start + j;
    t += len;
  }
  pos[0] = 0;
  pos[tokens - 1] = MAX_POSITION - 1;
  return pos;
}

/**
 * Tolerance against the f64-angle reference. The GPU (like PyTorch) rounds θ = pos * invFreq to f32, which moves
 * it by at most half an ulp <= θ·2^-24. That rotates the pair (v_i, v_{i+h}) by the same small angle, an error of
 * at most |pair|·θ·2^-24, so NMSE <= sum(|pair|^2 (θ·2^-24)^2) / sum(v^2). The bound grows with the positions:
 * at most (8191·2^-24)^2 = 2.4e-7 when every angle is near 8191 rad, far less when most pairs rotate slowly.
 * Cos/sin and range-reduction errors (~3e-7 rad absolute) add < 1e-13; the TOL.f32 on top covers them.
 */
function f64AngleTolerance(v: ArrayLike<number>, pos: Uint32Array, invFreq: Float32Array, heads: number): number {
  const h = invFreq.length;
  let num = 0;
  let den = 0;
  for (let t = 0; t < pos.length; t++) {
    for (let i = 0; i < h; i++) {
      const shift = (pos[t]! * invFreq[i]! * 2 ** -24) ** 2;
      for (let hd = 0; hd < heads; hd++) {
        const lo = (t * heads + hd) * 2 * h + i;
        num += (v[lo]! ** 2 + v[lo + h]! ** 2) * shift;
      }
    }
  }
  for (let j = 0; j < v.length; j++) den += v[j]! ** 2;
  return num / den + TOL.f32;
}

describe('rope', () => {
  it('reference backward matches finite differences', () => {
    const r = rng(freshSeed());
    const [tokens, heads, dim] = [3, 2, 8];
    const x = f64(randn(tokens * heads * dim, r)),
      dy = f64(randn(tokens * heads * dim, r));
    const pos = randint(tokens, r, MAX_POSITION),
      inv = ropeInvFreqRef(dim, 10000);
    const loss = () => dot(ropeRef(x, pos, inv, tokens, heads, dim), dy);
    checkGradient(loss, x, ropeBackwardRef(dy, pos, inv, tokens, heads, dim), { what: 'rope dx', coords: sampleCoords(x.length, 48, r) });
  });

  for (const [name, cfg] of Object.entries(configs)) {
    for (const [tokens, heads, dim] of shapes) {
      it(`forward/backward, in place and not, ${name}, T=${tokens} H=${heads} D=${dim}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        const invFreq = ropeInverseFrequencies({ ...cfg, headDim: dim });
        const pos = packedPositions(tokens, r);
        const x = randn(tokens * heads * dim, r),
          dy = randn(tokens * heads * dim, r);
        const shape = [tokens, heads, dim];
        const tPos = ctx.upload('u32', [tokens], pos),
          tInv = ctx.upload('f32', [dim / 2], invFreq);
        const tx = ctx.upload('f32', shape, x),
          tdy = ctx.upload('f32', shape, dy);
        const tInPlace = ctx.upload('f32', shape, x),
          tdyInPlace = ctx.upload('f32', shape, dy);
        const ty = poisoned(ctx, 'f32', shape),
          tdx = poisoned(ctx, 'f32', shape);
        const common = { positions: tPos, invFreq: tInv, tokens, heads, headDim: dim };
        const rec = ctx.recorder();
        ropeForward(rec, { x: tx, out: ty, ...common });
        ropeForward(rec, { x: tInPlace, ...common });
        ropeBackward(rec, { dy: tdy, dx: tdx, ...common });
        ropeBackward(rec, { dy: tdyInPlace, ...common });
        rec.submit();

        const what = (s: string) => `${s} (${name}, seed ${seed})`;
        const y = await ctx.read(ty),
          dx = await ctx.read(tdx);
        // What PyTorch computes: an f32 angle, then exact cos/sin. The GPU must match it to f32 accuracy.
        expectClose(y, ropeRef(x, pos, invFreq, tokens, heads, dim, 'f32'), TOL.f32, what('y vs f32-angle reference'));
        expectClose(dx, ropeBackwardRef(dy, pos, invFreq, tokens, heads, dim, 'f32'), TOL.f32, what('dx vs f32-angle reference'));
        // The exact rotation (f64 angle), within the bound f32 angle rounding allows.
        expectClose(y, ropeRef(x, pos, invFreq, tokens, heads, dim), f64AngleTolerance(x, pos, invFreq, heads), what('y vs f64 reference'));
        expectClose(dx, ropeBackwardRef(dy, pos, invFreq, tokens, heads, dim), f64AngleTolerance(dy, pos, invFreq, heads), what('dx vs f64 reference'));
        // In place computes the same thing, bit for bit.
        expect(Array.from(await ctx.read(tInPlace))).toEqual(Array.from(y));
        expect(Array.from(await ctx.read(tdyInPlace))).toEqual(Array.from(dx));
        ctx.free(tPos, tInv, tx, tdy, tInPlace, tdyInPlace, ty, tdx);
      });
    }
  }

  it('cos and sin of the f32 angle are within 1e-6 for every position 0..8191 and large ones up to 4e5', async () => {
    // x = (1, 0) in every pair makes y = (cos θ, sin θ): the angle's cos and sin, read directly.
    const ctx = await testContext();
    const dim = 16;
    const invFreq = ropeInverseFrequencies({ headDim: dim, ropeTheta: 10000 });
    const pos = Uint32Array.from([...Array(8192).keys(), 32767, 65535, 131071, 262143, 400000]);
    const tokens = pos.length;
    const x = new Float32Array(tokens * dim);
    for (let t = 0; t < tokens; t++) x.fill(1, t * dim, t * dim + dim / 2);
    const tPos = ctx.upload('u32', [tokens], pos),
      tInv = ctx.upload('f32', [dim / 2], invFreq);
    const tx = ctx.upload('f32', [tokens, 1, dim], x),
      ty = poisoned(ctx, 'f32', [tokens, 1, dim]);
    const rec = ctx.recorder();
    ropeForward(rec, { x: tx, out: ty, positions: tPos, invFreq: tInv, tokens, heads: 1, headDim: dim });
    rec.submit();
    const y = await ctx.read(ty);
    const want = ropeRef(x, pos, invFreq, tokens, 1, dim, 'f32');
    let worst = 0;
    for (let i = 0; i < y.length; i++) if (Math.abs(y[i]! - want[i]!) > Math.abs(y[worst]! - want[worst]!)) worst = i;
    const err = Math.abs(y[worst]! - want[worst]!);
    const t = Math.floor(worst / dim);
    expect(err, `worst at position ${pos[t]}, frequency ${invFreq[worst % (dim / 2)]}: got ${y[worst]}, want ${want[worst]}`).toBeLessThan(1e-6);
    ctx.free(tPos, tInv, tx, ty);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const x = ctx.empty('f32', [2, 3, 5]),
      pos = ctx.empty('u32', [2]),
      inv = ctx.empty('f32', [2]);
    const rec = ctx.recorder();
    expect(() => ropeForward(rec, { x, positions: pos, invFreq: inv, tokens: 2, heads: 3, headDim: 5 })).toThrow(/headDim must be even/);
    const x4 = ctx.empty('f32', [2, 3, 4]),
      posF = ctx.empty('f32', [2]);
    expect(() => ropeForward(rec, { x: x4, positions: posF, invFreq: inv, tokens: 2, heads: 3, headDim: 4 })).toThrow(
      /rope.positions: dtype f32 not supported/,
    );
    expect(() => ropeForward(rec, { x: x4, out: x4, positions: pos, invFreq: inv, tokens: 2, heads: 3, headDim: 4 })).toThrow(/omit out to work in place/);
    expect(() => ropeBackward(rec, { dy: x4, positions: pos, invFreq: inv, tokens: 2, heads: 2, headDim: 4 })).toThrow(/rope.dy: expected 16 elements/);
    ctx.free(x, pos, inv, x4, posF);
  });
});
