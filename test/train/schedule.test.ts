/**
 * Learning-rate schedules against the values of Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup
 * (LambdaLR: step k uses lr · λ(k)), computed by hand from transformers' lr_lambda functions.
 */
import { describe, expect, it } from 'vitest';
import { checkSchedule, learningRate, lrMultiplier, type ScheduleConfig } from '../../src/train/schedule.ts';

const values = (c: ScheduleConfig, steps: number) => Array.from({ length: steps }, (_, k) => lrMultiplier(c, k));

describe('learning-rate schedules (HF semantics)', () => {
  it('linear: warmup from 0, then decay to 0 at totalSteps', () => {
    expect(values({ schedule: 'linear', lr: 1, warmupSteps: 2, totalSteps: 10 }, 11)).toEqual([0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0]);
    // No warmup: the first step takes the full rate (what SEAL's knowledge-domain TTT runs: linear, 0 warmup).
    expect(values({ schedule: 'linear', lr: 1, totalSteps: 4 }, 5)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    expect(learningRate({ schedule: 'linear', lr: 1e-3, totalSteps: 80 }, 40)).toBe(1e-3 * (40 / 80));
  });

  it('cosine: half a cosine wave after warmup', () => {
    const c: ScheduleConfig = { schedule: 'cosine', lr: 2, warmupSteps: 2, totalSteps: 10 };
    const want = [0, 0.5, 1, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449, 0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663, 0];
    values(c, 11).forEach((v, k) => {
      expect(v, `step ${k}`).toBeCloseTo(want[k]!, 15);
    });
    expect(learningRate(c, 6)).toBeCloseTo(1, 15);
  });

  it("constant: warmup, then the peak rate forever; without warmup HF's plain constant", () => {
    expect(values({ schedule: 'constant', lr: 1, warmupSteps: 3, totalSteps: 5 }, 7)).toEqual([0, 1 / 3, 2 / 3, 1, 1, 1, 1]);
    expect(values({ schedule: 'constant', lr: 1, totalSteps: 2 }, 3)).toEqual([1, 1, 1]);
    // A single warmup step: max(1, warmup) keeps step 0 at 0.
    expect(values({ schedule: 'linear', lr: 1, warmupSteps: 1, totalSteps: 3 }, 3)).toEqual([0, 1, 0.5]);
  });

  it('rejects bad configs with clear errors', () => {
    expect(() => checkSchedule({ schedule: 'step' as never, lr: 1, totalSteps: 3 })).toThrow(/unknown schedule "step"; expected constant, linear, cosine/);
    expect(() => checkSchedule({ schedule: 'linear', lr: -1, totalSteps: 3 })).toThrow(/lr must be a finite number >= 0, got -1/);
    expect(() => checkSchedule({ schedule: 'linear', lr: 1, warmupSteps: 1.5, totalSteps: 3 })).toThrow(/warmupSteps must be an integer >= 0/);
    expect(() => checkSchedule({ schedule: 'cosine', lr: 1, totalSteps: -1 })).toThrow(/totalSteps must be an integer >= 0/);
  });
});
