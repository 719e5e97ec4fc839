/** Residual add: out = a + b, or a += b in place. Elementwise f32 over any length; vec4 when aligned. */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel } from './common.ts';

const WG = 256;

export interface ResidualAdd {
  a: Tensor; // f32, any shape
  b: Tensor; // f32, as many elements as a
  /** f32, as many elements as a; omit it to accumulate into a (a += b). */
  out?: Tensor;
}

export function residualAdd(rec: CommandRecorder, args: ResidualAdd): void {
  const { a, b, out } = args;
  const n = a.numel;
  expectDtype('residual.a', a, 'f32');
  expectDtype('residual.b', b, 'f32');
  expectNumel('residual.b', b, n);
  if (b.buffer === a.buffer && !out) throw new Error('residual: b shares a buffer with a, which is written in place; pass out');
  if (out) {
    expectDtype('residual.out', out, 'f32');
    expectNumel('residual.out', out, n);
    if (out.buffer === a.buffer || out.buffer === b.buffer) throw new Error('residual: out shares a buffer with an input; omit out to add in place');
  }
  const tensors = out ? [a, b, out] : [a, b];
  // vec4 loads when the length and every binding allow it (a vec4 array binding needs 16-byte offsets).
  const vec4 = n % 4 === 0 && tensors.every((t) => t.byteOffset % 16 === 0);
  const count = vec4 ? n / 4 : n;
  rec.dispatch({
    kernel: { shader: 'residual', defines: { IN_PLACE: !out, VEC4: vec4 }, constants: { WG } },
    params: { n: ['u32', count] },
    bindings: out ? { a, b, out } : { a, b },
    workgroups: fold1d(ceilDiv(count, WG)),
    label: 'residual',
  });
}
