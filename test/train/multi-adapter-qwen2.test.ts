/**
 * LoraModel with K = 3 adapters on a tiny Qwen2 (bf16 weights, q/k/v biases, tied embeddings): each adapter equals
 * training it alone (see multi-adapter-helpers.ts). Every size here is a multiple of 4 (ranks 4, 8, 12 too), so
 * every matmul takes its vector loads.
 */
import { describe, it } from 'vitest';
import { freshSeed } from '../harness/numerics.ts';
import { checkThreeAdapters } from './multi-adapter-helpers.ts';
import { QWEN2 } from './tiny-model.ts';

describe('LoraModel with several adapters in the same passes: Qwen2', () => {
  it('each of 3 adapters (ranks 4, 8, 12) equals training it alone, with and without recomputation', async () => {
    await checkThreeAdapters('Qwen2 bf16', QWEN2, 'BF16', [4, 8, 12], freshSeed());
  });
});
