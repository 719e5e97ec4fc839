/**
 * Learning-rate schedules with linear warmup, with the semantics of Hugging Face transformers'
 * get_{constant,linear,cosine}_schedule_with_warmup (LambdaLR): the optimizer step with 0-based index k uses
 *   lr_k = lr · λ(k),   λ(k) = k / max(1, warmup)                                      for k < warmup
 *   constant: 1;  linear: max(0, (total - k) / max(1, total - warmup));
 *   cosine:   max(0, ½(1 + cos(π · (k - warmup) / max(1, total - warmup))))            otherwise.
 * So with warmup the first step has lr 0, and the last of `total` steps has a small but non-zero lr, as in HF.
 * 'constant' applies warmup when asked (HF's constant_with_warmup; with warmup 0 it is HF's plain constant).
 */

export const LR_SCHEDULES = ['constant', 'linear', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export interface ScheduleConfig {
  schedule: LrSchedule;
  /** Peak learning rate (after warmup). */
  lr: number;
  /** Optimizer steps of linear warmup from 0; default 0. */
  warmupSteps?: number;
  /** Optimizer steps in the whole run (the decay reaches 0 here). */
  totalSteps: number;
}

/** Throws a clear error for a bad schedule config. */
export function checkSchedule(c: ScheduleConfig): void {
  const fail = (what: string): never => {
    throw new RangeError(`learning-rate schedule: ${what}`);
  };
  if (!(LR_SCHEDULES as readonly string[]).includes(c.schedule)) fail(`unknown schedule ${JSON.stringify(c.schedule)}; expected ${LR_SCHEDULES.join(', ')}`);
  if (!(c.lr >= 0) || !Number.isFinite(c.lr)) fail(`lr must be a finite number >= 0, got ${c.lr}`);
  const warmup = c.warmupSteps ?? 0;
  if (!Number.isSafeInteger(warmup) || warmup < 0) fail(`warmupSteps must be an integer >= 0, got ${warmup}`);
  if (!Number.isSafeInteger(c.totalSteps) || c.totalSteps < 0) fail(`totalSteps must be an integer >= 0, got ${c.totalSteps}`);
}

/** The multiplier λ(k) of the 0-based optimizer step k. */
export function lrMultiplier(c: ScheduleConfig, step: number): number {
  const warmup = c.warmupSteps ?? 0;
  if (step < warmup) return step / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, c.totalSteps - warmup);
  switch (c.schedule) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (c.totalSteps - step) / Math.max(1, c.totalSteps - warmup));
    case 'cosine':
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  }
}

/** The learning rate of the 0-based optimizer step k. */
export function learningRate(c: ScheduleConfig, step: number): number {
  return c.lr * lrMultiplier(c, step);
}
