/**
 * A GPU device with what every op needs: its capabilities, a buffer pool, a pipeline cache, uploads and
 * readbacks. Runtime-free: the runtimes (runtime-node, runtime-browser) find an adapter and call create().
 */
import { BufferPool } from './buffer-pool.ts';
import { deviceDescriptor, probeCapabilities, type Capabilities } from './capabilities.ts';
import { GpuCounters } from './counters.ts';
import { bytesFor, pack16, unpack16, type DType } from './dtype.ts';
import { DeviceLostError, GpuValidationError } from './errors.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { CommandRecorder } from './recorder.ts';
import { Tensor, shapeString } from './tensor.ts';

export interface ContextOptions {
  /** Optional features not to request even if the adapter has them (e.g. to test portable twins). */
  disableFeatures?: string[];
}

/** Features actually enabled on the device (a subset of the adapter's). */
export interface EnabledFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  subgroupMatrix: boolean;
  timestampQuery: boolean;
}

export type HostArray = Float32Array | Uint32Array | Int32Array;

export class GpuContext {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly limits: Record<string, number>;
  readonly features: EnabledFeatures;
  /** What this context asked of the device so far (dispatches, submits, waits, creations, bytes moved). */
  readonly counters = new GpuCounters();
  private lostError: DeviceLostError | null = null;
  private errors: string[] = [];
  private pipelineIds = new WeakMap<GPUComputePipeline, number>();
  private disposed = false;
  readonly lost: Promise<DeviceLostError>;

  private constructor(
    readonly device: GPUDevice,
    readonly caps: Capabilities,
    /** Kept referenced: some runtimes free the device when its adapter is collected. */
    readonly adapter: GPUAdapter,
  ) {
    const lim: Record<string, number> = {};
    for (const k of Object.keys(caps.limits)) {
      const v = (device.limits as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') lim[k] = v;
    }
    this.limits = lim;
    const f = device.features;
    this.features = {
      shaderF16: f.has('shader-f16'),
      subgroups: f.has('subgroups'),
      subgroupMatrix: f.has('chromium-experimental-subgroup-matrix') && caps.subgroupMatrixConfigs.length > 0,
      timestampQuery: f.has('timestamp-query'),
    };
    this.pool = new BufferPool(device, lim.maxBufferSize ?? 256 * 2 ** 20, this.counters);
    this.pipelines = new PipelineCache(device, this.counters);
    this.lost = device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message || 'no message');
      return this.lostError;
    });
    device.addEventListener?.('uncapturederror', (e: Event) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.errors.push(err?.message ?? String(err));
    });
  }

  static async create(adapter: GPUAdapter, opts: ContextOptions = {}): Promise<GpuContext> {
    const caps = probeCapabilities(adapter);
    const device = await adapter.requestDevice(deviceDescriptor(adapter, caps, opts.disableFeatures));
    return new GpuContext(device, caps, adapter);
  }

  /** Stable small id per pipeline, for bind-group cache keys. */
  pipelineId(p: GPUComputePipeline): number {
    let id = this.pipelineIds.get(p);
    if (id === undefined) {
      id = this.nextPipelineId++;
      this.pipelineIds.set(p, id);
    }
    return id;
  }
  private nextPipelineId = 1;

  throwIfLost(): void {
    if (this.lostError) throw this.lostError;
    if (this.disposed) throw new Error('GpuContext used after dispose()');
  }

  /** Waits for a GPU promise, but fails (instead of hanging) if the device is lost meanwhile. */
  guard<T>(p: Promise<T>): Promise<T> {
    this.throwIfLost();
    this.counters.hostWaits++;
    return Promise.race([p, this.lost.then((e) => Promise.reject(e))]);
  }

  /** Throws the validation errors the device reported since the last check. */
  throwIfErrors(): void {
    if (!this.errors.length) return;
    const msgs = this.errors.splice(0);
    throw new GpuValidationError(`WebGPU reported ${msgs.length} error(s):\n  ${msgs.join('\n  ')}`);
  }

  recorder(opts: { profile?: boolean } = {}): CommandRecorder {
    return new CommandRecorder(this, opts);
  }

  /** An uninitialised tensor from the pool. */
  empty(dtype: DType, shape: readonly number[], label?: string): Tensor {
    this.throwIfLost();
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new RangeError(`invalid shape ${shapeString(shape)}`);
    const bytes = bytesFor(
      dtype,
      shape.reduce((a, b) => a * b, 1),
    );
    const maxBinding = this.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
    if (bytes > maxBinding) {
      throw new RangeError(
        `tensor ${shapeString(shape)} ${dtype} needs ${bytes} bytes, over this device's maxStorageBufferBindingSize (${maxBinding}); split it`,
      );
    }
    return new Tensor(this.pool.acquire(bytes, label), dtype, shape);
  }

  /** Uploads host data. For f16/bf16, pass f32 values (rounded to nearest even) or the packed u32 words. */
  upload(dtype: DType, shape: readonly number[], data: ArrayLike<number> | HostArray, label?: string): Tensor {
    const t = this.empty(dtype, shape, label);
    this.write(t, data);
    return t;
  }

  write(t: Tensor, data: ArrayLike<number> | HostArray): void {
    const n = t.numel;
    let words: Float32Array | Uint32Array | Int32Array;
    if (t.dtype === 'f16' || t.dtype === 'bf16') {
      if (data instanceof Uint32Array && data.length === Math.ceil(n / 2)) words = data;
      else {
        if (data.length !== n) throw new RangeError(`write: ${data.length} values for a tensor of ${n}`);
        words = pack16(data, t.dtype);
      }
    } else {
      if (data.length !== n) throw new RangeError(`write: ${data.length} values for a tensor of ${n}`);
      const C = t.dtype === 'f32' ? Float32Array : t.dtype === 'u32' ? Uint32Array : Int32Array;
      words = data instanceof C ? data : C.from(data as ArrayLike<number>);
    }
    if (words.byteLength === 0) return;
    this.counters.bytesUploaded += words.byteLength;
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, words.buffer, words.byteOffset, words.byteLength);
  }

  /** Fills a tensor's bytes with one 32-bit pattern (NaN by default): tests poison outputs with it. */
  fill(t: Tensor, word = 0x7fc00000): void {
    const words = new Uint32Array(t.byteLength / 4).fill(word);
    this.counters.bytesUploaded += words.byteLength;
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, words.buffer, 0, words.byteLength);
  }

  /** Reads a tensor back: f32/f16/bf16 as Float32Array, u32 as Uint32Array, i32 as Int32Array. */
  async read(t: Tensor): Promise<HostArray> {
    this.throwIfLost();
    const bytes = t.byteLength;
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
    const enc = this.device.createCommandEncoder();
    if (bytes) enc.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    this.counters.buffersCreated++;
    this.counters.submits++;
    this.counters.bytesReadBack += bytes;
    try {
      await this.guard(staging.mapAsync(1 /* GPUMapMode.READ */));
      const raw = staging.getMappedRange(0, Math.max(4, bytes)).slice(0, bytes);
      this.throwIfErrors();
      switch (t.dtype) {
        case 'f32':
          return new Float32Array(raw);
        case 'u32':
          return new Uint32Array(raw);
        case 'i32':
          return new Int32Array(raw);
        default:
          return unpack16(new Uint32Array(raw), t.dtype, t.numel);
      }
    } finally {
      staging.destroy();
    }
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    const r = await this.read(t);
    return r instanceof Float32Array ? r : Float32Array.from(r);
  }

  /** Waits until all submitted work is done (or fails if the device is lost). */
  async sync(): Promise<void> {
    await this.guard(this.device.queue.onSubmittedWorkDone());
    this.throwIfErrors();
  }

  free(...tensors: (Tensor | undefined | null)[]): void {
    for (const t of tensors) if (t) this.pool.release(t.buffer);
  }

  dispose(): void {
    if (this.disposed) return;
    this.pool.dispose();
    this.device.destroy();
    this.disposed = true;
  }
}
