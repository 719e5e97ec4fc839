/** RMSNorm forward (saves 1/rms per row) and backward to the input. Norm weights are frozen. */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel, weightDefines } from './common.ts';

const WG = 128;

export interface RmsNormForward {
  x: Tensor; // [rows, dim] f32
  weight: Tensor; // [dim] f32 | bf16 | f16
  y: Tensor; // [rows, dim] f32
  rstd: Tensor; // [rows] f32
  rows: number;
  dim: number;
  eps: number;
}

export function rmsnormForward(rec: CommandRecorder, a: RmsNormForward): void {
  expectNumel('rmsnorm.x', a.x, a.rows * a.dim);
  expectNumel('rmsnorm.y', a.y, a.rows * a.dim);
  expectNumel('rmsnorm.weight', a.weight, a.dim);
  expectNumel('rmsnorm.rstd', a.rstd, a.rows);
  expectDtype('rmsnorm.x', a.x, 'f32');
  rec.dispatch({
    kernel: { shader: 'rmsnorm', defines: weightDefines(a.weight.dtype), constants: { WG } },
    params: { rows: ['u32', a.rows], dim: ['u32', a.dim], eps: ['f32', a.eps] },
    bindings: { x: a.x, w: a.weight, y: a.y, rstd: a.rstd },
    workgroups: fold1d(a.rows),
  });
}

export interface RmsNormBackward {
  x: Tensor;
  weight: Tensor;
  rstd: Tensor;
  dy: Tensor;
  dx: Tensor;
  rows: number;
  dim: number;
}

export function rmsnormBackward(rec: CommandRecorder, a: RmsNormBackward): void {
  expectNumel('rmsnorm.x', a.x, a.rows * a.dim);
  expectNumel('rmsnorm.dy', a.dy, a.rows * a.dim);
  expectNumel('rmsnorm.dx', a.dx, a.rows * a.dim);
  expectNumel('rmsnorm.rstd', a.rstd, a.rows);
  rec.dispatch({
    kernel: { shader: 'rmsnorm', defines: { ...weightDefines(a.weight.dtype), BACKWARD: true }, constants: { WG } },
    params: { rows: ['u32', a.rows], dim: ['u32', a.dim], eps: ['f32', 0] },
    bindings: { x: a.x, w: a.weight, rstd: a.rstd, dy: a.dy, dx: a.dx },
    workgroups: fold1d(a.rows),
  });
}
