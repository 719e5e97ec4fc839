import { bytesFor, type DType } from './dtype.ts';

/** A typed view of (part of) a GPU buffer. Row-major; the last dimension is contiguous. */
export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly byteOffset = 0,
  ) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return bytesFor(this.dtype, this.numel);
  }

  /** A binding entry covering exactly this tensor. */
  binding(index: number): GPUBindGroupEntry {
    return { binding: index, resource: { buffer: this.buffer, offset: this.byteOffset, size: this.byteLength } };
  }
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
