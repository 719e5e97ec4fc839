import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { argmax, maskWords, NO_TOKEN, sample, type SamplingSettings } from '../../src/ops/sampling.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';
import { allowedRef, argmaxRef, filteredProbsRef, gumbelRef, sampleRef, type RowOptions, type SamplingRefSettings } from '../ref/sampling.ts';

const QWEN_VOCAB = 152064;

async function runArgmax(ctx: GpuContext, logits: Float32Array, rows: number, vocab: number, mask?: Uint32Array): Promise<Uint32Array> {
  const tl = ctx.upload('f32', [rows, vocab], logits),
    tokens = ctx.empty('u32', [rows]);
  const tm = mask && ctx.upload('u32', [rows, maskWords(vocab)], mask);
  ctx.fill(tokens, 0xdeadbeef);
  const rec = ctx.recorder();
  argmax(rec, { logits: tl, tokens, rows, vocab, mask: tm });
  rec.submit();
  const out = (await ctx.read(tokens)) as Uint32Array;
  ctx.free(tl, tokens, tm);
  return out;
}

async function runSample(ctx: GpuContext, logits: Float32Array, rows: number, vocab: number, s: SamplingSettings, o: RowOptions = {}): Promise<Uint32Array> {
  const tl = ctx.upload('f32', [rows, vocab], logits),
    tokens = ctx.empty('u32', [rows]);
  const mask = o.mask && ctx.upload('u32', [rows, maskWords(vocab)], o.mask);
  const streams = o.streams && ctx.upload('u32', [rows], o.streams);
  const steps = o.steps && ctx.upload('u32', [rows], o.steps);
  ctx.fill(tokens, 0xdeadbeef);
  const rec = ctx.recorder();
  sample(rec, { logits: tl, tokens, rows, vocab, ...s, mask, streams, steps });
  rec.submit();
  const out = (await ctx.read(tokens)) as Uint32Array;
  ctx.free(tl, tokens, mask, streams, steps);
  return out;
}

const full = (s: SamplingSettings): SamplingRefSettings => ({ topK: 0, topP: 1, step: 0, ...s });

/**
 * Every GPU token must be the reference's, except where f32 rounding can legitimately decide otherwise (a
 * near-tie of perturbed scores, or the top-p boundary within rounding of a group's mass); those must be rare.
 */
function expectSameTokens(got: Uint32Array, logits: Float32Array, rows: number, vocab: number, s: SamplingRefSettings, what: string, o: RowOptions = {}): void {
  const ref = sampleRef(logits, rows, vocab, s, o);
  let differ = 0;
  for (let r = 0; r < rows; r++) {
    if (got[r] === ref.tokens[r]) continue;
    differ++;
    if (!ref.acceptable[r]!.has(got[r]!)) {
      throw new Error(`${what}: row ${r} sampled ${got[r]}, reference ${ref.tokens[r]} (settings ${JSON.stringify(s)})`);
    }
  }
  expect(differ, `${what}: rows decided by rounding`).toBeLessThanOrEqual(Math.max(1, Math.ceil(rows * 0.05)));
}

/**
 * Frequencies over many rows (each row its own random stream, identical logits) against the filtered distribution.
 * The draws come from the CPU reference, which hashes the same counters (seed, stream, step, token) as the GPU: a
 * chi-square over 20000 draws is cheap there, and a short check on 1000 rows shows the GPU draws those very tokens
 * (but for rows within f32 rounding of a tie), so the GPU follows the same distribution. Fixed seeds make it deterministic; the chi-square bound has a false-alarm rate
 * below 1e-6 for a correct sampler, and an error of 0.03 in a probability of 0.3 alone adds about 60 to it.
 */
async function expectFrequencies(ctx: GpuContext, row: number[], s: SamplingSettings, allowedTokens?: number[]): Promise<void> {
  const vocab = row.length,
    rows = 20000,
    gpuRows = 1000;
  const logits = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) logits.set(row, r * vocab);
  let mask: Uint32Array | undefined;
  if (allowedTokens) {
    mask = new Uint32Array(rows); // vocab <= 32: one word per row
    for (let r = 0; r < rows; r++) for (const j of allowedTokens) mask[r]! |= 1 << j;
  }
  const drawn = sampleRef(logits, rows, vocab, full(s), { mask }).tokens;
  // The GPU's tokens for the first rows: the reference's, but for rows f32 rounding may decide (rare; Dawn, wgpu and
  // SwiftShader round log and exp differently), which expectSameTokens allows.
  const gpuLogits = logits.subarray(0, gpuRows * vocab);
  const gpuMask = mask?.subarray(0, gpuRows);
  const got = await runSample(ctx, gpuLogits, gpuRows, vocab, s, { mask: gpuMask });
  expectSameTokens(got, gpuLogits, gpuRows, vocab, full(s), 'GPU draws vs the reference draws of the same rows', { mask: gpuMask });
  const probs = filteredProbsRef(Float32Array.from(row), full(s), allowedRef(mask, 0, vocab));
  const counts = new Array<number>(vocab).fill(0);
  for (const t of drawn) counts[t]!++;
  let chi2 = 0,
    df = -1;
  for (let i = 0; i < vocab; i++) {
    if (probs[i] === 0) {
      expect(counts[i], `token ${i} is masked or filtered out but was drawn`).toBe(0);
      continue;
    }
    const e = rows * probs[i]!;
    chi2 += (counts[i]! - e) ** 2 / e;
    df++;
  }
  // P(chi2 > df + 10 sqrt(2 df) + 10) is below 1e-6 for df <= 7.
  expect(chi2, `counts ${counts} vs probs ${Array.from(probs, (p) => p.toFixed(4))}`).toBeLessThan(df + 10 * Math.sqrt(2 * df) + 10);
}

/** Logits on a coarse grid, so that many are exactly equal (ties at the top-k and top-p thresholds). */
function gridLogits(n: number, r: () => number): Float32Array {
  return randn(n, r, 1.5).map((x) => Math.round(x * 2) / 2);
}

describe('argmax', () => {
  for (const [rows, vocab] of [
    [1, 1],
    [3, 7],
    [5, 1000],
    [4, 4099],
    [2, QWEN_VOCAB],
  ] as const) {
    it(`matches torch.argmax, ties to the lowest index: rows=${rows} vocab=${vocab}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      for (const logits of [randn(rows * vocab, r), gridLogits(rows * vocab, r)]) {
        const got = await runArgmax(ctx, logits, rows, vocab);
        expect(Array.from(got), `seed ${seed}`).toEqual(Array.from(argmaxRef(logits, rows, vocab)));
      }
    });
  }

  it('ties across the whole row and at the end', async () => {
    const ctx = await testContext();
    const vocab = 515;
    const logits = new Float32Array(3 * vocab).fill(-2);
    logits.fill(5, vocab, 2 * vocab); // row 1: all equal -> 0
    logits[2 * vocab + 300] = 1;
    logits[2 * vocab + 514] = 1; // row 2: tie -> 300
    logits[vocab - 1] = 0; // row 0: the last -> 514
    expect(Array.from(await runArgmax(ctx, logits, 3, vocab))).toEqual([514, 0, 300]);
  });
});

describe('sample', () => {
  it('the reference Gumbel noise is standard Gumbel (mean 0.5772, variance pi^2/6)', () => {
    const n = 200000;
    let sum = 0,
      sq = 0;
    for (let i = 0; i < n; i++) {
      const g = gumbelRef(i, 3, 1, 12345);
      sum += g;
      sq += g * g;
    }
    const mean = sum / n,
      variance = sq / n - mean * mean;
    expect(Math.abs(mean - 0.5772156649)).toBeLessThan(0.01);
    expect(Math.abs(variance - Math.PI ** 2 / 6)).toBeLessThan(0.03);
  });

  const settings: SamplingSettings[] = [
    { temperature: 1, seed: 1 },
    { temperature: 0.7, topK: 20, topP: 0.8, seed: 7, step: 3 },
    { temperature: 1.3, topK: 5, seed: 99, step: 12 },
    { temperature: 0.5, topP: 0.9, seed: 2024 },
    { temperature: 2, topK: 50, topP: 0.3, seed: 0xffffffff, step: 0xfffffffe },
    { temperature: 1, topK: 100000, topP: 0, seed: 5 }, // top-k off (k >= vocab), top-p keeps only the top group
    { temperature: 0.05, topP: 0.99, seed: 31337 },
    { temperature: 0.9, topK: 300, topP: 0.95, seed: 77, step: 1 }, // more survivors than fit in workgroup memory
  ];
  for (const [rows, vocab] of [
    [1, 1],
    [16, 7],
    [24, 1000],
    [5, 4097],
  ] as const) {
    it(`GPU token equals the reference token: rows=${rows} vocab=${vocab}, random and tied logits`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      for (const [kind, logits] of [
        ['random', randn(rows * vocab, r, 2)],
        ['tied', gridLogits(rows * vocab, r)],
      ] as const) {
        for (const s of settings) {
          const got = await runSample(ctx, logits, rows, vocab, s);
          expectSameTokens(got, logits, rows, vocab, full(s), `${kind} logits, seed ${seed}`);
        }
      }
    });
  }

  it('Qwen2.5 vocabulary (152064): GPU token equals the reference token', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 3;
    const logits = randn(rows * QWEN_VOCAB, rng(seed), 3);
    for (const s of [settings[0]!, settings[1]!, { temperature: 1, topP: 0.95, seed: 8, step: 1 }]) {
      const got = await runSample(ctx, logits, rows, QWEN_VOCAB, s);
      expectSameTokens(got, logits, rows, QWEN_VOCAB, full(s), `seed ${seed}`);
    }
  });

  it('top-k = 1 and temperature 0 both give the argmax', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 9,
      vocab = 777;
    const logits = randn(rows * vocab, rng(seed));
    const want = Array.from(argmaxRef(logits, rows, vocab));
    // Greedy takes the first of equal maxima; top-k = 1 keeps every token tied at the max (random f32 logits do tie:
    // seed 3065108058 has two at 2.5710952 in one row) and samples among them, so it is checked by the chosen logit.
    expect(Array.from(await runSample(ctx, logits, rows, vocab, { temperature: 0, seed: 0 })), `greedy, seed ${seed}`).toEqual(want);
    const logitOf = (tokens: ArrayLike<number>) => Array.from(tokens, (t, r) => logits[r * vocab + t]!);
    for (const s of [
      { temperature: 1, topK: 1, seed: 3 },
      { temperature: 5, topK: 1, topP: 0.5, seed: 4, step: 9 },
    ]) {
      expect(logitOf(await runSample(ctx, logits, rows, vocab, s)), `${JSON.stringify(s)} seed ${seed}`).toEqual(logitOf(want));
    }
  });

  it('same seed and step give the same tokens; another step gives others', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 64,
      vocab = 50;
    const logits = randn(rows * vocab, rng(seed), 0.5);
    const s = { temperature: 1, seed: seed, step: 1 };
    const a = await runSample(ctx, logits, rows, vocab, s);
    const b = await runSample(ctx, logits, rows, vocab, s);
    const c = await runSample(ctx, logits, rows, vocab, { ...s, step: 2 });
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(c.filter((t, i) => t !== a[i]).length, `seed ${seed}`).toBeGreaterThan(rows / 2);
  });

  for (const s of [
    { temperature: 1, seed: 17 },
    { temperature: 0.8, topK: 5, topP: 0.9, seed: 4242, step: 7 },
  ]) {
    it(`frequencies match the filtered distribution: ${JSON.stringify(s)}`, async () => {
      await expectFrequencies(await testContext(), [1.2, 0.4, -0.3, 0.4, 2.0, -1.0, 0.9, -2.5], s);
    });
  }

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const logits = ctx.empty('f32', [2, 5]),
      tokens = ctx.empty('u32', [2]),
      tokensF = ctx.empty('f32', [2]);
    const rec = ctx.recorder();
    const a = { logits, tokens, rows: 2, vocab: 5, seed: 1 };
    expect(() => sample(rec, { ...a, temperature: -1 })).toThrow(/temperature must be 0 \(greedy\) or in/);
    expect(() => sample(rec, { ...a, temperature: 1, topP: 1.5 })).toThrow(/topP must be in \[0, 1\]/);
    expect(() => sample(rec, { ...a, temperature: 1, topK: 2.5 })).toThrow(/topK must be an integer/);
    expect(() => sample(rec, { ...a, temperature: 1, seed: -3 })).toThrow(/seed must be an integer/);
    expect(() => argmax(rec, { logits, tokens: tokensF, rows: 2, vocab: 5 })).toThrow(/argmax.tokens: dtype f32/);
    ctx.free(logits, tokens, tokensF);
  });
});

/** Random masks, one kind per row in turn: about half allowed, a few allowed, exactly one allowed, all (bits past vocab set too). */
function randomMask(rows: number, vocab: number, r: () => number): Uint32Array {
  const words = maskWords(vocab);
  const mask = new Uint32Array(rows * words);
  const allow = (row: number, j: number) => (mask[row * words + (j >>> 5)]! |= 1 << (j & 31));
  for (let row = 0; row < rows; row++) {
    const kind = row % 4;
    if (kind === 3) mask.fill(0xffffffff, row * words, (row + 1) * words);
    else if (kind === 0) for (let j = 0; j < vocab; j++) if (r() < 0.5) allow(row, j);
    const few = kind === 1 ? 1 + Math.floor(r() * 5) : 1; // one more for kind 0: never empty
    if (kind !== 3) for (let k = 0; k < few; k++) allow(row, Math.floor(r() * vocab));
  }
  return mask;
}

function expectAllowed(got: Uint32Array, mask: Uint32Array, vocab: number, what: string): void {
  got.forEach((t, row) => {
    if (!allowedRef(mask, row, vocab)[t]) throw new Error(`${what}: row ${row} chose ${t}, which its mask does not allow`);
  });
}

describe('token masks', () => {
  const maskedSettings: SamplingSettings[] = [
    { temperature: 1, seed: 3 },
    { temperature: 0.7, topK: 4, topP: 0.8, seed: 8, step: 2 },
    { temperature: 1.5, topK: 300, topP: 0.95, seed: 21, step: 5 },
    { temperature: 0.9, topP: 0.5, seed: 0xfffffffe },
    { temperature: 0, seed: 0 },
  ];
  for (const [rows, vocab] of [
    [1, 1],
    [5, 31],
    [6, 33],
    [12, 1000],
    [2, QWEN_VOCAB],
  ] as const) {
    it(`argmax and sample see only allowed tokens: rows=${rows} vocab=${vocab}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      const logits = vocab > 5000 ? randn(rows * vocab, r, 3) : gridLogits(rows * vocab, r);
      const mask = randomMask(rows, vocab, r);
      const am = await runArgmax(ctx, logits, rows, vocab, mask);
      expect(Array.from(am), `argmax, seed ${seed}`).toEqual(Array.from(argmaxRef(logits, rows, vocab, mask)));
      for (const s of vocab > 5000 ? maskedSettings.slice(0, 2) : maskedSettings) {
        const got = await runSample(ctx, logits, rows, vocab, s, { mask });
        expectAllowed(got, mask, vocab, `seed ${seed} ${JSON.stringify(s)}`);
        expectSameTokens(got, logits, rows, vocab, full(s), `masked, seed ${seed}`, { mask });
      }
    });
  }

  it('a row allowing one token always gets it; a row allowing none gets NO_TOKEN', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const rows = 6,
      vocab = 700,
      words = maskWords(vocab);
    const logits = randn(rows * vocab, r, 4);
    const mask = new Uint32Array(rows * words);
    const only = [0, 699, 31, 32, 345, -1]; // the last row allows nothing
    only.forEach((j, row) => {
      if (j >= 0) mask[row * words + (j >>> 5)] = 1 << (j & 31);
    });
    const want = only.map((j) => (j < 0 ? NO_TOKEN : j));
    expect(Array.from(await runArgmax(ctx, logits, rows, vocab, mask))).toEqual(want);
    for (const s of [
      { temperature: 1, seed: 5 },
      { temperature: 2, topK: 3, topP: 0.2, seed: 6, step: 4 },
    ]) {
      expect(Array.from(await runSample(ctx, logits, rows, vocab, s, { mask })), `seed ${seed}`).toEqual(want);
    }
  });

  it('masked tokens are removed before top-k and top-p (a constraint processor ahead of the warpers)', async () => {
    const ctx = await testContext();
    const vocab = 40,
      rows = 64;
    // The 5 largest logits are masked out: top-k = 5 applied first would leave nothing allowed.
    const row = Array.from({ length: vocab }, (_, i) => (i < 5 ? 10 + i : i / 10));
    const logits = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) logits.set(row, r * vocab);
    const words = maskWords(vocab);
    const mask = new Uint32Array(rows * words);
    for (let r = 0; r < rows; r++) for (let j = 5; j < vocab; j++) mask[r * words + (j >>> 5)]! |= 1 << (j & 31);
    const got = await runSample(ctx, logits, rows, vocab, { temperature: 1, topK: 5, topP: 0.9, seed: 77 }, { mask });
    const kept = new Set(Array.from({ length: 5 }, (_, k) => vocab - 1 - k)); // the 5 largest allowed
    got.forEach((t) => {
      expect(kept.has(t), `token ${t}`).toBe(true);
    });
  });

  for (const s of [
    { temperature: 1, seed: 19 },
    { temperature: 0.8, topK: 3, topP: 0.95, seed: 4243, step: 2 },
  ]) {
    it(`masked frequencies match the masked filtered distribution: ${JSON.stringify(s)}`, async () => {
      // Neither the most likely token (4) nor 5 allowed.
      await expectFrequencies(await testContext(), [1.2, 0.4, -0.3, 0.4, 2.0, -1.0, 0.9, -2.5], s, [0, 1, 2, 3, 6, 7]);
    });
  }

  it('rejects a mask of the wrong size or dtype', async () => {
    const ctx = await testContext();
    const logits = ctx.empty('f32', [2, 40]),
      tokens = ctx.empty('u32', [2]);
    const short = ctx.empty('u32', [2, 1]),
      f32Mask = ctx.empty('f32', [2, 2]);
    const rec = ctx.recorder();
    expect(() => argmax(rec, { logits, tokens, rows: 2, vocab: 40, mask: short })).toThrow(/argmax.mask: expected 4 elements/);
    expect(() => sample(rec, { logits, tokens, rows: 2, vocab: 40, temperature: 1, seed: 1, mask: f32Mask })).toThrow(/sample.mask: dtype f32/);
    ctx.free(logits, tokens, short, f32Mask);
  });
});

describe('per-row streams and steps', () => {
  it('a sequence draws the same token whatever row of the batch it occupies', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const rows = 13,
      vocab = 1000;
    const logits = randn(rows * vocab, r, 1.5);
    const mask = randomMask(rows, vocab, r);
    const streams = Array.from({ length: rows }, () => Math.floor(r() * 2 ** 32));
    const steps = Array.from({ length: rows }, () => Math.floor(r() * 50));
    const perm = Array.from({ length: rows }, (_, i) => i).sort(() => r() - 0.5);
    const permuteRows = <T extends Float32Array | Uint32Array>(a: T, width: number): T => {
      const out = a.slice() as T;
      perm.forEach((from, to) => {
        out.set(a.subarray(from * width, (from + 1) * width), to * width);
      });
      return out;
    };
    for (const s of [
      { temperature: 1, seed: 9 },
      { temperature: 0.6, topK: 40, topP: 0.9, seed: 10 },
    ]) {
      for (const withMask of [false, true]) {
        const o = { streams, steps, mask: withMask ? mask : undefined };
        const a = await runSample(ctx, logits, rows, vocab, s, o);
        const b = await runSample(ctx, permuteRows(logits, vocab), rows, vocab, s, {
          streams: perm.map((i) => streams[i]!),
          steps: perm.map((i) => steps[i]!),
          mask: withMask ? permuteRows(mask, maskWords(vocab)) : undefined,
        });
        expect(Array.from(b), `seed ${seed} mask ${withMask}`).toEqual(perm.map((i) => a[i]!));
        expectSameTokens(a, logits, rows, vocab, full(s), `streams and steps, seed ${seed}`, o);
      }
    }
  });

  it('streams[r] = r and steps[r] = step give exactly the default draws', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 20,
      vocab = 333;
    const logits = randn(rows * vocab, rng(seed), 2);
    const s = { temperature: 1.1, topK: 50, topP: 0.97, seed: 123, step: 6 };
    const plain = await runSample(ctx, logits, rows, vocab, s);
    const rowsIds = Array.from({ length: rows }, (_, i) => i);
    const explicit = await runSample(ctx, logits, rows, vocab, s, { streams: rowsIds, steps: rowsIds.map(() => 6) });
    expect(Array.from(explicit), `seed ${seed}`).toEqual(Array.from(plain));
  });

  it('rejects streams and steps of the wrong size or dtype', async () => {
    const ctx = await testContext();
    const logits = ctx.empty('f32', [3, 10]),
      tokens = ctx.empty('u32', [3]);
    const short = ctx.empty('u32', [2]),
      f32 = ctx.empty('f32', [3]);
    const rec = ctx.recorder();
    const a = { logits, tokens, rows: 3, vocab: 10, temperature: 1, seed: 1 };
    expect(() => sample(rec, { ...a, streams: short })).toThrow(/sample.streams: expected 3 elements/);
    expect(() => sample(rec, { ...a, steps: f32 })).toThrow(/sample.steps: dtype f32/);
    ctx.free(logits, tokens, short, f32);
  });
});
