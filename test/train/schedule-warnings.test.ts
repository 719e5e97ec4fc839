/**
 * scheduleWarnings: the expected numbers are worked by hand from schedule.ts's definition (step k < warmup W runs at
 * lr · k / W, 0-based), not from the code under test.
 */
import { describe, expect, it } from 'vitest';
import { scheduleWarnings } from '../../src/train/schedule-warnings.ts';

describe('schedule warnings', () => {
  it('warmup longer than the run: the peak is never reached, and the last rate is said', () => {
    // 12 steps, warmup 50: the last step is k = 11, at 1e-4 · 11/50 = 2.2e-5.
    expect(scheduleWarnings({ schedule: 'linear', lr: 1e-4, warmupSteps: 50, totalSteps: 12 })).toEqual([
      'warmup (50 steps) >= planned steps (12): the learning rate never reaches its peak 1e-4 (it ends at 2.2e-5)',
    ]);
    // Warmup equal to the run: k = 3 of 4 is still warming up, at 3e-4 · 3/4 = 2.25e-4.
    expect(scheduleWarnings({ schedule: 'cosine', lr: 3e-4, warmupSteps: 4, totalSteps: 4 })).toEqual([
      'warmup (4 steps) >= planned steps (4): the learning rate never reaches its peak 3e-4 (it ends at 2.25e-4)',
    ]);
  });

  it('a schedule that is 0 on every step, a zero learning rate, and no steps are no-ops', () => {
    // One step, k = 0, warming up: 1e-3 · 0/1 = 0.
    expect(scheduleWarnings({ schedule: 'constant', lr: 1e-3, warmupSteps: 1, totalSteps: 1 })).toEqual([
      'warmup (1 step) >= planned steps (1): the learning rate is 0 on every step (warmup starts from 0), so the adapter stays as initialised',
    ]);
    expect(scheduleWarnings({ schedule: 'linear', lr: 0, warmupSteps: 0, totalSteps: 30 })).toEqual([
      'the learning rate is 0: none of the 30 planned steps changes the adapter',
    ]);
    expect(scheduleWarnings({ schedule: 'linear', lr: 1e-4, warmupSteps: 5, totalSteps: 0 })).toEqual([
      'no optimizer step is planned: the adapter stays as initialised',
    ]);
  });

  it('schedules that reach their peak give no warning', () => {
    // Warmup 3 of 4 steps: k = 3 is past warmup, linear (4 - 3) / (4 - 3) = 1, the peak.
    expect(scheduleWarnings({ schedule: 'linear', lr: 1e-4, warmupSteps: 3, totalSteps: 4 })).toEqual([]);
    expect(scheduleWarnings({ schedule: 'constant', lr: 1e-4, totalSteps: 1 })).toEqual([]);
    expect(scheduleWarnings({ schedule: 'cosine', lr: 1e-4, warmupSteps: 0, totalSteps: 100 })).toEqual([]);
  });
});
