/**
 * Records a whole step (many kernel dispatches, copies, clears) and submits it once. Consecutive dispatches
 * share one compute pass; per-dispatch scalar parameters are packed into one uniform buffer written once
 * per submission. With `profile`, each dispatch gets its own pass with timestamp writes instead.
 *
 * Binding convention for every kernel: @binding(0) is the uniform params struct (when the kernel has
 * params), storage buffers follow from @binding(1) in the order given. Params are 4-byte scalars in
 * struct order. A buffer may be bound only once per dispatch when any binding of it is writable.
 * A dispatch names its params and tensors as the WGSL does; the first use of each pipeline checks them against
 * the shader (src/gpu/kernel-contract.ts).
 */
import type { GpuContext } from './context.ts';
import { contractMismatches, parseKernelContract } from './kernel-contract.ts';
import type { KernelKey } from './pipeline-cache.ts';
import type { Tensor } from './tensor.ts';

export type Param = ['u32' | 'i32' | 'f32', number];

export interface Dispatch {
  kernel: KernelKey;
  /** Storage tensors by their WGSL variable names, in binding order (@binding(1), (2), ...). */
  bindings: Record<string, Tensor>;
  /** Params by their `struct Params` field names, in struct order. */
  params?: Record<string, Param>;
  workgroups: readonly [number, number?, number?];
  label?: string;
}

type Command =
  | { kind: 'dispatch'; d: Dispatch; tensors: Tensor[]; pipeline: GPUComputePipeline; paramOffset: number; paramBytes: number }
  | { kind: 'copy'; src: Tensor; dst: Tensor; bytes: number }
  | { kind: 'clear'; t: Tensor };

export interface Timing {
  label: string;
  ms: number;
}

const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
/** Pipelines whose WGSL was checked against a dispatch's names. */
const checkedPipelines = new WeakSet<GPUComputePipeline>();

function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) {
    id = nextBufferId++;
    bufferIds.set(b, id);
  }
  return id;
}

export class CommandRecorder {
  private commands: Command[] = [];
  private params = new ArrayBuffer(4096);
  private paramBytes = 0;
  private uniform: GPUBuffer | null = null;
  private bindGroups = new Map<string, GPUBindGroup>();
  private lastTimings: Promise<Timing[]> | null = null;
  /** performance.now() at the first command since the last submit (the counters' recordMs). */
  private recordingSince = 0;
  readonly profile: boolean;

  constructor(
    readonly ctx: GpuContext,
    opts: { profile?: boolean } = {},
  ) {
    this.profile = Boolean(opts.profile) && ctx.features.timestampQuery;
  }

  get pending(): number {
    return this.commands.length;
  }

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (![x, y, z].every((n) => Number.isInteger(n) && n >= 0 && n <= max)) {
      throw new RangeError(`${d.kernel.shader}: workgroup count [${x}, ${y}, ${z}] outside 0..${max}; fold the grid (see fold1d)`);
    }
    if (x * y * z === 0) return;
    const pipeline = this.ctx.pipelines.get(d.kernel);
    const params = d.params ? Object.values(d.params) : [];
    if (!checkedPipelines.has(pipeline)) this.checkContract(d, pipeline);
    let paramOffset = 0;
    let paramBytes = 0;
    if (params.length) {
      const align = this.ctx.limits.minUniformBufferOffsetAlignment ?? 256;
      paramOffset = Math.ceil(this.paramBytes / align) * align;
      paramBytes = Math.ceil((params.length * 4) / 16) * 16;
      this.ensureParamCapacity(paramOffset + paramBytes);
      const view = new DataView(this.params, paramOffset, paramBytes);
      params.forEach(([t, v], i) => {
        if (t === 'f32') view.setFloat32(i * 4, v, true);
        else if (t === 'i32') view.setInt32(i * 4, v, true);
        else view.setUint32(i * 4, v, true);
      });
      this.paramBytes = paramOffset + paramBytes;
    }
    this.push({ kind: 'dispatch', d, tensors: Object.values(d.bindings), pipeline, paramOffset, paramBytes });
  }

  private push(c: Command): void {
    if (!this.commands.length) this.recordingSince = performance.now();
    this.commands.push(c);
  }

  /** Throws when the dispatch's param or tensor names differ from the shader's; once per pipeline. */
  private checkContract(d: Dispatch, pipeline: GPUComputePipeline): void {
    const contract = parseKernelContract(this.ctx.pipelines.code(d.kernel));
    const params = Object.entries(d.params ?? {}).map(([name, [type]]) => [name, type] as [string, Param[0]]);
    const problems = contractMismatches(contract, params, Object.keys(d.bindings));
    if (problems.length) {
      const defines = Object.entries(d.kernel.defines ?? {}).filter(([, v]) => v !== false);
      const variant = defines.length ? ` (${defines.map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(', ')})` : '';
      throw new Error(`${d.kernel.shader}${variant}: the dispatch does not match the shader: ${problems.join('; ')}`);
    }
    checkedPipelines.add(pipeline);
  }

  copy(src: Tensor, dst: Tensor, bytes = Math.min(src.byteLength, dst.byteLength)): void {
    this.push({ kind: 'copy', src, dst, bytes });
  }

  clear(t: Tensor): void {
    this.push({ kind: 'clear', t });
  }

  private ensureParamCapacity(bytes: number): void {
    if (bytes <= this.params.byteLength) return;
    const grown = new ArrayBuffer(Math.max(bytes, this.params.byteLength * 2));
    new Uint8Array(grown).set(new Uint8Array(this.params, 0, this.paramBytes));
    this.params = grown;
  }

  private uniformBuffer(): GPUBuffer | null {
    if (this.paramBytes === 0) return null;
    if (!this.uniform || this.uniform.size < this.paramBytes) {
      this.uniform?.destroy();
      this.bindGroups.clear();
      const size = Math.max(4096, 2 ** Math.ceil(Math.log2(this.paramBytes)));
      this.uniform = this.ctx.device.createBuffer({ size, usage: UNIFORM_USAGE, label: 'seal-params' });
      this.ctx.counters.buffersCreated++;
    }
    this.ctx.counters.bytesUploaded += this.paramBytes;
    this.ctx.device.queue.writeBuffer(this.uniform, 0, this.params, 0, this.paramBytes);
    return this.uniform;
  }

  private bindGroup(c: Extract<Command, { kind: 'dispatch' }>, uniform: GPUBuffer | null): GPUBindGroup {
    const { d } = c;
    let key = `${d.kernel.shader}|${this.ctx.pipelineId(c.pipeline)}`;
    if (c.paramBytes) key += `|u${c.paramOffset}:${c.paramBytes}`;
    for (const t of c.tensors) key += `|${bufferId(t.buffer)}:${t.byteOffset}:${t.byteLength}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      const entries: GPUBindGroupEntry[] = c.tensors.map((t, i) => t.binding(i + 1));
      if (c.paramBytes) entries.unshift({ binding: 0, resource: { buffer: uniform!, offset: c.paramOffset, size: c.paramBytes } });
      g = this.ctx.device.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries, label: d.label ?? d.kernel.shader });
      this.ctx.counters.bindGroupsCreated++;
      if (this.bindGroups.size > 8192) this.bindGroups.clear();
      this.bindGroups.set(key, g);
    }
    return g;
  }

  /** Encodes everything recorded into one command buffer and submits it. */
  submit(): void {
    this.ctx.throwIfLost();
    if (!this.commands.length) return;
    const device = this.ctx.device;
    const counters = this.ctx.counters;
    const uniform = this.uniformBuffer();
    const encoder = device.createCommandEncoder({ label: 'seal-step' });
    const dispatches = this.commands.filter((c) => c.kind === 'dispatch').length;
    const querySet = this.profile ? device.createQuerySet({ type: 'timestamp', count: 2 * dispatches }) : null;
    const labels: string[] = [];
    let pass: GPUComputePassEncoder | null = null;
    for (const c of this.commands) {
      if (c.kind === 'dispatch') {
        if (querySet) {
          const q = labels.length * 2;
          pass?.end();
          pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
          labels.push(c.d.label ?? `${c.d.kernel.shader}:${c.d.kernel.entryPoint ?? 'main'}`);
        } else {
          pass ??= encoder.beginComputePass();
        }
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, this.bindGroup(c, uniform));
        const [x, y = 1, z = 1] = c.d.workgroups;
        pass.dispatchWorkgroups(x, y, z);
      } else {
        pass?.end();
        pass = null;
        if (c.kind === 'copy') encoder.copyBufferToBuffer(c.src.buffer, c.src.byteOffset, c.dst.buffer, c.dst.byteOffset, c.bytes);
        else encoder.clearBuffer(c.t.buffer, c.t.byteOffset, c.t.byteLength);
      }
    }
    pass?.end();
    let resolve: GPUBuffer | null = null;
    let readback: GPUBuffer | null = null;
    if (querySet) {
      resolve = device.createBuffer({ size: 16 * dispatches, usage: 0x200 | 0x04 }); // QUERY_RESOLVE | COPY_SRC
      readback = device.createBuffer({ size: 16 * dispatches, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
      encoder.resolveQuerySet(querySet, 0, 2 * dispatches, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16 * dispatches);
      counters.buffersCreated += 2;
    }
    device.queue.submit([encoder.finish()]);
    counters.submits++;
    counters.dispatches += dispatches;
    this.commands = [];
    this.paramBytes = 0;
    counters.recordMs += performance.now() - this.recordingSince;
    if (readback && querySet && resolve) {
      const rb = readback;
      counters.bytesReadBack += 16 * dispatches;
      this.lastTimings = this.ctx.guard(rb.mapAsync(1 /* READ */)).then(() => {
        const t = new BigUint64Array(rb.getMappedRange().slice(0));
        rb.destroy();
        resolve.destroy();
        querySet.destroy();
        return labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
      });
    }
  }

  /** Per-dispatch GPU times of the last profiled submission. */
  async timings(): Promise<Timing[]> {
    if (!this.lastTimings) throw new Error('no profiled submission: create the recorder with { profile: true } on a device with timestamp-query');
    return this.lastTimings;
  }

  dispose(): void {
    this.uniform?.destroy();
    this.uniform = null;
    this.bindGroups.clear();
  }
}

/** Splits a 1-D workgroup count over x and y so neither exceeds the per-dimension limit. */
export function fold1d(count: number, limit = 65535): [number, number] {
  if (count <= limit) return [count, 1];
  const y = Math.ceil(count / limit);
  return [Math.ceil(count / y), y];
}
