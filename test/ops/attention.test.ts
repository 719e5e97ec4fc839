import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { Tensor } from '../../src/gpu/tensor.ts';
import { attentionBackward, attentionFlops, attentionForward, attentionScratch, seqStartFromLengths } from '../../src/ops/attention.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { attentionBackwardRef, attentionRef, packedSeqStart, type AttentionShape } from '../ref/attention.ts';

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dOut: Float32Array;
  seqStart: Uint32Array;
}

function randomInputs(s: AttentionShape, lengths: readonly number[], r: () => number): Inputs {
  const { T, Hq, Hkv, D } = s;
  return {
    q: randn(T * Hq * D, r),
    k: randn(T * Hkv * D, r),
    v: randn(T * Hkv * D, r),
    dOut: randn(T * Hq * D, r),
    seqStart: packedSeqStart(lengths),
  };
}

const shapeOf = (T: number, Hq: number, Hkv: number, D: number, scale = 1 / Math.sqrt(D)): AttentionShape => ({ T, Hq, Hkv, D, scale });

/** Runs forward (and backward unless forwardOnly) on the GPU with poisoned outputs; returns what was read back. */
async function runGpu(ctx: GpuContext, s: AttentionShape, x: Inputs, forwardOnly = false) {
  const { T, Hq, Hkv, D, scale } = s;
  const q = ctx.upload('f32', [T, Hq, D], x.q),
    k = ctx.upload('f32', [T, Hkv, D], x.k),
    v = ctx.upload('f32', [T, Hkv, D], x.v);
  const seqStart = ctx.upload('u32', [T], x.seqStart);
  const out = ctx.empty('f32', [T, Hq, D]),
    lse = ctx.empty('f32', [Hq, T]);
  const rec = ctx.recorder();
  for (const t of [out, lse]) ctx.fill(t);
  attentionForward(rec, { q, k, v, out, lse, seqStart, T, Hq, Hkv, D, scale });
  const grads = forwardOnly
    ? null
    : {
        dOut: ctx.upload('f32', [T, Hq, D], x.dOut),
        dq: ctx.empty('f32', [T, Hq, D]),
        dk: ctx.empty('f32', [T, Hkv, D]),
        dv: ctx.empty('f32', [T, Hkv, D]),
        scratch: attentionScratch(ctx, { T, Hq }),
      };
  if (grads) {
    for (const t of [grads.dq, grads.dk, grads.dv, grads.scratch.di]) ctx.fill(t);
    attentionBackward(rec, { q, k, v, out, lse, seqStart, T, Hq, Hkv, D, scale, ...grads });
  }
  rec.submit();
  const res = {
    out: await ctx.readF32(out),
    lse: await ctx.readF32(lse),
    dq: grads && (await ctx.readF32(grads.dq)),
    dk: grads && (await ctx.readF32(grads.dk)),
    dv: grads && (await ctx.readF32(grads.dv)),
  };
  ctx.free(q, k, v, seqStart, out, lse, ...(grads ? [grads.dOut, grads.dq, grads.dk, grads.dv, grads.scratch.di] : []));
  rec.dispose();
  return res;
}

function checkAgainstRef(s: AttentionShape, x: Inputs, got: Awaited<ReturnType<typeof runGpu>>, what: string): void {
  const ref = attentionRef(x.q, x.k, x.v, x.seqStart, s);
  expectClose(got.out, ref.out, TOL.f32, `out (${what})`);
  expectClose(got.lse, ref.lse, TOL.f32, `lse (${what})`);
  const g = attentionBackwardRef(x.q, x.k, x.v, x.dOut, x.seqStart, s);
  expectClose(got.dq!, g.dq, TOL.f32, `dq (${what})`);
  expectClose(got.dk!, g.dk, TOL.f32, `dk (${what})`);
  expectClose(got.dv!, g.dv, TOL.f32, `dv (${what})`);
}

describe('attention', () => {
  it('reference backward matches finite differences (packed, GQA)', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const lengths = [3, 1, 4];
    const s = shapeOf(8, 4, 2, 5);
    const x = randomInputs(s, lengths, r);
    const q = f64(x.q),
      k = f64(x.k),
      v = f64(x.v);
    const loss = () => attentionRef(q, k, v, x.seqStart, s).out.reduce((acc, o, i) => acc + o * x.dOut[i]!, 0);
    const g = attentionBackwardRef(q, k, v, x.dOut, x.seqStart, s);
    for (const [name, t, an] of [
      ['dq', q, g.dq],
      ['dk', k, g.dk],
      ['dv', v, g.dv],
    ] as const) {
      checkGradient(loss, t, an, { what: `attention ${name} (seed ${seed})`, coords: sampleCoords(t.length, 40, r) });
    }
  });

  it('seqStartFromLengths packs sequences back to back', () => {
    expect([...seqStartFromLengths([2, 1, 3])]).toEqual([...packedSeqStart([2, 1, 3])]);
    expect([...seqStartFromLengths([2, 1, 3])]).toEqual([0, 0, 2, 3, 3, 3]);
  });

  for (const D of [8, 64, 80, 128]) {
    for (const [Hq, Hkv] of [
      [3, 1],
      [6, 2],
      [4, 4],
    ] as const) {
      for (const T of [1, 7, 65]) {
        it(`forward and backward, T=${T} Hq=${Hq} Hkv=${Hkv} D=${D}`, async () => {
          const ctx = await testContext();
          const seed = freshSeed();
          const s = shapeOf(T, Hq, Hkv, D);
          const x = randomInputs(s, [T], rng(seed));
          checkAgainstRef(s, x, await runGpu(ctx, s, x), `seed ${seed}`);
        });
      }
    }
  }

  // D=6: a head dim that is not a multiple of 4; the last case also takes a non-default scale.
  for (const [lengths, D, scale] of [
    [[5, 17, 43], 24, undefined],
    [[64, 1, 2], 6, undefined],
    [[30, 70], 64, 0.3],
  ] as const) {
    it(`packed batch ${lengths.join('+')} (D=${D}, scale ${scale ?? 'default'}) matches the reference and each sequence run alone`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const T = lengths.reduce((a, b) => a + b, 0);
      const [Hq, Hkv] = [6, 2];
      const s = shapeOf(T, Hq, Hkv, D, scale);
      const x = randomInputs(s, lengths, r);
      const packed = await runGpu(ctx, s, x);
      checkAgainstRef(s, x, packed, `seed ${seed}`);
      let t0 = 0;
      for (const len of lengths) {
        const sub = { ...s, T: len };
        const rowsQ = (a: Float32Array) => a.slice(t0 * Hq * D, (t0 + len) * Hq * D);
        const rowsKv = (a: Float32Array) => a.slice(t0 * Hkv * D, (t0 + len) * Hkv * D);
        const alone = await runGpu(ctx, sub, { q: rowsQ(x.q), k: rowsKv(x.k), v: rowsKv(x.v), dOut: rowsQ(x.dOut), seqStart: new Uint32Array(len) });
        const what = `sequence at ${t0} of ${lengths.join('+')} (seed ${seed})`;
        expectClose(rowsQ(packed.out), alone.out, TOL.f32, `out, ${what}`);
        const lsePacked = new Float32Array(Hq * len);
        for (let h = 0; h < Hq; h++) lsePacked.set(packed.lse.subarray(h * T + t0, h * T + t0 + len), h * len);
        expectClose(lsePacked, alone.lse, TOL.f32, `lse, ${what}`);
        expectClose(rowsQ(packed.dq!), alone.dq!, TOL.f32, `dq, ${what}`);
        expectClose(rowsKv(packed.dk!), alone.dk!, TOL.f32, `dk, ${what}`);
        expectClose(rowsKv(packed.dv!), alone.dv!, TOL.f32, `dv, ${what}`);
        t0 += len;
      }
    });
  }

  it('is deterministic: two runs give bit-identical results', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const s = shapeOf(100, 6, 2, 24);
    const x = randomInputs(s, [40, 60], rng(seed));
    const first = await runGpu(ctx, s, x);
    const second = await runGpu(ctx, s, x);
    for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) {
      expect(second[key], `${key} (seed ${seed})`).toEqual(first[key]);
    }
  });

  it('long sequence T=8192 (sampled rows vs the reference)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const s = shapeOf(8192, 1, 1, 64);
    const x = randomInputs(s, [s.T], r);
    const got = await runGpu(ctx, s, x, true);
    const rows = [0, 1, 63, 64, 4095, 8191, ...sampleCoords(s.T, 10, r)];
    const ref = attentionRef(x.q, x.k, x.v, x.seqStart, s, rows);
    const { Hq, D, T } = s;
    const out = new Float32Array(rows.length * Hq * D),
      lse = new Float32Array(Hq * rows.length);
    rows.forEach((i, n) => {
      out.set(got.out.subarray(i * Hq * D, (i + 1) * Hq * D), n * Hq * D);
      for (let h = 0; h < Hq; h++) lse[h * rows.length + n] = got.lse[h * T + i]!;
    });
    expectClose(out, ref.out, TOL.f32, `out rows (seed ${seed})`);
    expectClose(lse, ref.lse, TOL.f32, `lse rows (seed ${seed})`);
  });

  it('attentionFlops counts only unmasked pairs', () => {
    const causal = attentionFlops(1024, 8, 64);
    const full = attentionFlops(1024, 8, 64, false);
    expect(full.forward).toBe(4 * 1024 * 1024 * 8 * 64);
    expect(causal.forward / full.forward).toBeCloseTo(0.5, 2);
    expect(causal.backward / causal.forward).toBe(2.5);
  });

  // KV-cache decode: T new queries at key positions queryOffset.. attend to Tk = past + new keys. The keys live in a
  // larger cache buffer (poisoned past Tk) bound through a view, as the model's KV cache binds them.
  for (const [Tq, Tk, Hq, Hkv, D] of [
    [1, 1, 2, 1, 8],
    [1, 37, 6, 2, 64],
    [3, 70, 3, 1, 6],
    [65, 130, 4, 4, 24],
  ] as const) {
    it(`query length ${Tq} != key length ${Tk} (queryOffset ${Tk - Tq}, Hq=${Hq} Hkv=${Hkv} D=${D}) matches the full-sequence rows`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const s = shapeOf(Tk, Hq, Hkv, D);
      const x = randomInputs(s, [Tk], r);
      const queryOffset = Tk - Tq;
      const maxT = Tk + 5;
      const q = ctx.upload('f32', [Tq, Hq, D], x.q.subarray(queryOffset * Hq * D));
      const kCache = ctx.empty('f32', [maxT, Hkv, D]),
        vCache = ctx.empty('f32', [maxT, Hkv, D]);
      ctx.fill(kCache);
      ctx.fill(vCache);
      const k = new Tensor(kCache.buffer, 'f32', [Tk, Hkv, D], kCache.byteOffset);
      const v = new Tensor(vCache.buffer, 'f32', [Tk, Hkv, D], vCache.byteOffset);
      ctx.write(k, x.k);
      ctx.write(v, x.v);
      const seqStart = ctx.upload('u32', [Tq], new Uint32Array(Tq));
      const out = ctx.empty('f32', [Tq, Hq, D]),
        lse = ctx.empty('f32', [Hq, Tq]);
      ctx.fill(out);
      ctx.fill(lse);
      const rec = ctx.recorder();
      attentionForward(rec, { q, k, v, out, lse, seqStart, T: Tq, Tk, queryOffset, Hq, Hkv, D });
      rec.submit();
      const rows = Array.from({ length: Tq }, (_, i) => queryOffset + i);
      const ref = attentionRef(x.q, x.k, x.v, x.seqStart, s, rows);
      expectClose(await ctx.readF32(out), ref.out, TOL.f32, `out (seed ${seed})`);
      expectClose(await ctx.readF32(lse), ref.lse, TOL.f32, `lse (seed ${seed})`);
      ctx.free(q, kCache, vCache, seqStart, out, lse);
      rec.dispose();
    });
  }

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const T = 4;
    const mk = (n: number) => ctx.empty('f32', [n]);
    const args = (Hq: number, Hkv: number, D: number) => ({
      q: mk(T * Hq * D),
      k: mk(T * Hkv * D),
      v: mk(T * Hkv * D),
      out: mk(T * Hq * D),
      lse: mk(Hq * T),
      seqStart: ctx.empty('u32', [T]),
      T,
      Hq,
      Hkv,
      D,
    });
    const rec = ctx.recorder();
    const a = args(3, 2, 8);
    expect(() => attentionForward(rec, a)).toThrow(/Hq \(3\) must be a multiple of Hkv \(2\)/);
    const b = args(2, 1, 256);
    expect(() => attentionForward(rec, b)).toThrow(/head dim D=256 is over the supported maximum 128/);
    const c = args(2, 1, 8);
    expect(() => attentionForward(rec, { ...c, k: c.q })).toThrow(/attentionForward.k: expected 32 elements, got 64/);
    const f32SeqStart = mk(T);
    expect(() => attentionForward(rec, { ...c, seqStart: f32SeqStart })).toThrow(/attentionForward.seqStart: dtype f32 not supported here; expected u32/);
    expect(() => attentionForward(rec, { ...c, out: c.q })).toThrow(/attentionForward: out shares a buffer with q/);
    expect(() => attentionForward(rec, { ...c, Tk: 4, queryOffset: 1 })).toThrow(
      /queryOffset \(1\) must be a non-negative integer with queryOffset \+ T \(4\) <= Tk \(4\)/,
    );
    const di = mk(T);
    expect(() => attentionBackward(rec, { ...c, dOut: c.q, dq: c.out, dk: c.k, dv: c.v, scratch: { di } })).toThrow(
      /attentionBackward.scratch.di: expected 8 elements, got 4/,
    );
    expect(() => attentionBackward(rec, { ...c, queryOffset: 1, dOut: c.q, dq: c.out, dk: c.k, dv: c.v, scratch: { di } })).toThrow(
      /Tk and queryOffset are forward-only/,
    );
    expect(rec.pending).toBe(0);
    for (const t of [a, b, c]) ctx.free(t.q, t.k, t.v, t.out, t.lse, t.seqStart);
    ctx.free(di, f32SeqStart);
  });
});
