import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { crossEntropyBackward, crossEntropyForward, crossEntropyFused } from '../../src/ops/cross-entropy.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randint, randn, rng, sampleCoords, TOL } from '../harness/numerics.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../ref/cross-entropy.ts';

/** PyTorch's ignore_index (-100) as a u32: out of range, so the token is ignored. */
const IGNORE = 0xffffff9c;

interface Inputs {
  logits: Float32Array;
  targets: Uint32Array;
  mask: Float32Array;
}

/** Random logits, targets (about 1 in 8 out of range) and token weights (0, 0.5, 1 or 2). */
function makeInputs(rows: number, vocab: number, r: () => number, scale = 3): Inputs {
  const targets = randint(rows, r, vocab);
  const mask = new Float32Array(rows);
  for (let t = 0; t < rows; t++) {
    if (r() < 0.125) targets[t] = IGNORE;
    mask[t] = [0, 0.5, 1, 1, 1, 2][Math.floor(r() * 6)]!;
  }
  if (rows > 0 && mask.every((w, t) => w === 0 || targets[t] === IGNORE)) {
    mask[0] = 1;
    targets[0] = vocab - 1;
  }
  return { logits: randn(rows * vocab, r, scale), targets, mask };
}

function uploadInputs(ctx: GpuContext, rows: number, vocab: number, x: Inputs) {
  return {
    logits: ctx.upload('f32', [rows, vocab], x.logits),
    targets: ctx.upload('u32', [rows], x.targets),
    mask: ctx.upload('f32', [rows], x.mask),
  };
}

function poisoned(ctx: GpuContext, shape: number[]): Tensor {
  const t = ctx.empty('f32', shape);
  ctx.fill(t);
  return t;
}

async function checkAll(ctx: GpuContext, rows: number, vocab: number, x: Inputs, seed: number): Promise<void> {
  const what = `rows=${rows} vocab=${vocab} seed ${seed}`;
  const ref = crossEntropyRef(x.logits, x.targets, x.mask, rows, vocab);
  const t = uploadInputs(ctx, rows, vocab, x);
  const losses = poisoned(ctx, [rows]),
    stats = poisoned(ctx, [rows, 2]),
    loss = poisoned(ctx, [1]);
  const dlogits = poisoned(ctx, [rows, vocab]),
    dLoss = ctx.upload('f32', [1], [0.7]);
  const fusedLosses = poisoned(ctx, [rows]),
    fusedLoss = poisoned(ctx, [1]),
    fusedDx = poisoned(ctx, [rows, vocab]);
  const inPlace = ctx.upload('f32', [rows, vocab], x.logits);
  const inPlaceLosses = poisoned(ctx, [rows]),
    inPlaceLoss = poisoned(ctx, [1]);
  const rec = ctx.recorder();
  crossEntropyForward(rec, { ...t, rows, vocab, losses, stats, loss });
  crossEntropyBackward(rec, { ...t, rows, vocab, stats, dlogits, dLoss });
  crossEntropyFused(rec, { ...t, rows, vocab, losses: fusedLosses, loss: fusedLoss, dlogits: fusedDx });
  crossEntropyFused(rec, { ...t, logits: inPlace, rows, vocab, losses: inPlaceLosses, loss: inPlaceLoss, dlogits: 'in-place', dLoss: 2.5 });
  rec.submit();
  const dx = crossEntropyBackwardRef(x.logits, x.targets, x.mask, rows, vocab);
  const scaled = (s: number) => dx.map((v) => v * s);
  expectClose(await ctx.read(losses), ref.losses, TOL.f32, `losses (${what})`);
  expectClose(await ctx.read(stats), ref.stats, TOL.f32, `stats (${what})`);
  expectClose(await ctx.read(loss), [ref.loss], TOL.f32, `loss (${what})`);
  expectClose(await ctx.read(dlogits), scaled(0.7), TOL.f32, `dlogits, dLoss tensor (${what})`);
  expectClose(await ctx.read(fusedLosses), ref.losses, TOL.f32, `fused losses (${what})`);
  expectClose(await ctx.read(fusedLoss), [ref.loss], TOL.f32, `fused loss (${what})`);
  expectClose(await ctx.read(fusedDx), dx, TOL.f32, `fused dlogits (${what})`);
  expectClose(await ctx.read(inPlaceLosses), ref.losses, TOL.f32, `in-place losses (${what})`);
  expectClose(await ctx.read(inPlaceLoss), [ref.loss], TOL.f32, `in-place loss (${what})`);
  expectClose(await ctx.read(inPlace), scaled(2.5), TOL.f32, `in-place dlogits, dLoss 2.5 (${what})`);

  // The separate backward in place, from the saved stats.
  const inPlace2 = ctx.upload('f32', [rows, vocab], x.logits);
  const rec2 = ctx.recorder();
  crossEntropyBackward(rec2, { ...t, logits: inPlace2, rows, vocab, stats, dlogits: 'in-place' });
  rec2.submit();
  expectClose(await ctx.read(inPlace2), dx, TOL.f32, `backward in place (${what})`);
  ctx.free(t.logits, t.targets, t.mask, losses, stats, loss, dlogits, dLoss, fusedLosses, fusedLoss, fusedDx, inPlace, inPlaceLosses, inPlaceLoss, inPlace2);
}

describe('cross_entropy', () => {
  it('reference backward matches finite differences (weights, ignored token, dLoss)', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const rows = 4,
      vocab = 9;
    const x = makeInputs(rows, vocab, r);
    x.targets[1] = IGNORE;
    x.mask.set([1, 1, 0.5, 2]);
    const logits = f64(x.logits);
    const loss = () => 1.3 * crossEntropyRef(logits, x.targets, x.mask, rows, vocab).loss;
    const an = crossEntropyBackwardRef(logits, x.targets, x.mask, rows, vocab, 1.3);
    checkGradient(loss, logits, an, { what: `cross-entropy dlogits (seed ${seed})`, coords: sampleCoords(logits.length, 36, r) });
  });

  const shapes: [number, number][] = [
    [1, 1],
    [3, 1],
    [1, 7],
    [5, 7],
    [6, 255],
    [7, 1000],
    [3, 2049],
  ];
  for (const [rows, vocab] of shapes) {
    it(`loss, stats, backward, fused and in place: rows=${rows} vocab=${vocab}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      await checkAll(ctx, rows, vocab, makeInputs(rows, vocab, rng(seed)), seed);
    });
  }

  it('Qwen2.5 vocabulary (152064), a few rows', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    await checkAll(ctx, 3, 152064, makeInputs(3, 152064, rng(seed), 4), seed);
  });

  it('large-magnitude logits (about ±1e4) stay finite and accurate', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const rows = 5,
      vocab = 301;
    const x = makeInputs(rows, vocab, r);
    x.mask.fill(1);
    x.targets.set(randint(rows, r, vocab));
    for (let i = 0; i < vocab; i++) {
      x.logits[i] = 1e4 * (2 * r() - 1); // spread over ±1e4: a near one-hot softmax
      x.logits[vocab + i] = 1e4 + 5 * r(); // all near +1e4: a spread softmax at a large offset
      x.logits[2 * vocab + i] = -1e4 - 5 * r();
      x.logits[3 * vocab + i] = i % 2 ? 1e4 : -1e4;
    }
    await checkAll(ctx, rows, vocab, x, seed);
  });

  it('all tokens masked or ignored: loss 0 and zero gradients, not NaN', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 4,
      vocab = 33;
    const x = makeInputs(rows, vocab, rng(seed));
    x.mask.set([0, 0, 1, 2]);
    x.targets.set([1, 2, IGNORE, vocab]); // the weighted tokens have out-of-range targets
    const t = uploadInputs(ctx, rows, vocab, x);
    const losses = poisoned(ctx, [rows]),
      loss = poisoned(ctx, [1]),
      dx = poisoned(ctx, [rows, vocab]);
    const rec = ctx.recorder();
    crossEntropyFused(rec, { ...t, rows, vocab, losses, loss, dlogits: dx });
    crossEntropyFused(rec, { ...t, rows, vocab, losses, loss, dlogits: 'in-place' });
    rec.submit();
    expect(Array.from(await ctx.read(losses)), `seed ${seed}`).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ctx.read(loss))).toEqual([0]);
    expect(
      (await ctx.read(dx)).every((v) => v === 0),
      'dlogits all zero',
    ).toBe(true);
    expect(
      (await ctx.read(t.logits)).every((v) => v === 0),
      'in-place dlogits all zero',
    ).toBe(true);
    ctx.free(t.logits, t.targets, t.mask, losses, loss, dx);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const logits = ctx.empty('f32', [2, 5]),
      targetsF = ctx.empty('f32', [2]),
      targets = ctx.empty('u32', [2]),
      mask = ctx.empty('f32', [2]);
    const losses = ctx.empty('f32', [2]),
      loss = ctx.empty('f32', [1]),
      stats = ctx.empty('f32', [2, 2]);
    const rec = ctx.recorder();
    expect(() => crossEntropyForward(rec, { logits, targets: targetsF, mask, losses, stats, loss, rows: 2, vocab: 5 })).toThrow(
      /cross_entropy.targets: dtype f32/,
    );
    expect(() => crossEntropyForward(rec, { logits, targets, mask, losses, stats, loss, rows: 2, vocab: 4 })).toThrow(
      /cross_entropy.logits: expected 8 elements/,
    );
    expect(() => crossEntropyFused(rec, { logits, targets, mask, losses, loss, dlogits: logits, rows: 2, vocab: 5 })).toThrow(/in-place/);
    expect(() => crossEntropyBackward(rec, { logits, targets, mask, stats, dlogits: 'in-place', dLoss: losses, rows: 2, vocab: 5 })).toThrow(
      /dLoss: expected 1 elements/,
    );
    ctx.free(logits, targetsF, targets, mask, losses, loss, stats);
  });
});
