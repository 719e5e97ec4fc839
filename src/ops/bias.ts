/** Bias over the last dimension: y += bias in place (bias f32/bf16/f16), and dbias = column sums of dy. */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel, expectPositiveInts, weightDefines } from './common.ts';

const WG = 256;
const COLS = 64;
const SLICES = 4;

export interface BiasAdd {
  y: Tensor; // [rows, cols] f32, updated in place
  bias: Tensor; // [cols] f32 | bf16 | f16
  rows: number;
  cols: number;
}

export function biasAdd(rec: CommandRecorder, a: BiasAdd): void {
  checkDims(a.rows, a.cols);
  expectNumel('bias.y', a.y, a.rows * a.cols);
  expectDtype('bias.y', a.y, 'f32');
  expectNumel('bias.bias', a.bias, a.cols);
  rec.dispatch({
    kernel: { shader: 'bias', defines: weightDefines(a.bias.dtype), constants: { WG } },
    params: { rows: ['u32', a.rows], cols: ['u32', a.cols] },
    bindings: { bias: a.bias, y: a.y },
    workgroups: fold1d(ceilDiv(a.rows * a.cols, WG)),
    label: 'bias',
  });
}

export interface BiasBackward {
  dy: Tensor; // [rows, cols] f32
  dbias: Tensor; // [cols] f32, overwritten
  rows: number;
  cols: number;
}

/** dbias[c] = sum over rows of dy[r, c], in a fixed order (deterministic; no atomics). dx = dy needs no kernel. */
export function biasBackward(rec: CommandRecorder, a: BiasBackward): void {
  checkDims(a.rows, a.cols);
  expectNumel('bias.dy', a.dy, a.rows * a.cols);
  expectDtype('bias.dy', a.dy, 'f32');
  expectNumel('bias.dbias', a.dbias, a.cols);
  expectDtype('bias.dbias', a.dbias, 'f32');
  if (a.dbias.buffer === a.dy.buffer) throw new Error('bias: dbias shares a buffer with dy');
  rec.dispatch({
    kernel: { shader: 'bias', defines: { BACKWARD: true }, constants: { COLS, SLICES } },
    params: { rows: ['u32', a.rows], cols: ['u32', a.cols] },
    bindings: { dy: a.dy, dbias: a.dbias },
    workgroups: [ceilDiv(a.cols, COLS)],
    label: 'bias.backward',
  });
}

function checkDims(rows: number, cols: number): void {
  expectPositiveInts('bias', { rows, cols });
}
