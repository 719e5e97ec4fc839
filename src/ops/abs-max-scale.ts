/**
 * A power-of-two scale for a matmul operand that a kernel rounds to f16 (shaders/abs_max_scale.wgsl): s with
 * max|A|·s in [2^14, 2^15), written with 1/s as a 2-element f32 tensor on the GPU (no readback). The f16 and
 * subgroup-matrix matmul kernels multiply A by s as they stage it and the product by 1/s, which is exact, so
 * values far below f16's smallest normal (the backward's dY of a mean loss) or above its largest keep f16's
 * 11-bit precision. Deterministic two-stage maximum over A's addressed elements; no atomics.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d, type Param } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype } from './common.ts';

const WG = 256;
/** At most this many first-stage workgroups (partials), whatever the operand's size. */
export const ABS_MAX_PARTIALS = 1024;
/** The fewest elements one first-stage workgroup takes (small operands use few workgroups). */
const MIN_CHUNK = WG * 8;

export interface AbsMaxScale {
  /** f32; its elements (row, col) for row < rows, col < cols at a[offset + row·stride + col] are scanned. */
  a: Tensor;
  rows: number;
  cols: number;
  /** Default 0. */
  offset?: number;
  /** Default cols. */
  stride?: number;
  /** u32 scratch of at least ABS_MAX_PARTIALS elements. */
  partials: Tensor;
  /** [2] f32 out: (s, 1/s). */
  scale: Tensor;
}

export function absMaxScale(rec: CommandRecorder, args: AbsMaxScale): void {
  const { rows, cols, offset = 0, stride = cols } = args;
  for (const [name, v] of Object.entries({ rows, cols, offset, stride })) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`abs_max_scale: ${name} must be a non-negative integer, got ${v}`);
  }
  if (stride < cols) throw new RangeError(`abs_max_scale: stride must be >= cols (${cols}), got ${stride}`);
  expectDtype('abs_max_scale.a', args.a, 'f32');
  expectDtype('abs_max_scale.partials', args.partials, 'u32');
  expectDtype('abs_max_scale.scale', args.scale, 'f32');
  if (args.partials.numel < ABS_MAX_PARTIALS) throw new RangeError(`abs_max_scale.partials: needs ${ABS_MAX_PARTIALS} elements, got ${args.partials.numel}`);
  if (args.scale.numel !== 2) throw new RangeError(`abs_max_scale.scale: needs 2 elements, got ${args.scale.numel}`);
  const n = rows * cols;
  const end = n === 0 ? 0 : offset + (rows - 1) * stride + cols;
  if (end > args.a.numel)
    throw new RangeError(
      `abs_max_scale.a: [${rows}, ${cols}] at offset ${offset}, stride ${stride} reaches element ${end}, past the ${args.a.numel} of the tensor`,
    );
  const chunk = Math.max(MIN_CHUNK, ceilDiv(n, ABS_MAX_PARTIALS));
  const groups = ceilDiv(n, chunk);
  const params = (count: number): Record<string, Param> => ({
    rows: ['u32', rows],
    cols: ['u32', cols],
    offset: ['u32', offset],
    stride: ['u32', stride],
    chunk: ['u32', chunk],
    count: ['u32', count],
  });
  if (groups > 0) {
    rec.dispatch({
      kernel: { shader: 'abs_max_scale', constants: { WG } },
      params: params(0),
      bindings: { a: args.a, partials: args.partials },
      workgroups: fold1d(groups),
      label: 'abs_max_scale:partial',
    });
  }
  rec.dispatch({
    kernel: { shader: 'abs_max_scale', defines: { FINAL: true }, constants: { WG } },
    params: params(groups),
    bindings: { partials: args.partials, scale: args.scale },
    workgroups: [1],
    label: 'abs_max_scale:final',
  });
}

/**
 * One partials + scale pair per device, shared by every scaled matmul that scans its own A: each scale is
 * written and read by consecutive dispatches of one submission, and WebGPU orders a queue's dispatches, so
 * sharing is safe. (A scale several products share lives in the caller's own tensor: absMaxScaleOf.)
 */
const scratchByContext = new WeakMap<GpuContext, { partials: Tensor; scale: Tensor }>();

export function absMaxScratch(ctx: GpuContext): { partials: Tensor; scale: Tensor } {
  let s = scratchByContext.get(ctx);
  if (!s) {
    s = { partials: ctx.empty('u32', [ABS_MAX_PARTIALS], 'abs-max partials'), scale: ctx.empty('f32', [2], 'abs-max scale') };
    scratchByContext.set(ctx, s);
  }
  return s;
}

/** absMaxScale of a region into `scale` ([2] f32), with this device's shared partials scratch. */
export function absMaxScaleOf(rec: CommandRecorder, region: Omit<AbsMaxScale, 'partials' | 'scale'>, scale: Tensor): void {
  absMaxScale(rec, { ...region, partials: absMaxScratch(rec.ctx).partials, scale });
}
