/**
 * Global L2 norm of a list of f32 gradient tensors (e.g. all LoRA parameters) and the clip scale
 * min(1, maxNorm / (norm + 1e-6)) of torch.nn.utils.clip_grad_norm_, both left on the GPU as 1-element tensors
 * (feed clipScale to adamwStep). Deterministic two-stage reduction: fixed chunks of each tensor give partial
 * sums of squares, then one workgroup adds the partials in order. No atomics.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel } from './common.ts';

const WG = 256;
/** Elements summed by one workgroup of the first stage. */
const CHUNK = WG * 16;

export interface GradNorm {
  grads: readonly Tensor[]; // f32, any shapes
  /** f32 scratch of at least gradNormPartials(grads) elements. */
  partials: Tensor;
  norm: Tensor; // [1] f32 out: sqrt(sum of g^2 over all tensors)
  clipScale?: Tensor; // [1] f32 out: min(1, maxNorm / (norm + 1e-6)); needs maxNorm
  maxNorm?: number;
}

/** Size of the partials scratch tensor gradNorm needs for these gradients. */
export function gradNormPartials(grads: readonly Tensor[]): number {
  return Math.max(
    1,
    grads.reduce((n, g) => n + ceilDiv(g.numel, CHUNK), 0),
  );
}

export function gradNorm(rec: CommandRecorder, a: GradNorm): void {
  const count = gradNormPartials(a.grads);
  if (a.partials.numel < count) {
    throw new RangeError(`grad_norm.partials: needs at least ${count} elements (gradNormPartials), got ${a.partials.numel}`);
  }
  expectDtype('grad_norm.partials', a.partials, 'f32');
  expectNumel('grad_norm.norm', a.norm, 1);
  expectDtype('grad_norm.norm', a.norm, 'f32');
  if (a.clipScale) {
    expectNumel('grad_norm.clipScale', a.clipScale, 1);
    expectDtype('grad_norm.clipScale', a.clipScale, 'f32');
    if (a.maxNorm === undefined || !(a.maxNorm > 0 && Number.isFinite(a.maxNorm))) {
      throw new RangeError(`grad_norm: clipScale needs a finite positive maxNorm, got ${a.maxNorm}`);
    }
  }
  let offset = 0;
  a.grads.forEach((g, i) => {
    expectDtype(`grad_norm.grads[${i}]`, g, 'f32');
    const groups = ceilDiv(g.numel, CHUNK);
    rec.dispatch({
      kernel: { shader: 'grad_norm', constants: { WG } },
      params: {
        n: ['u32', g.numel],
        offset: ['u32', offset],
        chunk: ['u32', CHUNK],
        max_norm: ['f32', 0],
      },
      bindings: { grad: g, partials: a.partials },
      workgroups: fold1d(groups),
      label: 'grad_norm:partial',
    });
    offset += groups;
  });
  rec.dispatch({
    kernel: { shader: 'grad_norm', defines: { FINAL: true, CLIP: Boolean(a.clipScale) }, constants: { WG } },
    params: {
      n: ['u32', offset],
      offset: ['u32', 0],
      chunk: ['u32', 0],
      max_norm: ['f32', a.maxNorm ?? 0],
    },
    bindings: { partials: a.partials, norm: a.norm, ...(a.clipScale ? { clip: a.clipScale } : {}) },
    workgroups: [1],
    label: 'grad_norm:final',
  });
}
