/** Which kernel each family runs on a device: what `seal doctor` and the benchmark report. Derived from the ops' own choices. */
import type { GpuContext } from '../gpu/context.ts';
import { matmulVariant, subgroupMatrixPlan } from './matmul.ts';

export interface KernelPaths {
  /** Matmul at prefill/training sizes (M = 2048) and at decode sizes (M = 1..32). */
  matmulPrefill: string;
  matmulDecode: string;
  /** The tensor-core path: the subgroup-matrix config used, or why it is not used. */
  subgroupMatrix: string;
  /** Families with one portable kernel on every device. */
  portable: string[];
}

export function kernelPaths(ctx: GpuContext): KernelPaths {
  const plan = subgroupMatrixPlan(ctx);
  return {
    matmulPrefill: matmulVariant(ctx, { M: 2048, N: 2048, K: 2048 }),
    matmulDecode: matmulVariant(ctx, { M: 1, N: 2048, K: 2048 }),
    subgroupMatrix:
      typeof plan === 'string'
        ? `not used: ${plan}`
        : `${plan.config.componentType}->${plan.config.resultComponentType} ${plan.config.M}x${plan.config.N}x${plan.config.K}, subgroup size ${plan.subgroupSize}`,
    portable: ['attention', 'rmsnorm', 'rope', 'bias', 'swiglu', 'residual', 'embedding', 'cross-entropy', 'grad-norm', 'adamw', 'sampling'],
  };
}
