import { describe, expect, it } from 'vitest';
import { checkWeights, expectedWeights, parseModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader } from '../../src/model/safetensors.ts';
import { fileSource, readJsonFile } from '../../runtime-node/file-source.ts';
import { sharedPath } from '../harness/shared.ts';

const shared = sharedPath;
const STORIES = shared('models/stories260K');

describe('model config', () => {
  it('stories260K (Llama, GQA, tied) with generation_config EOS ids', async () => {
    const cfg = parseModelConfig(await readJsonFile(`${STORIES}/config.json`), await readJsonFile(`${STORIES}/generation_config.json`));
    expect(cfg).toEqual({
      architecture: 'llama',
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
      maxPositionEmbeddings: 512,
      bosTokenId: 1,
      eosTokenIds: [2, 1],
    });
    expect(parseModelConfig(await readJsonFile(`${STORIES}/config.json`)).eosTokenIds).toEqual([2]);
  });

  it('Llama-3.2-1B (llama3 rope_scaling)', async () => {
    const cfg = parseModelConfig(await readJsonFile(shared('tokenizers/Llama-3.2-1B-Instruct/config.json')));
    expect(cfg).toMatchObject({
      architecture: 'llama',
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      vocabSize: 128256,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      tieWordEmbeddings: true,
      attentionBias: false,
      maxPositionEmbeddings: 131072,
      bosTokenId: 128000,
      eosTokenIds: [128001],
    });
    expect(cfg.ropeScaling).toEqual({ factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' });
    const gen = parseModelConfig(
      await readJsonFile(shared('tokenizers/Llama-3.2-1B-Instruct/config.json')),
      await readJsonFile(shared('tokenizers/Llama-3.2-1B-Instruct/generation_config.json')),
    );
    expect(gen.eosTokenIds).toEqual([128001, 128008, 128009]);
  });

  it('Qwen2.5-0.5B (q/k/v bias, head_dim derived)', async () => {
    const cfg = parseModelConfig(await readJsonFile(shared('tokenizers/Qwen2.5-0.5B-Instruct/config.json')));
    expect(cfg).toEqual({
      architecture: 'qwen2',
      hiddenSize: 896,
      intermediateSize: 4864,
      numLayers: 24,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      vocabSize: 151936,
      rmsNormEps: 1e-6,
      ropeTheta: 1000000,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: true,
      maxPositionEmbeddings: 32768,
      bosTokenId: 151643,
      eosTokenIds: [151645],
    });
    const names = expectedWeights(cfg).map((w) => w.name);
    expect(names).toContain('model.layers.23.self_attn.k_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(names.length).toBe(1 + 24 * 12 + 1);
    const gen = parseModelConfig(
      await readJsonFile(shared('tokenizers/Qwen2.5-0.5B-Instruct/config.json')),
      await readJsonFile(shared('tokenizers/Qwen2.5-0.5B-Instruct/generation_config.json')),
    );
    expect(gen.eosTokenIds).toEqual([151645, 151643]);
  });

  it('rejects unsupported architectures and bad values, naming what is supported', async () => {
    const base = (await readJsonFile(`${STORIES}/config.json`)) as Record<string, unknown>;
    expect(() => parseModelConfig({ ...base, architectures: ['MistralForCausalLM'] })).toThrow(
      /unsupported architecture 'MistralForCausalLM'; supported architectures: LlamaForCausalLM, Qwen2ForCausalLM/,
    );
    expect(() => parseModelConfig({ ...base, architectures: undefined })).toThrow(/architectures is missing; supported architectures: LlamaForCausalLM/);
    expect(() => parseModelConfig({ ...base, num_key_value_heads: 3 })).toThrow(/num_attention_heads \(8\) must be a multiple of num_key_value_heads \(3\)/);
    expect(() => parseModelConfig({ ...base, hidden_size: -64 })).toThrow(/hidden_size must be a positive integer/);
    expect(() => parseModelConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope_scaling type 'yarn' is not supported/);
    expect(() => parseModelConfig({ ...base, hidden_act: 'gelu' })).toThrow(/hidden_act 'gelu' is not supported/);
    expect(() => parseModelConfig('nope')).toThrow(/not a JSON object/);
  });

  it('checkWeights accepts stories260K and lists every mismatch of a config that disagrees', async () => {
    const header = await parseSafetensorsHeader(fileSource(`${STORIES}/model.safetensors`));
    const base = (await readJsonFile(`${STORIES}/config.json`)) as Record<string, unknown>;
    checkWeights(parseModelConfig(base), header);

    const wrong = parseModelConfig({ ...base, num_hidden_layers: 6, intermediate_size: 128, tie_word_embeddings: false });
    let message = '';
    try {
      checkWeights(wrong, header);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('model.safetensors');
    expect(message).toMatch(/model\.layers\.0\.mlp\.gate_proj\.weight: shape \[172, 64\], config expects \[128, 64\]/);
    expect(message).toMatch(/model\.layers\.4\.mlp\.down_proj\.weight: shape \[64, 172\], config expects \[64, 128\]/);
    expect(message).toMatch(/missing model\.layers\.5\.input_layernorm\.weight \[64\]/);
    expect(message).toMatch(/missing lm_head\.weight \[512, 64\]/);
    // 5 layers x 3 MLP shapes + the 9 tensors of the missing 6th layer + lm_head
    expect(message).toMatch(/\(25 problems\)/);
  });
});
