import { describe, expect, it } from 'vitest';
import { adamwStep, type AdamWHyper } from '../../src/ops/adamw.ts';
import { gradNorm, gradNormPartials } from '../../src/ops/grad-norm.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, f64, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { adamwRef } from '../ref/adamw.ts';
import { gradNormRef } from '../ref/grad-norm.ts';

type Hyper = Omit<AdamWHyper, 'step'>;

const settings: [string, Hyper][] = [
  ['defaults with weight decay', { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }],
  ['no decay, large eps, low betas', { lr: 0.2, beta1: 0.5, beta2: 0.75, eps: 1e-3, weightDecay: 0 }],
  ['beta1 = 0, strong decay', { lr: 0.01, beta1: 0, beta2: 0.99, eps: 1e-6, weightDecay: 0.5 }],
];

describe('adamw', () => {
  for (const n of [1, 7, 1000, 70001]) {
    for (const [name, h] of settings) {
      it(`5 steps vs the PyTorch-docs reference: n=${n}, ${name}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        const p0 = randn(n, r);
        const param = ctx.upload('f32', [n], p0),
          grad = ctx.empty('f32', [n]);
        const m = ctx.upload('f32', [n], new Float32Array(n)),
          v = ctx.upload('f32', [n], new Float32Array(n));
        const refP = f64(p0),
          refM = new Float64Array(n),
          refV = new Float64Array(n);
        for (let step = 1; step <= 5; step++) {
          const g = randn(n, r, step === 3 ? 1e-4 : 1); // one step with tiny gradients, where eps matters
          ctx.write(grad, g);
          const rec = ctx.recorder();
          adamwStep(rec, { ...h, step, param, grad, m, v });
          rec.submit();
          adamwRef(refP, g, refM, refV, { ...h, step });
        }
        const gotP = await ctx.read(param);
        expectClose(gotP, refP, TOL.f32, `param (seed ${seed})`);
        // The update alone, so a wrong step cannot hide behind the size of the parameters. Each of the 5 steps rounds the
        // f32 parameter (at most half an ulp, |p|·2^-24), which the f64 reference does not: that rounding, relative to the
        // size of the update, is the tolerance on top of TOL.f32 (it matters when one small update dominates, e.g. n = 1).
        const refDelta = refP.map((x, i) => x - p0[i]!);
        let rounding = 0;
        let deltaSq = 0;
        refP.forEach((x, i) => {
          rounding += (5 * Math.max(Math.abs(x), Math.abs(p0[i]!)) * 2 ** -24) ** 2;
          deltaSq += refDelta[i]! ** 2;
        });
        expectClose(
          gotP.map((x, i) => x - p0[i]!),
          refDelta,
          TOL.f32 + rounding / deltaSq,
          `param - param0 (seed ${seed})`,
        );
        expectClose(await ctx.read(m), refM, TOL.f32, `m (seed ${seed})`);
        expectClose(await ctx.read(v), refV, TOL.f32, `v (seed ${seed})`);
        ctx.free(param, grad, m, v);
      });
    }
  }

  it('clips with the scale tensor from gradNorm (no readback), over 3 steps and two tensors', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const h: Hyper = { lr: 0.03, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const sizes = [333, 4100];
    const p0 = sizes.map((n) => randn(n, r));
    const params = p0.map((p) => ctx.upload('f32', [p.length], p));
    const grads = sizes.map((n) => ctx.empty('f32', [n]));
    const ms = sizes.map((n) => ctx.upload('f32', [n], new Float32Array(n)));
    const vs = sizes.map((n) => ctx.upload('f32', [n], new Float32Array(n)));
    const partials = ctx.empty('f32', [gradNormPartials(grads)]),
      norm = ctx.empty('f32', [1]),
      clipScale = ctx.empty('f32', [1]);
    const refP = p0.map(f64),
      refM = sizes.map((n) => new Float64Array(n)),
      refV = sizes.map((n) => new Float64Array(n));
    const maxNorm = 1;
    for (let step = 1; step <= 3; step++) {
      const g = sizes.map((n) => randn(n, r, step === 2 ? 0.001 : 2)); // step 2 is not clipped
      g.forEach((x, i) => {
        ctx.write(grads[i]!, x);
      });
      const rec = ctx.recorder();
      gradNorm(rec, { grads, partials, norm, clipScale, maxNorm });
      sizes.forEach((_, i) => {
        adamwStep(rec, { ...h, step, param: params[i]!, grad: grads[i]!, m: ms[i]!, v: vs[i]!, clipScale });
      });
      rec.submit();
      const { clip } = gradNormRef(g, maxNorm);
      if (step === 2) expect(clip).toBe(1);
      sizes.forEach((_, i) => {
        adamwRef(refP[i]!, g[i]!, refM[i]!, refV[i]!, { ...h, step }, clip);
      });
    }
    for (let i = 0; i < sizes.length; i++) {
      const gotP = await ctx.read(params[i]!);
      expectClose(
        gotP.map((x, j) => x - p0[i]![j]!),
        refP[i]!.map((x, j) => x - p0[i]![j]!),
        TOL.f32,
        `param[${i}] update (seed ${seed})`,
      );
      expectClose(await ctx.read(ms[i]!), refM[i]!, TOL.f32, `m[${i}] (seed ${seed})`);
      expectClose(await ctx.read(vs[i]!), refV[i]!, TOL.f32, `v[${i}] (seed ${seed})`);
    }
    ctx.free(...params, ...grads, ...ms, ...vs, partials, norm, clipScale);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const p = ctx.empty('f32', [8]),
      g = ctx.empty('f32', [7]),
      m = ctx.empty('f32', [8]),
      v = ctx.empty('f32', [8]);
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
    const rec = ctx.recorder();
    expect(() => adamwStep(rec, { ...h, param: p, grad: g, m, v })).toThrow(/adamw.grad: expected 8 elements/);
    expect(() => adamwStep(rec, { ...h, step: 0, param: p, grad: p, m, v })).toThrow(/adamw: invalid step/);
    expect(() => adamwStep(rec, { ...h, beta2: 1, param: p, grad: p, m, v })).toThrow(/beta2/);
    ctx.free(p, g, m, v);
  });
});
