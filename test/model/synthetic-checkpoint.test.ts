import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/model/config.ts';
import { readTensorF32 } from '../../src/model/safetensors.ts';
import { syntheticCheckpoint } from '../../src/model/synthetic-checkpoint.ts';
import { Transformer } from '../../src/inference/transformer.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { testContext } from '../harness/context.ts';

const config = parseModelConfig({
  architectures: ['Qwen2ForCausalLM'],
  hidden_size: 24,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  vocab_size: 301,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 64,
});

describe('synthetic checkpoint', () => {
  it('is a valid safetensors file with every expected tensor, deterministic, in range, readable at any offset', async () => {
    const a = await syntheticCheckpoint(config, { seed: 7 });
    const b = await syntheticCheckpoint(config, { seed: 7 });
    const c = await syntheticCheckpoint(config, { seed: 8 });
    const size = await a.source.size();
    const whole = await a.source.read(0, size);
    expect(Array.from(await b.source.read(0, size))).toEqual(Array.from(whole));
    expect(Array.from(await c.source.read(a.header.dataOffset, 64))).not.toEqual(Array.from(whole.subarray(a.header.dataOffset, a.header.dataOffset + 64)));
    for (const [at, n] of [
      [3, 17],
      [a.header.dataOffset - 5, 900],
      [size - 33, 33],
      [1001, 4097],
    ] as const) {
      expect(Array.from(await a.source.read(at, n)), `read ${n} at ${at}`).toEqual(Array.from(whole.subarray(at, at + n)));
    }
    await expect(a.source.read(size - 1, 2)).rejects.toThrow(/cannot read 2 bytes/);
    const norm = await readTensorF32(a.source, a.header, 'model.layers.1.input_layernorm.weight');
    expect(norm.every((x) => x === 1)).toBe(true);
    const down = await readTensorF32(a.source, a.header, 'model.layers.0.mlp.down_proj.weight');
    const bound = 1 / Math.sqrt(40);
    expect(down.every((x) => Math.abs(x) <= bound)).toBe(true);
    expect(Math.max(...down.map(Math.abs))).toBeGreaterThan(bound / 2);
  });

  it('loads through loadWeights and gives finite logits', async () => {
    const ctx = await testContext();
    const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16', seed: 1 });
    const weights = await loadWeights(ctx, config, source, header);
    const model = new Transformer(ctx, config, weights, { matmul: 'f32' });
    const [row] = (await model.logits({ ids: [5, 300, 0] })).slice(-1);
    expect(row!.length).toBe(301);
    expect(row!.every(Number.isFinite)).toBe(true);
    model.dispose();
    weights.dispose();
  });
});
