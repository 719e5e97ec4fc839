/**
 * Reuses storage buffers by size class: creating and first-binding a buffer is expensive in WebGPU,
 * and a training step allocates the same activations every time.
 */
import type { GpuCounters } from './counters.ts';

/** STORAGE | COPY_SRC | COPY_DST, as spec constants so importing this module needs no GPU globals. */
export const STORAGE_USAGE = 0x80 | 0x04 | 0x08;

/** Size classes: powers of two from 256 B, then steps of 1/8 of a power of two to limit waste on big buffers. */
export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  /** Bytes currently handed out and held in the free lists. */
  allocatedBytes = 0;
  peakBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    private readonly counters: GpuCounters,
  ) {}

  acquire(bytes: number, label = 'seal'): GPUBuffer {
    const size = sizeClass(Math.max(4, bytes));
    if (size > this.maxBufferSize && bytes <= this.maxBufferSize) return this.create(Math.ceil(bytes / 4) * 4, label);
    if (bytes > this.maxBufferSize) {
      throw new RangeError(
        `buffer of ${bytes} bytes exceeds this device's maxBufferSize (${this.maxBufferSize}); split the tensor or use a GPU with larger limits`,
      );
    }
    const list = this.free.get(size);
    const buf = list?.pop();
    if (buf) {
      this.live.add(buf);
      return buf;
    }
    return this.create(size, label);
  }

  private create(size: number, label: string): GPUBuffer {
    const buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
    this.counters.buffersCreated++;
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    this.live.add(buf);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    const list = this.free.get(buf.size) ?? [];
    list.push(buf);
    this.free.set(buf.size, list);
  }

  /** Destroys the cached free buffers (not the live ones). */
  trim(): void {
    for (const list of this.free.values())
      for (const b of list) {
        this.allocatedBytes -= b.size;
        b.destroy();
      }
    this.free.clear();
  }

  dispose(): void {
    this.trim();
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.allocatedBytes = 0;
  }
}
