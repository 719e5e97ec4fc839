/**
 * The SFT loop on a tiny random Llama: step planning (epochs, accumulation, max_steps, seeded order), K jobs in
 * one run equal to each job alone, gradient accumulation and pass splitting equal to one big batch, the step loss
 * equal to the mean over the step's trained tokens, determinism, and clear errors. One model shape and rank
 * throughout, and no pass over 32 tokens (only the skinny matmuls), so the file compiles few kernels.
 */
import { describe, expect, it } from 'vitest';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { resolveLoraConfig, type LoraTarget } from '../../src/lora/config.ts';
import { initLoraWeights, type LoraHostWeights } from '../../src/lora/host-weights.ts';
import { packTrainingSequences, type TrainSequence } from '../../src/train/batch.ts';
import { LoraModel } from '../../src/train/lora-model.ts';
import { learningRate } from '../../src/train/schedule.ts';
import {
  epochOrder,
  planSftSteps,
  resolveSftHyperparameters,
  SftDivergedError,
  trainSft,
  type SftHyperparameters,
  type SftJob,
  type SftStepInfo,
} from '../../src/train/sft.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { LLAMA_GQA, loadTinyModel } from './tiny-model.ts';

const CONFIG = LLAMA_GQA;
const RANK = 3;

/** Random examples of the given lengths; `promptLen` leading labels masked (a completion-style loss mask). */
function examples(r: () => number, lengths: readonly number[], promptLen = 0): TrainSequence[] {
  return lengths.map((n) => {
    const ids = Array.from({ length: n }, () => Math.floor(r() * CONFIG.vocabSize));
    return { ids, labels: ids.map((id, i) => (i < Math.min(promptLen, n - 1) ? -100 : id)) };
  });
}

function hostAdapter(targets: LoraTarget[], seed: number): LoraHostWeights {
  return initLoraWeights(CONFIG, resolveLoraConfig({ targets, rank: RANK, alpha: 6 }), { seed, b: 'random' });
}

async function tinySetup(seed: number) {
  const ctx = await testContext();
  const { weights } = await loadTinyModel(ctx, CONFIG, 'F32', rng(seed));
  return { ctx, weights };
}

/** Runs trainSft and returns each job's final weights, results and step reports. */
async function train(seed: number, specs: { host: LoraHostWeights; examples: TrainSequence[]; hyper: SftHyperparameters }[], maxPassTokens?: number) {
  const { ctx, weights } = await tinySetup(seed);
  const adapters = specs.map((s) => LoraAdapter.upload(ctx, CONFIG, s.host));
  const steps: SftStepInfo[] = [];
  try {
    const jobs: SftJob[] = specs.map((s, i) => ({ adapter: adapters[i]!, examples: s.examples, hyper: s.hyper }));
    const results = await trainSft(ctx, CONFIG, weights, jobs, { maxPassTokens, onStep: (info) => void steps.push(info) });
    const trained = await Promise.all(adapters.map((a) => a.download()));
    return { results, trained, steps };
  } finally {
    adapters.forEach((a) => {
      a.dispose();
    });
    weights.dispose();
  }
}

const flat = (w: LoraHostWeights) => w.modules.flatMap((m) => [...m.a, ...m.b]);

describe('SFT step planning', () => {
  it('epochs, accumulation tails, max_steps across epochs, and a seeded order per epoch', () => {
    const h = resolveSftHyperparameters({ lr: 1, epochs: 2, batchSize: 2, gradAccum: 2, seed: 5 });
    const lengths = [3, 4, 5, 6, 7];
    const steps = planSftSteps(lengths, h);
    // 5 examples → 3 micro-batches (2, 2, 1) → 2 steps per epoch (2 micro-batches, then the 1 left).
    expect(steps.map((s) => s.passes.map((p) => p.examples.length))).toEqual([[2, 2], [1], [2, 2], [1]]);
    expect(steps.map((s) => s.epoch)).toEqual([2 / 3, 1, 1 + 2 / 3, 2]);
    for (const e of [0, 1]) {
      const order = epochOrder(5, 5, e);
      expect(steps.slice(2 * e, 2 * e + 2).flatMap((s) => s.passes.flatMap((p) => p.examples))).toEqual(order);
      expect([...order].sort()).toEqual([0, 1, 2, 3, 4]);
    }
    expect(epochOrder(5, 5, 0)).not.toEqual(epochOrder(5, 5, 1));
    expect(epochOrder(50, 5, 0)).not.toEqual(epochOrder(50, 6, 0));
    expect(epochOrder(50, 5, 3)).toEqual(epochOrder(50, 5, 3));
    // max_steps overrides epochs and goes on into a third epoch.
    const capped = planSftSteps(lengths, { ...h, maxSteps: 5 });
    expect(capped.length).toBe(5);
    expect(capped[4]!.epoch).toBe(2 + 2 / 3);
    // Unshuffled, a pass cap splits micro-batches into passes of whole examples.
    const split = planSftSteps(lengths, { ...h, shuffle: false, epochs: 1 }, 9);
    expect(split.map((s) => s.passes.map((p) => p.examples))).toEqual([[[0, 1], [2], [3]], [[4]]]);
    expect(planSftSteps(lengths, { ...h, epochs: 0 })).toEqual([]);
    expect(() => planSftSteps([], { ...h, maxSteps: 3 })).toThrow(/planSftSteps: no examples/);
  });

  it('rejects bad hyperparameters with clear errors', () => {
    expect(() => resolveSftHyperparameters({ lr: -1e-3 }, 'job 2')).toThrow(/^job 2: lr must be a finite number >= 0, got -0\.001/);
    expect(() => resolveSftHyperparameters({ lr: 1, batchSize: 0 })).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => resolveSftHyperparameters({ lr: 1, epochs: 1.5 })).toThrow(/epochs must be an integer >= 0/);
    expect(() => resolveSftHyperparameters({ lr: 1, maxSteps: 0 })).toThrow(/maxSteps must be a positive integer/);
    expect(() => resolveSftHyperparameters({ lr: 1, gradClip: 0 })).toThrow(/gradClip must be a finite number > 0/);
    expect(() => resolveSftHyperparameters({ lr: 1, schedule: 'step' as never })).toThrow(/schedule must be one of constant, linear, cosine/);
  });
});

describe('trainSft (tiny Llama)', () => {
  it('K = 3 jobs with different data, lr, epochs, schedules and loss masks equal the three trained alone', async () => {
    const seed = freshSeed();
    const r = rng(seed + 1);
    const specs = [
      { host: hostAdapter(['q_proj', 'v_proj'], seed), examples: examples(r, [9, 5, 12, 7]), hyper: { lr: 3e-2, epochs: 2, batchSize: 2, seed: 1 } },
      {
        host: hostAdapter(['gate_proj', 'down_proj', 'o_proj'], seed + 7),
        examples: examples(r, [15, 6, 8], 4),
        hyper: { lr: 1e-2, epochs: 3, batchSize: 1, gradAccum: 2, schedule: 'cosine' as const, warmupSteps: 1, seed: 2 },
      },
      {
        host: hostAdapter(['k_proj', 'up_proj'], seed + 9),
        examples: examples(r, [11, 10], 3),
        hyper: { lr: 5e-2, maxSteps: 3, batchSize: 2, schedule: 'constant' as const, weightDecay: 0.1, gradClip: 0.05, seed: 3 },
      },
    ];
    const together = await train(seed, specs);
    expect(together.results.map((x) => x.steps)).toEqual([4, 6, 3]);
    for (const [i, spec] of specs.entries()) {
      const alone = await train(seed, [spec]);
      // One fused pass vs each alone: the same products, summed in another order (cross-entropy chunk sums,
      // attention blocks at other row offsets), so the first step's loss equals to f32 rounding. Later steps
      // inherit Adam's amplification of that rounding (m/√v turns a gradient component near 0 into ±lr, so a
      // sign flip of a ~1e-9 component moves a weight by 2·lr): seen up to 1.2e-5 relative at lr 5e-2 over
      // 25+ seeds, so 1e-4 there. A job trained with another job's data or lr is off by > 1e-2.
      const lossesTogether = together.results[i]!.losses,
        lossesAlone = alone.results[0]!.losses;
      expect(lossesTogether.length).toBe(lossesAlone.length);
      lossesTogether.forEach((l, k) => {
        expect(Math.abs(l - lossesAlone[k]!), `job ${i} step ${k} loss (seed ${seed})`).toBeLessThan(
          (k === 0 ? 2e-6 : 1e-4) * Math.max(1, Math.abs(lossesAlone[k]!)),
        );
      });
      expectClose(flat(together.trained[i]!), flat(alone.trained[0]!), 1e-7, `job ${i} weights (seed ${seed})`); // the same Adam amplification (worst seen 3e-9)
      expect(flat(together.trained[i]!), `job ${i} trained`).not.toEqual(flat(spec.host));
    }
    // Reports: every job's steps in order, its schedule's lr, fractional epochs, token counts.
    const job1 = together.steps.filter((s) => s.job === 1);
    expect(job1.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(job1.map((s) => s.epoch)).toEqual([2 / 3, 1, 1 + 2 / 3, 2, 2 + 2 / 3, 3]);
    job1.forEach((s, k) => {
      expect(s.lr).toBe(learningRate({ schedule: 'cosine', lr: 1e-2, warmupSteps: 1, totalSteps: 6 }, k));
    });
    expect(job1[0]!.lr).toBe(0);
    const job2 = together.steps.filter((s) => s.job === 2);
    expect(job2.every((s) => s.tokens === 21 && s.trainedTokens === 21 - 2 * 3)).toBe(true);
    expect(together.steps.every((s) => s.gradNorm > 0 && Number.isFinite(s.loss) && s.tokensPerSecond > 0)).toBe(true);
  });

  it('G micro-batches of B equal one batch of G·B, and splitting passes by tokens changes nothing', async () => {
    const seed = freshSeed();
    const host = hostAdapter(['q_proj', 'up_proj'], seed);
    const data = examples(rng(seed + 1), [7, 3, 5, 8, 4, 5], 2);
    const base = { lr: 2e-2, epochs: 2, seed: 4, gradClip: null };
    const oneBatch = await train(seed, [{ host, examples: data, hyper: { ...base, batchSize: 6 } }]);
    const accumulated = await train(seed, [{ host, examples: data, hyper: { ...base, batchSize: 2, gradAccum: 3 } }]);
    const split = await train(seed, [{ host, examples: data, hyper: { ...base, batchSize: 6 } }], 12);
    expect(oneBatch.results[0]!.steps).toBe(2);
    expect(accumulated.results[0]!.steps).toBe(2);
    for (const [name, run] of [
      ['grad accum', accumulated],
      ['split passes', split],
    ] as const) {
      run.results[0]!.losses.forEach((l, k) => {
        expect(Math.abs(l - oneBatch.results[0]!.losses[k]!) / l, `${name} step ${k + 1} loss (seed ${seed})`).toBeLessThan(1e-5);
      });
      expectClose(flat(run.trained[0]!), flat(oneBatch.trained[0]!), TOL.f32, `${name} weights (seed ${seed})`);
    }
  });

  it('the step loss is the mean over trained tokens, the run is deterministic, and training lowers the loss', async () => {
    const seed = freshSeed();
    const host = hostAdapter(['v_proj', 'o_proj'], seed);
    const data = examples(rng(seed + 1), [10, 13, 7], 3);
    const hyper = { lr: 3e-2, epochs: 8, batchSize: 3, schedule: 'constant' as const };
    const first = await train(seed, [{ host, examples: data, hyper }]);
    const again = await train(seed, [{ host, examples: data, hyper }]);
    expect(again.results[0]!.losses).toEqual(first.results[0]!.losses);
    expect(flat(again.trained[0]!)).toEqual(flat(first.trained[0]!));
    // Step 1 sees the whole data set with the initial adapter: its loss is LoraModel's mean over the batch.
    const { ctx, weights } = await tinySetup(seed);
    const adapter = LoraAdapter.upload(ctx, CONFIG, host);
    const model = new LoraModel(ctx, CONFIG, weights, adapter);
    const want = await model.loss(packTrainingSequences(data));
    expect(want.weightSum).toBe(10 - 3 + (13 - 3) + (7 - 3));
    expect(Math.abs(first.results[0]!.losses[0]! - want.loss) / want.loss, `step-1 loss vs LoraModel.loss (seed ${seed})`).toBeLessThan(1e-6);
    const losses = first.results[0]!.losses;
    expect(losses[losses.length - 1]!, `loss after 8 steps (seed ${seed}): ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(0.8 * losses[0]!);
    for (const x of [model, adapter, weights]) x.dispose();
  });

  it('an aborted signal stops training between steps with an AbortError, frees its buffers, and the next run trains as before', async () => {
    const seed = freshSeed();
    const { ctx, weights } = await tinySetup(seed);
    const host = hostAdapter(['q_proj'], seed);
    const data = examples(rng(seed), [5, 6, 7]);
    const hyper = { lr: 1e-2, epochs: 4, batchSize: 1 };
    const adapter = LoraAdapter.upload(ctx, CONFIG, host);
    const controller = new AbortController();
    const steps: number[] = [];
    ctx.pool.trim();
    const held = ctx.pool.allocatedBytes;
    const aborted = trainSft(ctx, CONFIG, weights, [{ adapter, examples: data, hyper }], {
      signal: controller.signal,
      onStep: (s) => {
        steps.push(s.step);
        if (s.step === 2) controller.abort();
      },
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps, 'no step after the abort').toEqual([1, 2]);
    ctx.pool.trim();
    expect(ctx.pool.allocatedBytes, 'what training allocated is freed').toBe(held);
    adapter.dispose();
    // The same job trained afresh runs all 12 steps and equals an uninterrupted run.
    const whole = await train(seed, [{ host, examples: data, hyper }]);
    const fresh = LoraAdapter.upload(ctx, CONFIG, host);
    const results = await trainSft(ctx, CONFIG, weights, [{ adapter: fresh, examples: data, hyper }], { signal: new AbortController().signal });
    expect(results[0]!.steps).toBe(12);
    expect(results[0]!.losses).toEqual(whole.results[0]!.losses);
    fresh.dispose();
    weights.dispose();
  });

  it('rejects bad jobs with clear errors', async () => {
    const seed = freshSeed();
    const { ctx, weights } = await tinySetup(seed);
    const adapter = LoraAdapter.upload(ctx, CONFIG, hostAdapter(['q_proj'], seed));
    const data = examples(rng(seed), [5, 6]);
    const run = (jobs: SftJob[]) => trainSft(ctx, CONFIG, weights, jobs);
    await expect(run([])).rejects.toThrow(/trainSft: no jobs/);
    await expect(run([{ adapter, examples: [], hyper: { lr: 1e-3 } }])).rejects.toThrow(/SFT job 0: no training examples/);
    await expect(
      run([
        { adapter, examples: data, hyper: { lr: 1e-3 } },
        { adapter, examples: data, hyper: { lr: 1e-3 } },
      ]),
    ).rejects.toThrow(/two jobs share one adapter/);
    await expect(run([{ adapter, examples: data, hyper: { lr: -1 } }])).rejects.toThrow(/SFT job 0: lr must be a finite number >= 0, got -1/);
    await expect(run([{ adapter, examples: examples(rng(seed), [CONFIG.maxPositionEmbeddings + 1]), hyper: { lr: 1e-3 } }])).rejects.toThrow(
      /example 0 is 257 tokens, over the model's 256 positions/,
    );
    await expect(run([{ adapter, examples: [{ ids: [1, 2, 3], labels: [1, -100, -100] }], hyper: { lr: 1e-3 } }])).rejects.toThrow(
      /example 0 has no trained token/,
    );
    // An absurd learning rate overflows f32 within a step or two: the run stops with a clear error.
    const diverging = LoraAdapter.upload(ctx, CONFIG, hostAdapter(['q_proj'], seed));
    await expect(run([{ adapter: diverging, examples: data, hyper: { lr: 1e30, epochs: 5, gradClip: null } }])).rejects.toThrow(SftDivergedError);
    await expect(run([{ adapter: diverging, examples: data, hyper: { lr: 1e30, epochs: 5, gradClip: null } }])).rejects.toThrow(
      /SFT job 0: the loss is (NaN|Infinity) at step \d+ of 10 \(lr 1e\+30\); training diverged/,
    );
    diverging.dispose();
    const before = flat(await adapter.download());
    await run([{ adapter, examples: data, hyper: { lr: 1e-2, epochs: 0 } }]);
    expect(flat(await adapter.download()), 'epochs 0 leaves the adapter as it was').toEqual(before);
    adapter.dispose();
    weights.dispose();
  });
});
