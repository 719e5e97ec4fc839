/** Random inputs, error metrics and tolerances shared by every kernel test. */
import { expect } from 'vitest';
import { SeededRng } from '../../src/util/rng.ts';

/** Tolerances by path. NMSE = sum((a-e)^2) / sum(e^2). */
export const TOL = {
  /** f32 compute on identical inputs (16-bit weights are rounded in the reference too). */
  f32: 1e-9,
  /** Paths that round activations to 16 bits (shader-f16 fast paths). */
  half: 1e-4,
  /**
   * LoRA gradients of a model whose products round operands to 16 bits (training precision 'mixed'): each
   * gradient sums many cancelling terms, and a saturated softmax turns q/k rounding into large relative errors,
   * so a module's NMSE depends on how well conditioned it is. Measured on the tiny random test models over ~45
   * seeds: modules typically 2e-5 to 2e-4, rare ill-conditioned ones up to 3.4e-3 (a q_proj dB of the random
   * Qwen2); unscaled tiny dy gives 0.45-0.9, a wrong gradient ~1. So: the median module within halfGrad, every
   * module within halfMax.
   */
  halfGrad: 1e-3,
  /** Issue bound for 16-bit paths; anything above this is a bug. */
  halfMax: 1e-2,
  /** Relative error of an f64 analytic gradient vs central finite differences. */
  grad: 1e-6,
} as const;

/** Uniform floats in [0, 1) from the project's seeded generator (src/util/rng.ts). Tests draw fresh seeds and print them on failure. */
export function rng(seed: number): () => number {
  const g = SeededRng.fromState(seed);
  return () => g.nextFloat();
}

/**
 * A fresh seed per call (time-based), so every run tests new inputs; failures print it.
 * SEAL_TEST_SEED=<n> replays a printed seed (every call returns it).
 */
export function freshSeed(): number {
  const replay = typeof process !== 'undefined' ? process.env?.SEAL_TEST_SEED : undefined;
  if (replay !== undefined && replay !== '') return Number(replay) >>> 0;
  return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
}

export function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function randu(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function randint(n: number, r: () => number, hi: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hi);
  return out;
}

export function nmse(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    num += d * d;
    den += expected[i]! * expected[i]!;
  }
  return den === 0 ? num : num / den;
}

/** Asserts same length, all finite (poisoned outputs are NaN), and NMSE within tol. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'output'): number {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i]!) && Number.isFinite(expected[i]!)) {
      throw new Error(`${what}: element ${i} is ${actual[i]} (expected ${expected[i]}): not written or overflowed`);
    }
  }
  const e = nmse(actual, expected);
  if (!(e <= tol)) {
    let worst = 0;
    for (let i = 1; i < actual.length; i++) if (Math.abs(actual[i]! - expected[i]!) > Math.abs(actual[worst]! - expected[worst]!)) worst = i;
    throw new Error(`${what}: NMSE ${e.toExponential(3)} > ${tol}; worst at ${worst}: got ${actual[worst]}, want ${expected[worst]}`);
  }
  return e;
}

/**
 * Central finite differences of a scalar f64 function over chosen coordinates of one input, compared with
 * the analytic gradient. Error = max |fd - an| / max(max|an|, 1e-12), asserted <= tol.
 */
export function checkGradient(
  f: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  opts: { what?: string; coords?: number[]; eps?: number; tol?: number } = {},
): number {
  const eps = opts.eps ?? 1e-6;
  const coords = opts.coords ?? Array.from({ length: x.length }, (_, i) => i);
  let maxAn = 0;
  for (const i of coords) maxAn = Math.max(maxAn, Math.abs(analytic[i]!));
  let err = 0;
  for (const i of coords) {
    const old = x[i]!;
    x[i] = old + eps;
    const fp = f();
    x[i] = old - eps;
    const fm = f();
    x[i] = old;
    const fd = (fp - fm) / (2 * eps);
    err = Math.max(err, Math.abs(fd - analytic[i]!));
  }
  const rel = err / Math.max(maxAn, 1e-12);
  const tol = opts.tol ?? TOL.grad;
  if (!(rel <= tol)) throw new Error(`${opts.what ?? 'gradient'}: finite-difference relative error ${rel.toExponential(3)} > ${tol}`);
  return rel;
}

/** Picks up to n distinct coordinates of [0, len) (all of them when len <= n). */
export function sampleCoords(len: number, n: number, r: () => number): number[] {
  if (len <= n) return Array.from({ length: len }, (_, i) => i);
  const s = new Set<number>();
  while (s.size < n) s.add(Math.floor(r() * len));
  return [...s];
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
