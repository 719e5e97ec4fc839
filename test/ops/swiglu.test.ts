import { describe, expect, it } from 'vitest';
import { swigluBackward, swigluForward } from '../../src/ops/swiglu.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { swigluBackwardRef, swigluRef } from '../ref/swiglu.ts';
import { dot, poisoned } from './elementwise-helpers.ts';

// [tokens, ffn]: T = 1, F = 1, F not a multiple of 4 (scalar path), numel a multiple of 4 with odd F (vec4 path).
const shapes: [number, number][] = [
  [1, 1],
  [1, 3],
  [3, 5],
  [4, 7],
  [7, 64],
  [13, 1001],
  [6, 8192],
];

async function run(gate: Float32Array, up: Float32Array, dh: Float32Array, tokens: number, ffn: number) {
  const ctx = await testContext();
  const shape = [tokens, ffn];
  const tg = ctx.upload('f32', shape, gate),
    tu = ctx.upload('f32', shape, up),
    tdh = ctx.upload('f32', shape, dh);
  const th = poisoned(ctx, 'f32', shape),
    tdg = poisoned(ctx, 'f32', shape),
    tdu = poisoned(ctx, 'f32', shape);
  const rec = ctx.recorder();
  swigluForward(rec, { gate: tg, up: tu, h: th, tokens, ffn });
  swigluBackward(rec, { gate: tg, up: tu, dh: tdh, dgate: tdg, dup: tdu, tokens, ffn });
  rec.submit();
  const out = { h: await ctx.read(th), dgate: await ctx.read(tdg), dup: await ctx.read(tdu) };
  ctx.free(tg, tu, tdh, th, tdg, tdu);
  return out;
}

describe('swiglu', () => {
  it('reference backward matches finite differences', () => {
    const r = rng(freshSeed());
    const n = 40;
    const g = f64(randn(n, r, 3)),
      u = f64(randn(n, r)),
      dh = f64(randn(n, r));
    const { dgate, dup } = swigluBackwardRef(g, u, dh);
    const loss = () => dot(swigluRef(g, u), dh);
    checkGradient(loss, g, dgate, { what: 'swiglu dgate', coords: sampleCoords(n, n, r) });
    checkGradient(loss, u, dup, { what: 'swiglu dup', coords: sampleCoords(n, n, r) });
  });

  for (const [tokens, ffn] of shapes) {
    it(`forward and backward, T=${tokens} F=${ffn}`, async () => {
      const seed = freshSeed();
      const r = rng(seed);
      const n = tokens * ffn;
      const gate = randn(n, r, 2),
        up = randn(n, r),
        dh = randn(n, r);
      const got = await run(gate, up, dh, tokens, ffn);
      const want = swigluBackwardRef(gate, up, dh);
      expectClose(got.h, swigluRef(gate, up), TOL.f32, `h (seed ${seed})`);
      expectClose(got.dgate, want.dgate, TOL.f32, `dgate (seed ${seed})`);
      expectClose(got.dup, want.dup, TOL.f32, `dup (seed ${seed})`);
    });
  }

  it('stays finite and accurate for large |gate| (exp would overflow f32 beyond 88.7)', async () => {
    const seed = freshSeed();
    const r = rng(seed);
    const big = [-1e30, -1000, -100, -89, -88.5, -30, 30, 88.5, 89, 100, 1000, 1e30];
    for (const vec4 of [true, false]) {
      const n = vec4 ? big.length : big.length + 1; // 12 elements take the vec4 path, 13 the scalar one
      const gate = Float32Array.from({ length: n }, (_, i) => big[i % big.length]!);
      const up = randn(n, r),
        dh = randn(n, r);
      const got = await run(gate, up, dh, 1, n);
      const want = swigluBackwardRef(gate, up, dh);
      for (const [name, a, e] of [
        ['h', got.h, swigluRef(gate, up)],
        ['dgate', got.dgate, want.dgate],
        ['dup', got.dup, want.dup],
      ] as const) {
        for (let i = 0; i < n; i++) {
          // Per element. WGSL's exp(x) may be off by 3 + 2|x| ulp, so allow that plus a few roundings, and a tiny
          // absolute floor: silu(-100) ~ -4e-42 is below f32's normal range and may flush to zero.
          const rel = (8 + 2 * Math.min(Math.abs(gate[i]!), 100)) * 2 ** -23;
          if (!(Math.abs(a[i]! - e[i]!) <= rel * Math.abs(e[i]!) + 1e-30)) {
            throw new Error(`${name}[${i}] for gate ${gate[i]}: got ${a[i]}, want ${e[i]} (vec4 ${vec4}, seed ${seed})`);
          }
        }
      }
    }
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const g = ctx.empty('f32', [2, 6]),
      u = ctx.empty('f32', [2, 5]),
      h = ctx.empty('f32', [2, 6]),
      hh = ctx.empty('f16', [2, 6]);
    const rec = ctx.recorder();
    expect(() => swigluForward(rec, { gate: g, up: u, h, tokens: 2, ffn: 6 })).toThrow(/swiglu.up: expected 12 elements/);
    expect(() => swigluForward(rec, { gate: g, up: h, h: hh, tokens: 2, ffn: 6 })).toThrow(/swiglu.h: dtype f16 not supported/);
    expect(() => swigluForward(rec, { gate: g, up: h, h, tokens: 2, ffn: 6 })).toThrow(/output h shares a buffer with up/);
    expect(() => swigluForward(rec, { gate: g, up: h, h: u, tokens: 0, ffn: 6 })).toThrow(/swiglu: tokens must be a positive integer, got 0/);
    ctx.free(g, u, h, hh);
  });
});
