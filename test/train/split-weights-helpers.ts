/** Shared steps of the split-weight training tests: one checkpoint loaded whole and as row blocks. */
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { LORA_TARGETS, loraModulePath } from '../../src/lora/config.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { SplitTensor } from '../../src/model/split-weight.ts';
import { loadWeights, type ModelWeights } from '../../src/model/weights.ts';
import { rng } from '../harness/numerics.ts';
import type { Weights } from '../ref/transformer.ts';
import { randomCheckpoint, type CheckpointDType } from './tiny-model.ts';

/** The same random checkpoint loaded whole and split into row blocks of at most `limit` bytes, and on the host. */
export async function loadBoth(ctx: GpuContext, config: ModelConfig, dtype: CheckpointDType, seed: number, limit: number) {
  const source = memorySource(randomCheckpoint(config, dtype, rng(seed)), 'tiny.safetensors');
  const header = await parseSafetensorsHeader(source);
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  const whole = await loadWeights(ctx, config, source, header);
  const split = await loadWeights(ctx, config, source, header, { maxBindingBytes: limit, chunkBytes: 1000 });
  return { whole, split, ref };
}

/** Every projection, the embedding and the head are stored as several blocks. */
export function expectSplit(config: ModelConfig, w: ModelWeights): void {
  const names = ['model.embed_tokens.weight', w.lmHeadName];
  for (let l = 0; l < config.numLayers; l++) for (const t of LORA_TARGETS) names.push(`${loraModulePath(l, t)}.weight`);
  for (const name of names) {
    const t = w.ref(name);
    expect(t instanceof SplitTensor && t.blocks.length > 1, `${name} is split`).toBe(true);
  }
}
