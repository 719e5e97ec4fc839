import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { roundTo, type DType } from '../../src/gpu/dtype.ts';
import { matmul, matmulFlops, matmulVariant, SKINNY_MAX_M, subgroupMatrixPlan, type MatmulArgs, type MatmulKernel } from '../../src/ops/matmul.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, nmse, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { matmulColumnsRef, matmulGradRef, matmulLayoutRef, matmulRef, matmulRefRows, type MatmulLayout, type MatmulRefOptions } from '../ref/matmul.ts';
import { expectSameBits } from './elementwise-helpers.ts';

// Every distinct set of defines is one more pipeline, and a software rasterizer takes a second or more to compile
// each, so coverage is planned rather than a full product: the portable kernel runs every transA x transB x dtype
// combination on unaligned shapes; every kernel runs each transpose combination with the weight and bias dtypes
// rotating over them (their dtype handling is the shared loader and epilogue), with alpha, bias and accumulate on
// aligned shapes. Later tests reuse those pipelines.
const TRANS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const WEIGHT_DTYPES: DType[] = ['f32', 'bf16', 'f16'];
const ROTATED: Record<string, { bDtype: DType; biasDtype: DType }> = {
  'false,false': { bDtype: 'f32', biasDtype: 'f16' },
  'false,true': { bDtype: 'bf16', biasDtype: 'bf16' },
  'true,false': { bDtype: 'f16', biasDtype: 'f32' },
  'true,true': { bDtype: 'bf16', biasDtype: 'f32' },
};
// [M, N, K]. Unaligned: every dimension odd, so no storage row is a whole vector (scalar loads): size-1 edges, primes,
// one past tile sizes, a decode shape. Aligned: every dimension a multiple of 8 (vector loads of A and B).
const UNALIGNED: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 13],
  [3, 5, 301],
  [33, 65, 17],
  [129, 71, 257],
  [5, 999, 301],
];
const ALIGNED: [number, number, number][] = [
  [8, 1000, 304],
  [40, 48, 136],
  [72, 200, 64],
];

interface Problem extends MatmulRefOptions {
  a: Float32Array;
  b: Float32Array; // already rounded to bDtype
  bDtype: DType;
  biasDtype?: DType;
}

function problem(r: () => number, [M, N, K]: [number, number, number], o: Partial<Problem> = {}): Problem {
  const bDtype = o.bDtype ?? 'f32';
  return { M, N, K, bDtype, a: randn(M * K, r), b: roundTo(randn(K * N, r, 0.5), bDtype), ...o };
}

/** A problem with the rotated dtypes for its transposes and the whole epilogue: alpha, bias and accumulate. */
function epilogueProblem(r: () => number, shape: [number, number, number], transA: boolean, transB: boolean): Problem {
  const { bDtype, biasDtype } = ROTATED[`${transA},${transB}`]!;
  const [M, N] = shape;
  return problem(r, shape, { transA, transB, bDtype, alpha: 0.37, bias: roundTo(randn(N, r), biasDtype), biasDtype, c0: randn(M * N, r) });
}

function describeProblem(p: Problem): string {
  const epilogue = p.bias ? ` alpha=${p.alpha} bias=${p.biasDtype} accumulate=${Boolean(p.c0)}` : '';
  return `${p.M}x${p.N}x${p.K}${p.transA ? ' transA' : ''}${p.transB ? ' transB' : ''} b=${p.bDtype}${epilogue}`;
}

/** Uploads, poisons C (or writes c0 to accumulate into), runs one kernel, reads C back. */
async function runMatmul(ctx: GpuContext, p: Problem, variant: MatmulArgs['variant'], tile?: MatmulArgs['tile'], scaleA?: boolean): Promise<Float32Array> {
  const a = ctx.upload('f32', p.transA ? [p.K, p.M] : [p.M, p.K], p.a);
  const b = ctx.upload(p.bDtype, p.transB ? [p.N, p.K] : [p.K, p.N], p.b);
  const c = ctx.empty('f32', [p.M, p.N]);
  const bias = p.bias ? ctx.upload(p.biasDtype ?? 'f32', [p.N], p.bias) : undefined;
  if (p.c0) ctx.write(c, p.c0);
  else ctx.fill(c);
  try {
    const rec = ctx.recorder();
    matmul(rec, {
      a,
      b,
      c,
      M: p.M,
      N: p.N,
      K: p.K,
      transA: p.transA,
      transB: p.transB,
      alpha: p.alpha,
      accumulate: Boolean(p.c0),
      bias,
      variant,
      tile,
      scaleA,
    });
    rec.submit();
    return await ctx.readF32(c);
  } finally {
    ctx.free(a, b, c, bias);
  }
}

/** f16's unit roundoff (round to nearest, 11-bit significand), half its smallest subnormal, and f32's unit roundoff. */
const U_F16 = 2 ** -11;
const F16_SUBNORMAL_HALF = 2 ** -25;
const U_F32 = 2 ** -24;

/**
 * The worst element of a kernel that rounds op(A) and op(B) to f16 and sums the products in f32 (f16,
 * subgroup-matrix), as a fraction of what that rounding can cost, element by element (<= 1 for a correct kernel;
 * NMSE alone would average away a few wrong elements). Rounding a and b to f16 puts at most (1+u)² - 1 ≈ 2u
 * (u = 2^-11) relative error on the product a·b, or an absolute half subnormal (2^-25) times the other factor where
 * an operand lands in f16's subnormals (with scaleA, A·s is rounded: 2^-25/s <= 2^-39·max|A|, as s brings max|A|
 * to at least 2^14); an f32 sum of K products and the bias and C adds is off by at most (K+2)·2^-24 of the sum of
 * their magnitudes. So |c - e| <= ((1+u)² - 1 + (K+2)·2^-24)·(|alpha|·Σ_k|a·b| + |bias| + |C0|)
 * + |alpha|·(floorA·Σ_k|b| + 2^-25·Σ_k|a|). `rows`: the rows of C that `out` holds (default all).
 */
function halfErrorRatio(out: ArrayLike<number>, p: Problem, o: { rows?: readonly number[]; scaleA?: boolean } = {}): number {
  const { M, N, K } = p;
  const alpha = Math.abs(p.alpha ?? 1);
  const rows = o.rows ?? Array.from({ length: M }, (_, m) => m);
  const ref = matmulRefRows(p.a, p.b, p, rows);
  const opA = (m: number, k: number) => (p.transA ? p.a[k * M + m]! : p.a[m * K + k]!);
  const opB = (k: number, n: number) => (p.transB ? p.b[n * K + k]! : p.b[k * N + n]!);
  const floorA = o.scaleA ? 2 ** -39 * p.a.reduce((mx, x) => Math.max(mx, Math.abs(x)), 0) : F16_SUBNORMAL_HALF;
  const relative = (1 + U_F16) ** 2 - 1 + (K + 2) * U_F32;
  let worst = 0;
  rows.forEach((m, r) => {
    for (let n = 0; n < N; n++) {
      let ab = 0,
        sa = 0,
        sb = 0;
      for (let k = 0; k < K; k++) {
        const a = Math.abs(opA(m, k)),
          b = Math.abs(opB(k, n));
        ab += a * b;
        sa += a;
        sb += b;
      }
      const epilogue = Math.abs(p.bias?.[n] ?? 0) + Math.abs(p.c0?.[m * N + n] ?? 0);
      const bound = relative * (alpha * ab + epilogue) + alpha * (floorA * sb + F16_SUBNORMAL_HALF * sa);
      const err = Math.abs(out[r * N + n]! - ref[r * N + n]!);
      worst = Math.max(worst, bound > 0 ? err / bound : err > 0 ? Infinity : 0);
    }
  });
  return worst;
}

/** Asserts every element of a 16-bit kernel's output within its rounding bound (halfErrorRatio <= 1). */
function expectWithinHalfBound(out: ArrayLike<number>, p: Problem, what: string, o: { rows?: readonly number[]; scaleA?: boolean } = {}): void {
  expect(halfErrorRatio(out, p, o), `${what}: worst element / its f16 rounding bound`).toBeLessThanOrEqual(1);
}

const roundsToHalf = (kernel: MatmulKernel) => kernel === 'f16' || kernel === 'subgroup-matrix';

/** The kernels besides 'portable' this device can run, each with the tolerance it meets against the f64 reference. */
function otherKernels(ctx: GpuContext): [MatmulKernel, number][] {
  const out: [MatmulKernel, number][] = [['skinny', TOL.f32]];
  if (ctx.features.shaderF16) out.push(['f16', TOL.half]);
  if (typeof subgroupMatrixPlan(ctx) !== 'string') out.push(['subgroup-matrix', TOL.half]);
  return out;
}

/** Runs the portable kernel and every other kernel on p; checks each against the reference and its portable twin. */
async function checkAllKernels(ctx: GpuContext, p: Problem, seed: number, kernels = otherKernels(ctx)): Promise<void> {
  const ref = matmulRef(p.a, p.b, p);
  const portable = await runMatmul(ctx, p, 'portable');
  expectClose(portable, ref, TOL.f32, `${describeProblem(p)} portable (seed ${seed})`);
  for (const [kernel, tol] of kernels) {
    const out = await runMatmul(ctx, p, kernel);
    expectClose(out, ref, tol, `${describeProblem(p)} ${kernel} (seed ${seed})`);
    expectClose(out, portable, tol, `${describeProblem(p)} ${kernel} vs portable (seed ${seed})`);
    if (roundsToHalf(kernel)) expectWithinHalfBound(out, p, `${describeProblem(p)} ${kernel} (seed ${seed})`);
  }
}

describe('matmul reference', () => {
  for (const [transA, transB] of TRANS) {
    it(`backward products match finite differences (transA=${transA}, transB=${transB})`, () => {
      const seed = freshSeed();
      const r = rng(seed);
      const o = { M: 3, N: 4, K: 5, transA, transB };
      const a = f64(randn(15, r)),
        b = f64(randn(20, r)),
        g = f64(randn(12, r));
      const loss = () => matmulRef(a, b, o).reduce((s, v, i) => s + v * g[i]!, 0);
      const { dA, dB } = matmulGradRef(a, b, g, o);
      checkGradient(loss, a, dA, { what: `dA (seed ${seed})` });
      checkGradient(loss, b, dB, { what: `dB (seed ${seed})` });
    });
  }
});

describe('matmul', () => {
  for (const [transA, transB] of TRANS) {
    for (const bDtype of WEIGHT_DTYPES) {
      it(`portable kernel on unaligned shapes: transA=${transA} transB=${transB}, b ${bDtype}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        for (const shape of UNALIGNED) {
          const p = problem(r, shape, { transA, transB, bDtype });
          expectClose(await runMatmul(ctx, p, 'portable'), matmulRef(p.a, p.b, p), TOL.f32, `${describeProblem(p)} portable (seed ${seed})`);
        }
      });
    }
  }

  for (const [transA, transB] of TRANS) {
    const { bDtype, biasDtype } = ROTATED[`${transA},${transB}`]!;
    it(`every kernel: transA=${transA} transB=${transB}, b ${bDtype}; plain on unaligned shapes, alpha + ${biasDtype} bias + accumulate on aligned ones`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const fast = otherKernels(ctx).filter(([k]) => k !== 'skinny');
      // The fast kernels differ from the portable one only past the loaders, so aligned shapes suffice for them.
      for (const shape of UNALIGNED) await checkAllKernels(ctx, problem(r, shape, { transA, transB, bDtype }), seed, [['skinny', TOL.f32]]);
      for (const shape of ALIGNED) await checkAllKernels(ctx, epilogueProblem(r, shape, transA, transB), seed, [['skinny', TOL.f32], ...fast]);
    });
  }

  it('the f16 worst-element bound holds for exact f16 rounding and catches one wrong element that NMSE passes', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (const [transA, transB] of TRANS) {
      const p = epilogueProblem(r, [40, 48, 136], transA, transB);
      // The CPU doing exactly what the kernels do: operands rounded to f16, products summed in f64 (tighter than f32).
      const rounded = matmulRef(roundTo(p.a, 'f16'), roundTo(p.b, 'f16'), p);
      const ratio = halfErrorRatio(rounded, p);
      expect(ratio, `${describeProblem(p)} f16-rounded reference (seed ${seed})`).toBeLessThanOrEqual(1);
      // One element off by 5% of the output's scale: NMSE ~2.5e-3 / (M·N) passes TOL.half, the bound does not.
      const scale = Math.sqrt(rounded.reduce((s, x) => s + x * x, 0) / rounded.length);
      const wrong = Float64Array.from(rounded);
      wrong[7] = wrong[7]! + 0.05 * scale;
      expect(nmse(wrong, matmulRef(p.a, p.b, p)), describeProblem(p)).toBeLessThanOrEqual(TOL.half);
      expect(halfErrorRatio(wrong, p), `${describeProblem(p)} one wrong element (seed ${seed})`).toBeGreaterThan(1);
    }
  });

  it('LoRA pair y += s·(x·Aᵀ)·Bᵀ through two calls', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const T = 48,
      inF = 96,
      outF = 80,
      rank = 8,
      s = 2;
    const x = randn(T * inF, r),
      loraA = randn(rank * inF, r, 0.1),
      loraB = randn(outF * rank, r, 0.1),
      y0 = randn(T * outF, r);
    const tx = ctx.upload('f32', [T, inF], x),
      tA = ctx.upload('f32', [rank, inF], loraA),
      tB = ctx.upload('f32', [outF, rank], loraB);
    const h = ctx.empty('f32', [T, rank]),
      y = ctx.upload('f32', [T, outF], y0);
    ctx.fill(h);
    const rec = ctx.recorder();
    matmul(rec, { a: tx, b: tA, c: h, M: T, N: rank, K: inF, transB: true });
    matmul(rec, { a: h, b: tB, c: y, M: T, N: outF, K: rank, transB: true, alpha: s, accumulate: true });
    rec.submit();
    const hRef = matmulRef(x, loraA, { M: T, N: rank, K: inF, transB: true });
    const yRef = matmulRef(hRef, loraB, { M: T, N: outF, K: rank, transB: true, alpha: s, c0: y0 });
    const tol = matmulVariant(ctx, { M: T, N: outF, K: rank }) === 'portable' ? TOL.f32 : TOL.half;
    expectClose(await ctx.read(y), yRef, tol, `LoRA y (seed ${seed})`);
    ctx.free(tx, tA, tB, h, y);
  });

  it('larger shapes, sampled rows: 256x384x512 forward (transB, bias) and accumulated weight gradient (transA), both block sizes', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const forward = epilogueProblem(r, [256, 384, 512], false, true);
    const weightGrad = epilogueProblem(r, [384, 256, 512], true, false);
    for (const p of [forward, weightGrad]) {
      const rows = sampleCoords(p.M, 12, r).sort((x, y) => x - y);
      const ref = matmulRefRows(p.a, p.b, p, rows);
      const pick = (c: Float32Array) => Float32Array.from(rows.flatMap((m) => Array.from(c.subarray(m * p.N, (m + 1) * p.N))));
      const auto = matmulVariant(ctx, p);
      expect(auto).not.toBe('skinny');
      const runs: [MatmulKernel, MatmulArgs['tile'], number][] = [
        ['portable', 'auto', TOL.f32],
        [auto, 'auto', auto === 'portable' ? TOL.f32 : TOL.half],
      ];
      if (p === forward) runs.push(['portable', 'large', TOL.f32], [auto, 'large', auto === 'portable' ? TOL.f32 : TOL.half]);
      for (const [kernel, tile, tol] of runs) {
        const what = `${describeProblem(p)} ${kernel} ${tile} tiles, rows ${rows.join(',')} (seed ${seed})`;
        const got = pick(await runMatmul(ctx, p, kernel, tile));
        expectClose(got, ref, tol, what);
        if (roundsToHalf(kernel)) expectWithinHalfBound(got, p, what, { rows });
      }
    }
  });

  it('decode shapes take the skinny kernel, which matches the tiled one', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    for (const [transA, transB] of TRANS) {
      // With transA, M is A's storage row length: keep it a multiple of 8 (the vector-load pipelines tested above).
      for (const M of transA ? [8, 24, SKINNY_MAX_M] : [1, 2, 5, 8, 17, SKINNY_MAX_M]) {
        expect(matmulVariant(ctx, { M, N: 320, K: 512 })).toBe('skinny');
        const p = epilogueProblem(r, [M, 320, 512], transA, transB);
        const skinny = await runMatmul(ctx, p, 'auto');
        const tiled = await runMatmul(ctx, p, 'portable');
        expectClose(skinny, tiled, TOL.f32, `${describeProblem(p)} skinny vs tiled (seed ${seed})`);
        expectClose(skinny, matmulRef(p.a, p.b, p), TOL.f32, `${describeProblem(p)} skinny (seed ${seed})`);
      }
    }
    expect(matmulVariant(ctx, { M: SKINNY_MAX_M + 1, N: 320, K: 512 })).not.toBe('skinny');
  });

  it("shader-f16: 'auto' takes the f16 kernel where the device has shader-f16, and it matches its portable twin", async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const p = epilogueProblem(r, [136, 200, 96], false, true);
    if (ctx.features.shaderF16) {
      expect(matmulVariant(ctx, p)).toBe(typeof subgroupMatrixPlan(ctx) === 'string' ? 'f16' : 'subgroup-matrix');
      const f16 = await runMatmul(ctx, p, 'f16');
      expectClose(f16, await runMatmul(ctx, p, 'portable'), TOL.half, `f16 vs portable (seed ${seed})`);
      expectClose(f16, matmulRef(p.a, p.b, p), TOL.half, `f16 vs reference (seed ${seed})`);
      expectWithinHalfBound(f16, p, `f16 (seed ${seed})`);
    } else {
      expect(matmulVariant(ctx, p)).toBe('portable');
      expect(() => matmulVariant(ctx, { ...p, variant: 'f16' })).toThrow(/'f16' is not supported by this device/);
    }
  });

  it("without shader-f16, 'auto' falls back to the portable kernel and 'f16' is refused", async () => {
    const ctx = await testContext({ disableFeatures: ['shader-f16'] });
    const seed = freshSeed();
    const r = rng(seed);
    expect(ctx.features.shaderF16).toBe(false);
    const p = epilogueProblem(r, [72, 48, 40], false, true);
    expect(matmulVariant(ctx, p)).toBe('portable');
    expectClose(await runMatmul(ctx, p, 'auto'), matmulRef(p.a, p.b, p), TOL.f32, `auto without f16 (seed ${seed})`);
    expect(() => matmulVariant(ctx, { ...p, variant: 'f16' })).toThrow(/'f16' is not supported by this device \(no shader-f16/);
    const a = ctx.empty('f32', [72, 40]),
      b = ctx.empty('bf16', [48, 40]),
      c = ctx.empty('f32', [72, 48]);
    expect(() => matmul(ctx.recorder(), { a, b, c, M: 72, N: 48, K: 40, transB: true, variant: 'f16' })).toThrow(/not supported by this device/);
    ctx.free(a, b, c);
  });

  it('subgroup-matrix: matches its portable twin where offered; otherwise never chosen and refused clearly', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const plan = subgroupMatrixPlan(ctx);
    const shapes: [number, number, number][] = [
      [200, 136, 104],
      [129, 71, 257],
    ];
    if (typeof plan !== 'string') {
      for (const shape of shapes) {
        for (const [transA, transB] of TRANS) {
          const p = epilogueProblem(r, shape, transA, transB);
          expect(matmulVariant(ctx, p)).toBe('subgroup-matrix');
          const sgm = await runMatmul(ctx, p, 'subgroup-matrix');
          expectClose(sgm, await runMatmul(ctx, p, 'portable'), TOL.half, `${describeProblem(p)} subgroup-matrix vs portable (seed ${seed})`);
          expectClose(sgm, matmulRef(p.a, p.b, p), TOL.half, `${describeProblem(p)} subgroup-matrix vs reference (seed ${seed})`);
          expectWithinHalfBound(sgm, p, `${describeProblem(p)} subgroup-matrix (seed ${seed})`);
        }
      }
    } else {
      const f16Config = ctx.caps.subgroupMatrixConfigs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');
      expect(ctx.features.subgroupMatrix && ctx.features.shaderF16 && ctx.features.subgroups && f16Config).toBe(false);
      for (const [M, N, K] of shapes) expect(matmulVariant(ctx, { M, N, K })).not.toBe('subgroup-matrix');
      expect(() => matmulVariant(ctx, { M: 200, N: 136, K: 104, variant: 'subgroup-matrix' })).toThrow(/'subgroup-matrix' is not supported by this device/);
      const a = ctx.empty('f32', [200, 104]),
        b = ctx.empty('f16', [104, 136]),
        c = ctx.empty('f32', [200, 136]);
      expect(() => matmul(ctx.recorder(), { a, b, c, M: 200, N: 136, K: 104, variant: 'subgroup-matrix' })).toThrow(/not supported by this device/);
      ctx.free(a, b, c);
    }
  });

  it("scaleA: A far outside f16's range (1e-7, 1e6) keeps f16 precision in the kernels that round A; exact kernels ignore it", async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const halfKernels = otherKernels(ctx).filter(([k]) => k !== 'skinny');
    // Without shader-f16 (SwiftShader in Chromium) no kernel rounds A: only the exact kernels' part applies.
    expect(halfKernels.length > 0, 'a kernel that rounds A to f16 exactly where shader-f16 is offered').toBe(ctx.features.shaderF16);
    for (const [transA, transB] of TRANS) {
      for (const magnitude of [1e-7, 1e6]) {
        const p = epilogueProblem(r, [72, 200, 96], transA, transB);
        p.a = p.a.map((x) => x * magnitude);
        // The bias and C must not be scaled: make them comparable to the product. bf16 holds these magnitudes, f16
        // does not (1e-7 is below its normals, 4e6 above its range): an f16 bias becomes f32. Otherwise the rotation's
        // dtypes stay, so the exact kernels run the pipelines the tests above compiled (each is a lavapipe compile).
        if (p.biasDtype === 'f16') p.biasDtype = 'f32';
        p.bias = roundTo(
          Float32Array.from(p.bias!, (x) => x * magnitude * 4),
          p.biasDtype!,
        );
        p.c0 = Float32Array.from(p.c0!, (x) => x * magnitude * 4);
        const ref = matmulRef(p.a, p.b, p);
        const what = `${describeProblem(p)} A x ${magnitude}`;
        for (const [kernel] of halfKernels) {
          const scaled = await runMatmul(ctx, p, kernel, undefined, true);
          expectClose(scaled, ref, TOL.half, `${what} ${kernel} scaled (seed ${seed})`);
          expectWithinHalfBound(scaled, p, `${what} ${kernel} scaled (seed ${seed})`, { scaleA: true });
          // Unscaled, the same kernel loses A (rounded in f16's subnormals) or overflows it: the same check fails.
          const unscaled = await runMatmul(ctx, p, kernel);
          const lost = unscaled.some((x) => !Number.isFinite(x)) || nmse(unscaled, ref) > TOL.half;
          expect(lost, `${what} ${kernel} unscaled should fail (seed ${seed})`).toBe(true);
        }
        for (const kernel of ['portable', 'skinny'] as const) {
          expectSameBits(await runMatmul(ctx, p, kernel, undefined, true), await runMatmul(ctx, p, kernel), `${what} ${kernel} ignores scaleA`);
        }
      }
    }
  });

  it('writes a column slice of a wider C (cRowStride, cColumn): every kernel, bias at the same columns, other columns untouched', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    // Pipelines already built above: an unaligned plain product (skinny, portable) and an aligned full epilogue (every kernel).
    const cases: [Problem, [MatmulKernel, number][]][] = [
      [problem(r, [33, 65, 17], { transB: true, bDtype: 'bf16' }), [['skinny', TOL.f32]]],
      [epilogueProblem(r, [40, 48, 136], false, true), otherKernels(ctx)],
    ];
    for (const [p, kernels] of cases) {
      const stride = p.N + 11,
        col = 5;
      const accumulate = Boolean(p.c0);
      const wide = randn(p.M * stride, r);
      const biasWide = p.bias ? roundTo(randn(stride, r), p.biasDtype ?? 'f32') : undefined;
      const want = matmulColumnsRef(p.a, p.b, { ...p, bias: biasWide, wide, stride, col, accumulate });
      const outside = (c: Float32Array) => c.filter((_, i) => i % stride < col || i % stride >= col + p.N);
      for (const [kernel, tol] of [['portable', TOL.f32], ...kernels] as [MatmulKernel, number][]) {
        const a = ctx.upload('f32', [p.M, p.K], p.a),
          b = ctx.upload(p.bDtype, [p.N, p.K], p.b),
          c = ctx.upload('f32', [p.M, stride], wide);
        const bias = biasWide ? ctx.upload(p.biasDtype ?? 'f32', [stride], biasWide) : undefined;
        const rec = ctx.recorder();
        matmul(rec, { a, b, c, M: p.M, N: p.N, K: p.K, transB: true, alpha: p.alpha, bias, accumulate, cRowStride: stride, cColumn: col, variant: kernel });
        rec.submit();
        const got = await ctx.readF32(c);
        const what = `${describeProblem(p)} ${kernel} into columns [${col}, ${col + p.N}) of ${stride} (seed ${seed})`;
        expectClose(got, want, tol, what);
        expectSameBits(outside(got), outside(wide), `${what}: columns outside the slice`);
        ctx.free(a, b, c, bias);
      }
    }
  });

  it('operands inside larger tensors (aOffset, aRowStride, bOffset, cOffset): row ranges and column slices, every kernel, nothing else written', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    // Pipelines already built above (the defines do not change: odd offsets only where loads are scalar anyway,
    // multiples of 8 where they are vectors): unaligned plain products (skinny, portable), with and without
    // transA (the LoRA dW forms: a row range of the reduction), and an aligned full epilogue (every kernel).
    const cases: [Problem, [MatmulKernel, number][], MatmulLayout][] = [
      [
        problem(r, [33, 65, 17], { transB: true, bDtype: 'bf16' }),
        [['skinny', TOL.f32]],
        { aOffset: 3 * 29 + 5, aRowStride: 29, bOffset: 7, cOffset: 2 * 70 + 1, cRowStride: 70, cColumn: 3 },
      ],
      [
        problem(r, [33, 65, 17], { transA: true, bDtype: 'f16' }),
        [['skinny', TOL.f32]],
        { aOffset: 41, aRowStride: 33, bOffset: 65 * 3 + 1, cOffset: 33 * 65, cRowStride: 65, cColumn: 0 },
      ],
      [
        epilogueProblem(r, [40, 48, 136], false, true),
        otherKernels(ctx),
        { aOffset: 5 * 152 + 8, aRowStride: 152, bOffset: 24, cOffset: 3 * 53, cRowStride: 53, cColumn: 4 },
      ],
      [
        epilogueProblem(r, [72, 200, 64], true, false),
        [['skinny', TOL.f32]],
        { aOffset: 9 * 72, aRowStride: 72, bOffset: 200 * 8, cOffset: 200 * 5, cRowStride: 200, cColumn: 0 },
      ],
    ];
    for (const [p, kernels, at] of cases) {
      const { M, N, K } = p;
      const [aRows, aCols] = p.transA ? [K, M] : [M, K];
      const aLen = at.aOffset + (aRows - 1) * at.aRowStride + aCols + 6,
        bLen = at.bOffset + N * K + 10,
        cLen = at.cOffset + (M - 1) * at.cRowStride + at.cColumn + N + 9;
      const aAll = randn(aLen, r),
        bAll = roundTo(randn(bLen, r, 0.5), p.bDtype),
        cAll = randn(cLen, r);
      const bias = p.bias ? roundTo(randn(at.cRowStride, r), p.biasDtype ?? 'f32') : undefined;
      const accumulate = Boolean(p.c0);
      const want = matmulLayoutRef(aAll, bAll, cAll, { ...p, ...at, bias, accumulate });
      const addressed = new Set<number>();
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) addressed.add(at.cOffset + m * at.cRowStride + at.cColumn + n);
      const outside = (c: Float32Array) => c.filter((_, i) => !addressed.has(i));
      for (const [kernel, tol] of [['portable', TOL.f32], ...kernels] as [MatmulKernel, number][]) {
        const a = ctx.upload('f32', [aLen], aAll),
          b = ctx.upload(p.bDtype, [bLen], bAll),
          c = ctx.upload('f32', [cLen], cAll);
        const biasT = bias ? ctx.upload(p.biasDtype ?? 'f32', [at.cRowStride], bias) : undefined;
        const rec = ctx.recorder();
        matmul(rec, { a, b, c, M, N, K, transA: p.transA, transB: p.transB, alpha: p.alpha, bias: biasT, accumulate, variant: kernel, ...at });
        rec.submit();
        const got = await ctx.readF32(c);
        const what = `${describeProblem(p)} ${kernel} at ${JSON.stringify(at)} (seed ${seed})`;
        expectClose(got, want, tol, what);
        expectSameBits(outside(got), outside(cAll), `${what}: elements outside C`);
        ctx.free(a, b, c, biasT);
      }
    }
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const a = ctx.empty('f32', [4, 6]),
      b = ctx.empty('bf16', [5, 6]),
      c = ctx.empty('f32', [4, 5]);
    const c44 = ctx.empty('f32', [4, 4]),
      u = ctx.empty('u32', [5, 6]),
      abf = ctx.empty('bf16', [4, 6]),
      bias = ctx.empty('f32', [4]);
    const b66 = ctx.empty('f32', [6, 6]);
    const rec = ctx.recorder();
    const ok = { a, b, c, M: 4, N: 5, K: 6, transB: true };
    expect(() => matmul(rec, { ...ok, transB: false })).toThrow(/matmul.b: expected shape \[6, 5\], got \[5, 6\]/);
    expect(() => matmul(rec, { ...ok, K: 7 })).toThrow(/matmul.a: expected shape \[4, 7\]/);
    expect(() => matmul(rec, { ...ok, c: c44 })).toThrow(/matmul.c: expected shape \[4, 5\]/);
    expect(() => matmul(rec, { ...ok, b: u })).toThrow(/matmul.b: dtype u32 not supported/);
    expect(() => matmul(rec, { ...ok, a: abf })).toThrow(/matmul.a: dtype bf16 not supported/);
    expect(() => matmul(rec, { ...ok, bias })).toThrow(/matmul.bias: expected 5 elements/);
    expect(() => matmul(rec, { a, b: b66, c: a, M: 4, N: 6, K: 6 })).toThrow(/c shares a buffer with a/);
    expect(() => matmul(rec, { ...ok, M: 2.5 })).toThrow(/M must be a non-negative integer/);
    expect(() => matmul(rec, { ...ok, variant: 'fast' as never })).toThrow(/unknown variant 'fast'/);
    expect(() => matmul(rec, { ...ok, cRowStride: 6, cColumn: 2 })).toThrow(/cRowStride must be an integer >= cColumn \+ N = 7, got 6/);
    expect(() => matmul(rec, { ...ok, cColumn: -1 })).toThrow(/cColumn must be a non-negative integer/);
    expect(() => matmul(rec, { ...ok, cRowStride: 6 })).toThrow(/matmul.c: expected shape \[4, 6\], got \[4, 5\]/);
    expect(() => matmul(rec, { ...ok, M: 3, aOffset: 7 })).toThrow(/matmul.a: \[3, 6\] at element offset 7 with row stride 6 reaches element 25, past the 24/);
    expect(() => matmul(rec, { ...ok, M: 2, aRowStride: 5 })).toThrow(/aRowStride must be >= A's row length 6, got 5/);
    expect(() => matmul(rec, { ...ok, bOffset: -2 })).toThrow(/bOffset must be a non-negative integer/);
    expect(() => matmul(rec, { ...ok, M: 1, aOffset: 0, cOffset: 16 })).toThrow(
      /matmul.c: \[1, 5\] at element offset 16 with row stride 5 reaches element 21, past the 20/,
    );
    expect(rec.pending).toBe(0);
    ctx.free(a, b, c, c44, u, abf, bias, b66);
  });

  it('matmulFlops counts a multiply and an add per term', () => {
    expect(matmulFlops(4096, 4096, 4096)).toBe(2 * 4096 ** 3);
    expect(matmulFlops(1, 7, 13)).toBe(182);
  });
});
