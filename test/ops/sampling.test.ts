import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { argmax, sample, type SamplingSettings } from '../../src/ops/sampling.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';
import { argmaxRef, filteredProbsRef, gumbelRef, sampleRef, type SamplingRefSettings } from '../ref/sampling.ts';

const QWEN_VOCAB = 152064;

async function runArgmax(ctx: GpuContext, logits: Float32Array, rows: number, vocab: number): Promise<Uint32Array> {
  const tl = ctx.upload('f32', [rows, vocab], logits), tokens = ctx.empty('u32', [rows]);
  ctx.fill(tokens, 0xdeadbeef);
  const rec = ctx.recorder();
  argmax(rec, { logits: tl, tokens, rows, vocab });
  rec.submit();
  const out = (await ctx.read(tokens)) as Uint32Array;
  ctx.free(tl, tokens);
  return out;
}

async function runSample(ctx: GpuContext, logits: Float32Array, rows: number, vocab: number, s: SamplingSettings): Promise<Uint32Array> {
  const tl = ctx.upload('f32', [rows, vocab], logits), tokens = ctx.empty('u32', [rows]);
  ctx.fill(tokens, 0xdeadbeef);
  const rec = ctx.recorder();
  sample(rec, { logits: tl, tokens, rows, vocab, ...s });
  rec.submit();
  const out = (await ctx.read(tokens)) as Uint32Array;
  ctx.free(tl, tokens);
  return out;
}

const full = (s: SamplingSettings): SamplingRefSettings => ({ topK: 0, topP: 1, step: 0, ...s });

/**
 * Every GPU token must be the reference's, except where f32 rounding can legitimately decide otherwise (a
 * near-tie of perturbed scores, or the top-p boundary within rounding of a group's mass); those must be rare.
 */
function expectSameTokens(got: Uint32Array, logits: Float32Array, rows: number, vocab: number, s: SamplingRefSettings, what: string): void {
  const ref = sampleRef(logits, rows, vocab, s);
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

/** Logits on a coarse grid, so that many are exactly equal (ties at the top-k and top-p thresholds). */
function gridLogits(n: number, r: () => number): Float32Array {
  return randn(n, r, 1.5).map((x) => Math.round(x * 2) / 2);
}

describe('argmax', () => {
  for (const [rows, vocab] of [[1, 1], [3, 7], [5, 1000], [4, 4099], [2, QWEN_VOCAB]] as const) {
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
    let sum = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      const g = gumbelRef(i, 3, 1, 12345);
      sum += g;
      sq += g * g;
    }
    const mean = sum / n, variance = sq / n - mean * mean;
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
  for (const [rows, vocab] of [[1, 1], [16, 7], [24, 1000], [5, 4097]] as const) {
    it(`GPU token equals the reference token: rows=${rows} vocab=${vocab}, random and tied logits`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      for (const [kind, logits] of [['random', randn(rows * vocab, r, 2)], ['tied', gridLogits(rows * vocab, r)]] as const) {
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
    const rows = 9, vocab = 777;
    const logits = randn(rows * vocab, rng(seed));
    const want = Array.from(argmaxRef(logits, rows, vocab));
    for (const s of [{ temperature: 1, topK: 1, seed: 3 }, { temperature: 5, topK: 1, topP: 0.5, seed: 4, step: 9 }, { temperature: 0, seed: 0 }]) {
      expect(Array.from(await runSample(ctx, logits, rows, vocab, s)), `${JSON.stringify(s)} seed ${seed}`).toEqual(want);
    }
  });

  it('same seed and step give the same tokens; another step gives others', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rows = 64, vocab = 50;
    const logits = randn(rows * vocab, rng(seed), 0.5);
    const s = { temperature: 1, seed: seed, step: 1 };
    const a = await runSample(ctx, logits, rows, vocab, s);
    const b = await runSample(ctx, logits, rows, vocab, s);
    const c = await runSample(ctx, logits, rows, vocab, { ...s, step: 2 });
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(c.filter((t, i) => t !== a[i]).length, `seed ${seed}`).toBeGreaterThan(rows / 2);
  });

  // Frequencies over many rows (each row is its own random stream) against the filtered distribution, with a
  // fixed seed so the test is deterministic. The chi-square bound has a false-alarm rate below 1e-6 for a correct
  // sampler; an error of 0.03 in a probability of 0.3 alone adds about 60 to the statistic.
  for (const s of [
    { temperature: 1, seed: 17 },
    { temperature: 0.8, topK: 5, topP: 0.9, seed: 4242, step: 7 },
  ]) {
    it(`frequencies match the filtered distribution: ${JSON.stringify(s)}`, async () => {
      const ctx = await testContext();
      const vocab = 8;
      const row = [1.2, 0.4, -0.3, 0.4, 2.0, -1.0, 0.9, -2.5];
      const rows = 20000;
      const logits = new Float32Array(rows * vocab);
      for (let r = 0; r < rows; r++) logits.set(row, r * vocab);
      const got = await runSample(ctx, logits, rows, vocab, s);
      const probs = filteredProbsRef(Float32Array.from(row), full(s));
      const counts = new Array<number>(vocab).fill(0);
      for (const t of got) counts[t]!++;
      let chi2 = 0, df = -1;
      for (let i = 0; i < vocab; i++) {
        if (probs[i] === 0) {
          expect(counts[i], `token ${i} is filtered out but was drawn`).toBe(0);
          continue;
        }
        const e = rows * probs[i]!;
        chi2 += (counts[i]! - e) ** 2 / e;
        df++;
      }
      // P(chi2 > df + 10 sqrt(2 df) + 10) is below 1e-6 for df <= 7.
      expect(chi2, `counts ${counts} vs probs ${Array.from(probs, (p) => p.toFixed(4))}`).toBeLessThan(df + 10 * Math.sqrt(2 * df) + 10);
    });
  }

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const logits = ctx.empty('f32', [2, 5]), tokens = ctx.empty('u32', [2]), tokensF = ctx.empty('f32', [2]);
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
