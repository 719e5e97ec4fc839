/** Row scatter: dst[rowsTo[r], :] = src[r, :]. Puts new tokens' keys and values into their KV-cache slots in one dispatch. */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel, expectPositiveInts } from './common.ts';

const WG = 256;

export interface ScatterRows {
  src: Tensor; // [rows, width] f32
  /** [rows] u32, distinct, each < dstRows. */
  rowsTo: Tensor;
  dst: Tensor; // [dstRows, width] f32
  rows: number;
  width: number;
  dstRows: number;
}

/** Host check of destination rows before upload: in range and distinct (two writers of one row would race). */
export function checkScatterRows(rowsTo: ArrayLike<number>, dstRows: number): void {
  const seen = new Set<number>();
  for (let r = 0; r < rowsTo.length; r++) {
    const to = rowsTo[r]!;
    if (!Number.isInteger(to) || to < 0 || to >= dstRows) throw new RangeError(`scatterRows: destination row ${to} (source row ${r}) outside [0, ${dstRows})`);
    if (seen.has(to)) throw new RangeError(`scatterRows: destination row ${to} is written twice`);
    seen.add(to);
  }
}

export function scatterRows(rec: CommandRecorder, a: ScatterRows): void {
  const { rows, width, dstRows } = a;
  expectPositiveInts('scatterRows', { rows, width, dstRows });
  expectNumel('scatterRows.src', a.src, rows * width);
  expectNumel('scatterRows.rowsTo', a.rowsTo, rows);
  expectNumel('scatterRows.dst', a.dst, dstRows * width);
  expectDtype('scatterRows.src', a.src, 'f32');
  expectDtype('scatterRows.rowsTo', a.rowsTo, 'u32');
  expectDtype('scatterRows.dst', a.dst, 'f32');
  if (a.dst.buffer === a.src.buffer || a.dst.buffer === a.rowsTo.buffer) throw new RangeError('scatterRows: dst shares a buffer with an input');
  rec.dispatch({
    kernel: { shader: 'scatter_rows', constants: { WG } },
    params: {
      rows: ['u32', rows],
      width: ['u32', width],
    },
    bindings: { src: a.src, rows_to: a.rowsTo, dst: a.dst },
    workgroups: fold1d(ceilDiv(rows * width, WG)),
    label: 'scatter rows',
  });
}
