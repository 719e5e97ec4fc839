/**
 * Settings that make training a no-op, or never reach the learning rate asked for, said with the numbers before any
 * step runs (seal sft and the arc commands print each as a `seal: warning:` line). The learning rate of each step is
 * schedule.ts's definition: with warmup W, the 0-based step k < W runs at lr · k / W.
 */
import { learningRate, type ScheduleConfig } from './schedule.ts';

/** A learning rate as a short number: 0.0001 -> 1e-4, 0.0000225 -> 2.25e-5. */
function formatLr(lr: number): string {
  return lr === 0 ? '0' : Number(lr.toPrecision(3)).toExponential();
}

/** Whether no planned step can change the adapter: no step, or a learning rate of 0 on every step (lr 0, or warmup). */
export function trainsNothing(c: ScheduleConfig): boolean {
  for (let k = 0; k < c.totalSteps; k++) if (learningRate(c, k) !== 0) return false;
  return true;
}

/** The warning lines (without the `seal: warning:` prefix) for a schedule over `totalSteps` planned optimizer steps; [] when it trains as asked. */
export function scheduleWarnings(c: ScheduleConfig): string[] {
  const warmup = c.warmupSteps ?? 0;
  const steps = c.totalSteps;
  if (steps === 0) return ['no optimizer step is planned: the adapter stays as initialised'];
  if (c.lr === 0) return [`the learning rate is 0: none of the ${steps} planned steps changes the adapter`];
  const rates = Array.from({ length: steps }, (_, k) => learningRate(c, k));
  if (trainsNothing(c)) {
    return [
      `warmup (${warmup} step${warmup === 1 ? '' : 's'}) >= planned steps (${steps}): the learning rate is 0 on every step (warmup starts from 0), so the adapter stays as initialised`,
    ];
  }
  if (warmup >= steps) {
    return [
      `warmup (${warmup} step${warmup === 1 ? '' : 's'}) >= planned steps (${steps}): the learning rate never reaches its peak ${formatLr(c.lr)} (it ends at ${formatLr(rates[steps - 1]!)})`,
    ];
  }
  return [];
}
