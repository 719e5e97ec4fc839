/** Small helpers shared by the elementwise-op tests (rope, swiglu, residual, bias, embedding). */
import type { GpuContext } from '../../src/gpu/context.ts';
import type { DType } from '../../src/gpu/dtype.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';

/** An output tensor filled with NaN, so anything the kernel fails to write shows up. */
export function poisoned(ctx: GpuContext, dtype: DType, shape: readonly number[]): Tensor {
  const t = ctx.empty(dtype, shape);
  ctx.fill(t);
  return t;
}

/** Asserts two f32 arrays hold identical bits (NaN payloads included): for determinism and untouched-memory checks. */
export function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, want ${expected.length}`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i])
      throw new Error(`${what}: element ${i} differs: got ${actual[i]} (0x${a[i]!.toString(16)}), want ${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}

/** Dot product in f64: the scalar loss whose gradient a backward computes (loss = sum(y * dy)). */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
