/**
 * What a GpuContext has asked of its device since it was created, counted where it happens (the context, its
 * buffer pool, pipeline cache and command recorders are the only code that talks to the device): always on, a few
 * integer increments per call. Take a snapshot before some work and `since(snapshot)` after it for what that work
 * cost: the dispatch census (bench/census.ts) counts one steady-state step this way.
 */

/** The counts, as plain numbers (a snapshot, or the difference of two). */
export interface GpuCounts {
  /** Compute dispatches submitted (a zero-size dispatch is never recorded). */
  dispatches: number;
  /** queue.submit calls: recorder submissions and readback copies. */
  submits: number;
  /** GPU promises the host waited on through ctx.guard: readbacks (mapAsync) and ctx.sync (onSubmittedWorkDone). */
  hostWaits: number;
  bindGroupsCreated: number;
  /** Compute pipelines compiled (the pipeline cache's misses). */
  pipelinesCreated: number;
  /** GPU buffers created: the pool's new buffers, uniform buffers, readback staging and query buffers. */
  buffersCreated: number;
  /** Bytes written from the host (queue.writeBuffer: uploads, fills, dispatch parameters). */
  bytesUploaded: number;
  /** Bytes read back to the host. */
  bytesReadBack: number;
  /**
   * Host milliseconds spent recording: for each recorder submission, from its first recorded command to the end
   * of its submit (recording is synchronous, so this is the host's work, not the GPU's).
   */
  recordMs: number;
}

export const GPU_COUNT_NAMES: readonly (keyof GpuCounts)[] = [
  'dispatches',
  'submits',
  'hostWaits',
  'bindGroupsCreated',
  'pipelinesCreated',
  'buffersCreated',
  'bytesUploaded',
  'bytesReadBack',
  'recordMs',
];

export class GpuCounters implements GpuCounts {
  dispatches = 0;
  submits = 0;
  hostWaits = 0;
  bindGroupsCreated = 0;
  pipelinesCreated = 0;
  buffersCreated = 0;
  bytesUploaded = 0;
  bytesReadBack = 0;
  recordMs = 0;

  /** The counts so far, detached from later increments. */
  snapshot(): GpuCounts {
    const out = {} as GpuCounts;
    for (const k of GPU_COUNT_NAMES) out[k] = this[k];
    return out;
  }

  /** What was counted since `before` (an earlier snapshot of these counters). */
  since(before: GpuCounts): GpuCounts {
    return diffCounts(this.snapshot(), before);
  }
}

/** after - before, count by count. */
export function diffCounts(after: GpuCounts, before: GpuCounts): GpuCounts {
  const out = {} as GpuCounts;
  for (const k of GPU_COUNT_NAMES) out[k] = after[k] - before[k];
  return out;
}
