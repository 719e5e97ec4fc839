/**
 * AdamW step with torch.optim.AdamW semantics (amsgrad=False, maximize=False): decoupled weight decay
 * param *= 1 - lr * weightDecay, bias correction with the 1-based step t, eps added to sqrt(v_hat).
 * Gradients are first multiplied by the optional clip scale tensor (from gradNorm), so clipping needs no readback.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel } from './common.ts';

const WG = 256;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 on the first step. */
  step: number;
}

export interface AdamWStep extends AdamWHyper {
  param: Tensor; // f32, updated in place
  grad: Tensor; // f32, same size
  m: Tensor; // f32 first moment, zero before step 1, updated in place
  v: Tensor; // f32 second moment, zero before step 1, updated in place
  clipScale?: Tensor; // [1] f32: grads are multiplied by it first
}

function checkHyper(h: AdamWHyper): void {
  const bad = (what: string, v: number) => new RangeError(`adamw: invalid ${what} ${v}`);
  if (!(h.lr >= 0 && Number.isFinite(h.lr))) throw bad('lr', h.lr);
  if (!(h.eps >= 0 && Number.isFinite(h.eps))) throw bad('eps', h.eps);
  if (!(h.beta1 >= 0 && h.beta1 < 1)) throw bad('beta1 (need 0 <= beta1 < 1)', h.beta1);
  if (!(h.beta2 >= 0 && h.beta2 < 1)) throw bad('beta2 (need 0 <= beta2 < 1)', h.beta2);
  if (!(h.weightDecay >= 0 && Number.isFinite(h.weightDecay))) throw bad('weightDecay', h.weightDecay);
  if (!Number.isInteger(h.step) || h.step < 1) throw bad('step (need an integer >= 1)', h.step);
}

export function adamwStep(rec: CommandRecorder, a: AdamWStep): void {
  checkHyper(a);
  const n = a.param.numel;
  for (const [name, t] of [
    ['param', a.param],
    ['grad', a.grad],
    ['m', a.m],
    ['v', a.v],
  ] as const) {
    expectNumel(`adamw.${name}`, t, n);
    expectDtype(`adamw.${name}`, t, 'f32');
  }
  if (a.clipScale) {
    expectNumel('adamw.clipScale', a.clipScale, 1);
    expectDtype('adamw.clipScale', a.clipScale, 'f32');
  }
  // Bias corrections and 1 - beta in f64 on the host, as PyTorch computes them in Python floats.
  const stepSize = a.lr / (1 - a.beta1 ** a.step);
  const bc2Sqrt = Math.sqrt(1 - a.beta2 ** a.step);
  rec.dispatch({
    kernel: { shader: 'adamw', defines: { CLIP: Boolean(a.clipScale) }, constants: { WG } },
    params: {
      n: ['u32', n],
      decay: ['f32', 1 - a.lr * a.weightDecay],
      beta1: ['f32', a.beta1],
      beta2: ['f32', a.beta2],
      eps: ['f32', a.eps],
      step_size: ['f32', stepSize],
      bc2_sqrt: ['f32', bc2Sqrt],
      // 1 - beta in f64 too (PyTorch's `value=1 - beta2`): in f32, 1 - f32(0.999) is off by 1.3e-5 relative.
      one_minus_beta1: ['f32', 1 - a.beta1],
      one_minus_beta2: ['f32', 1 - a.beta2],
    },
    bindings: { param: a.param, grad: a.grad, m: a.m, v: a.v, ...(a.clipScale ? { clip: a.clipScale } : {}) },
    workgroups: fold1d(ceilDiv(n, WG)),
    label: 'adamw',
  });
}
