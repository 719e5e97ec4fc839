/** Tensors of one recorded call or step, freed together once its submission is queued (the pool reuses them next time). */
import type { GpuContext } from './context.ts';
import type { DType } from './dtype.ts';
import type { Tensor } from './tensor.ts';

export class Arena {
  private tensors: Tensor[] = [];

  constructor(readonly ctx: GpuContext) {}

  empty(dtype: DType, shape: readonly number[], label?: string): Tensor {
    const t = this.ctx.empty(dtype, shape, label);
    this.tensors.push(t);
    return t;
  }

  upload(dtype: DType, shape: readonly number[], data: ArrayLike<number>, label?: string): Tensor {
    const t = this.empty(dtype, shape, label);
    this.ctx.write(t, data);
    return t;
  }

  /** Returns every tensor to the pool. Safe after rec.submit(): queued work keeps its buffers alive. */
  free(): void {
    this.ctx.free(...this.tensors);
    this.tensors = [];
  }
}
