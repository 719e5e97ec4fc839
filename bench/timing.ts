/** Times a recorded GPU workload: GPU timestamps where the device has them, wall clock around a sync otherwise. */
import type { GpuContext } from '../src/gpu/context.ts';
import type { CommandRecorder } from '../src/gpu/recorder.ts';

export interface Measurement {
  /** Median milliseconds per iteration. */
  ms: number;
  /** 'gpu-timestamps' (sum of the dispatches' GPU time) or 'wall-clock' (submit to completion, amortised). */
  source: 'gpu-timestamps' | 'wall-clock';
  iterations: number;
}

export const now = () => performance.now();

/**
 * `record` adds one iteration of the workload to a recorder. Runs a warm-up, then iterations until `minMs` of GPU time or
 * `maxIters`, whichever first (at least 2, unless one iteration alone already takes 10x `minMs`: software adapters).
 */
export async function measure(ctx: GpuContext, record: (rec: CommandRecorder) => void, opts: { minMs?: number; maxIters?: number } = {}): Promise<Measurement> {
  const minMs = opts.minMs ?? 300;
  const maxIters = opts.maxIters ?? 50;
  const profiled = ctx.features.timestampQuery;
  const rec = ctx.recorder({ profile: profiled });
  const once = async (): Promise<number> => {
    const t0 = now();
    record(rec);
    rec.submit();
    await ctx.sync();
    const wall = now() - t0;
    if (!profiled) return wall;
    const t = await rec.timings();
    return t.reduce((s, e) => s + e.ms, 0);
  };
  await once(); // warm-up: pipeline compilation, first-touch of buffers
  const times: number[] = [];
  let total = 0;
  while (times.length < 1 || (times.length < 2 && total < 10 * minMs) || (total < minMs && times.length < maxIters)) {
    const ms = await once();
    times.push(ms);
    total += ms;
  }
  rec.dispose();
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, source: profiled ? 'gpu-timestamps' : 'wall-clock', iterations: times.length };
}
