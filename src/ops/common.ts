/** Shape checks and small helpers shared by the op wrappers. */
import type { DType } from '../gpu/dtype.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { shapeString } from '../gpu/tensor.ts';

export function expectShape(name: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(`${name}: expected shape ${shapeString(shape)}, got ${shapeString(t.shape)}`);
  }
}

export function expectNumel(name: string, t: Tensor, numel: number): void {
  if (t.numel !== numel) throw new RangeError(`${name}: expected ${numel} elements, got ${t.numel} (shape ${shapeString(t.shape)})`);
}

export function expectDtype(name: string, t: Tensor, ...dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype)) throw new TypeError(`${name}: dtype ${t.dtype} not supported here; expected ${dtypes.join(' or ')}`);
}

/** Preprocessor defines selecting how a kernel reads 16-bit or f32 weights. */
export function weightDefines(dtype: DType): { W_BF16?: true; W_F16?: true } {
  if (dtype === 'bf16') return { W_BF16: true };
  if (dtype === 'f16') return { W_F16: true };
  if (dtype === 'f32') return {};
  throw new TypeError(`weights of dtype ${dtype} are not supported; use f32, f16 or bf16`);
}

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Throws `<op>: <name> must be a positive integer, got <v>` for the first dimension that is not. */
export function expectPositiveInts(op: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
  }
}
