/**
 * PEFT adapter files: adapter_config.json + adapter_model.safetensors with PEFT's key names and layouts, round
 * trips in F32 / BF16 / F16, a hand-built adapter whose GPU logits equal the f64 reference transformer with the
 * merged weights W + s·B·A, and clear errors for files that do not match.
 */
import { describe, expect, it } from 'vitest';
import { roundTo } from '../../src/gpu/dtype.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { LORA_TARGETS, resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights, type LoraHostWeights } from '../../src/lora/host-weights.ts';
import { parsePeftAdapter, parsePeftConfig, peftTensorKey, serializePeftAdapter, type PeftAdapterFiles } from '../../src/lora/peft-format.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { LoraModel } from '../../src/train/lora-model.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { mergeLoraRef } from '../ref/lora-transformer.ts';
import { referenceLogits } from '../ref/transformer.ts';
import { LLAMA_GQA, loadTinyModel, QWEN2, randomBatch, refLora } from '../train/tiny-model.ts';

function hostAdapter(model: ModelConfig, lora: LoraConfig, seed: number): LoraHostWeights {
  return initLoraWeights(model, resolveLoraConfig(lora), { seed, b: 'random' });
}

/** Replaces, adds or drops tensors of a serialized adapter. */
async function editWeights(
  files: PeftAdapterFiles,
  edit: (tensors: Map<string, { dtype: 'F32' | 'I32' | 'BF16'; shape: number[]; data: Float32Array | Uint8Array }>) => void,
): Promise<PeftAdapterFiles> {
  const source = memorySource(files.weights);
  const header = await parseSafetensorsHeader(source);
  const tensors = new Map<string, { dtype: 'F32' | 'I32' | 'BF16'; shape: number[]; data: Float32Array | Uint8Array }>();
  for (const [name, info] of header.tensors)
    tensors.set(name, { dtype: info.dtype as 'F32', shape: info.shape, data: files.weights.slice(info.begin, info.end) });
  edit(tensors);
  return { config: files.config, weights: writeSafetensors([...tensors].map(([name, t]) => ({ name, ...t }))) };
}

const editConfig = (files: PeftAdapterFiles, patch: Record<string, unknown>): PeftAdapterFiles => ({
  ...files,
  config: JSON.stringify({ ...JSON.parse(files.config), ...patch }),
});

describe('PEFT adapter format', () => {
  it('writes the adapter_config.json PEFT writes for a plain LoRA, keys sorted', () => {
    const host = hostAdapter(LLAMA_GQA, { targets: ['v_proj', 'q_proj', 'down_proj'], rank: 4, alpha: 16, rsLora: true }, 1);
    const { config } = serializePeftAdapter(host, { baseModel: 'meta-llama/Llama-3.2-1B-Instruct' });
    const json = JSON.parse(config);
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      use_rslora: true,
      lora_dropout: 0,
      bias: 'none',
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      base_model_name_or_path: 'meta-llama/Llama-3.2-1B-Instruct',
      fan_in_fan_out: false,
      use_dora: false,
      modules_to_save: null,
      layers_to_transform: null,
      rank_pattern: {},
      alpha_pattern: {},
      init_lora_weights: true,
      inference_mode: true,
    });
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
    expect(parsePeftConfig(config)).toEqual({
      lora: resolveLoraConfig({ targets: ['q_proj', 'v_proj', 'down_proj'], rank: 4, alpha: 16, rsLora: true }),
      baseModel: 'meta-llama/Llama-3.2-1B-Instruct',
    });
  });

  it("stores A [r, in] and B [out, r] under PEFT's keys in a safetensors file our reader accepts", async () => {
    const host = hostAdapter(QWEN2, { targets: ['q_proj', 'down_proj'], rank: 3, alpha: 6 }, 2);
    const { weights } = serializePeftAdapter(host, { baseModel: null, dtype: 'BF16' });
    const header = await parseSafetensorsHeader(memorySource(weights, 'adapter_model.safetensors'));
    expect(header.metadata).toEqual({ format: 'pt' });
    expect((header.dataOffset - 8) % 8).toBe(0);
    const h = header.tensors;
    expect(h.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toMatchObject({ dtype: 'BF16', shape: [3, 32] });
    expect(h.get('base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight')).toMatchObject({ dtype: 'BF16', shape: [32, 3] });
    expect(h.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')).toMatchObject({ dtype: 'BF16', shape: [3, 44] });
    expect(h.get('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')).toMatchObject({ dtype: 'BF16', shape: [32, 3] });
    expect(h.size).toBe(8);
    expect(peftTensorKey('model.layers.7.mlp.up_proj', 'B')).toBe('base_model.model.model.layers.7.mlp.up_proj.lora_B.weight');
  });

  for (const dtype of ['F32', 'BF16', 'F16'] as const) {
    it(`round-trips an adapter stored as ${dtype}`, async () => {
      const seed = freshSeed();
      const host = hostAdapter(LLAMA_GQA, { targets: [...LORA_TARGETS], rank: 5, alpha: 10 }, seed);
      const parsed = await parsePeftAdapter(LLAMA_GQA, serializePeftAdapter(host, { baseModel: 'tiny', dtype }));
      expect(parsed.config).toEqual(host.config);
      expect(parsed.baseModel).toBe('tiny');
      expect(parsed.dtype).toBe(dtype);
      expect(parsed.modules.map((m) => m.path)).toEqual(host.modules.map((m) => m.path));
      const gpu = dtype === 'F32' ? 'f32' : dtype === 'BF16' ? 'bf16' : 'f16';
      parsed.modules.forEach((m, i) => {
        expect(m.a, `${m.path} A (seed ${seed})`).toEqual(roundTo(host.modules[i]!.a, gpu));
        expect(m.b, `${m.path} B (seed ${seed})`).toEqual(roundTo(host.modules[i]!.b, gpu));
      });
    });
  }

  it('a hand-built adapter, saved and loaded, gives the f64 reference logits of the merged weights W + s·B·A', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const { weights, ref } = await loadTinyModel(ctx, QWEN2, 'BF16', rng(seed));
    const config = resolveLoraConfig({ targets: ['q_proj', 'k_proj', 'o_proj', 'up_proj', 'down_proj'], rank: 2, alpha: 3 });
    // Known values: smooth patterns with different signs per module, large enough to change every logit.
    const host = initLoraWeights(QWEN2, config, { seed: 0 });
    host.modules.forEach((m, k) => {
      m.a.forEach((_, i) => {
        m.a[i] = 0.4 * Math.sin(0.7 * i + k);
      });
      m.b.forEach((_, i) => {
        m.b[i] = 0.3 * Math.cos(1.3 * i - 2 * k);
      });
    });
    const parsed = await parsePeftAdapter(QWEN2, serializePeftAdapter(host, { baseModel: null }));
    const adapter = LoraAdapter.upload(ctx, QWEN2, parsed);
    const model = new LoraModel(ctx, QWEN2, weights, adapter);
    const batch = randomBatch(rng(seed + 1), [11, 20], QWEN2.vocabSize);
    const got = await model.logits({ ids: batch.ids, seqStart: batch.seqStart });
    const merged = mergeLoraRef(ref, refLora(parsed));
    const want = [...referenceLogits(QWEN2, merged, batch.ids.slice(0, 11)), ...referenceLogits(QWEN2, merged, batch.ids.slice(11))];
    const base = [...referenceLogits(QWEN2, ref, batch.ids.slice(0, 11)), ...referenceLogits(QWEN2, ref, batch.ids.slice(11))];
    let worst = 0;
    got.forEach((row, i) => {
      worst = Math.max(worst, expectClose(row, want[i]!, TOL.f32, `row ${i} (seed ${seed})`));
      expect(
        row.some((v, j) => Math.abs(v - base[i]![j]!) > 1e-2),
        `row ${i} differs from the base model`,
      ).toBe(true);
    });
    console.log(`hand-built PEFT adapter: worst row NMSE vs merged-weight reference ${worst.toExponential(2)}`);
    model.dispose();
    adapter.dispose();
    weights.dispose();
  });

  it('accepts target_modules "all-linear" and, on request, a non-zero lora_dropout', () => {
    const base = JSON.parse(serializePeftAdapter(hostAdapter(LLAMA_GQA, { targets: ['q_proj'], rank: 2, alpha: 4 }, 1), { baseModel: null }).config);
    expect(parsePeftConfig({ ...base, target_modules: 'all-linear' }).lora.targets).toEqual([...LORA_TARGETS]);
    expect(parsePeftConfig({ ...base, target_modules: ['self_attn.q_proj', 'mlp.up_proj'] }).lora.targets).toEqual(['q_proj', 'up_proj']);
    expect(() => parsePeftConfig({ ...base, lora_dropout: 0.05 })).toThrow(/lora_dropout = 0.05: training here has no dropout; pass ignoreDropout/);
    expect(parsePeftConfig({ ...base, lora_dropout: 0.05 }, { ignoreDropout: true }).lora.dropout).toBe(0);
  });

  it('rejects configs that are not plain LoRA with clear errors', () => {
    const base = JSON.parse(serializePeftAdapter(hostAdapter(LLAMA_GQA, { targets: ['q_proj'], rank: 2, alpha: 4 }, 1), { baseModel: null }).config);
    const bad = (patch: Record<string, unknown>) => () => parsePeftConfig({ ...base, ...patch });
    expect(() => parsePeftConfig('{"r": 8,')).toThrow(/adapter_config.json: not valid JSON/);
    expect(bad({ peft_type: 'PREFIX_TUNING' })).toThrow(/peft_type is "PREFIX_TUNING"; only LORA/);
    expect(bad({ task_type: 'SEQ_CLS' })).toThrow(/task_type is "SEQ_CLS"; only CAUSAL_LM/);
    expect(bad({ use_dora: true })).toThrow(/use_dora = true is not supported/);
    expect(bad({ rank_pattern: { q_proj: 4 } })).toThrow(/rank_pattern = \{"q_proj":4\} is not supported/);
    expect(bad({ modules_to_save: ['lm_head'] })).toThrow(/modules_to_save = \["lm_head"\] is not supported/);
    expect(bad({ layers_to_transform: [0] })).toThrow(/layers_to_transform/);
    expect(bad({ bias: 'lora_only' })).toThrow(/bias = "lora_only" is not supported/);
    expect(bad({ target_modules: '.*(q|v)_proj' })).toThrow(/is a regular expression; only a list of module names/);
    expect(bad({ target_modules: ['q_proj', 'c_attn'] })).toThrow(/target_modules \["c_attn"\] are not projections/);
    expect(bad({ r: 0 })).toThrow(/adapter_config.json: r must be a positive integer, got 0/);
    expect(bad({ lora_alpha: 'big' })).toThrow(/lora_alpha must be a finite positive number/);
  });

  it('rejects weights that do not match the config or the model, listing every problem', async () => {
    const host = hostAdapter(LLAMA_GQA, { targets: ['q_proj', 'v_proj'], rank: 3, alpha: 6 }, 3);
    const files = serializePeftAdapter(host, { baseModel: null });
    const qA0 = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    const vB1 = 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight';
    const missing = await editWeights(files, (t) => t.delete(qA0));
    await expect(parsePeftAdapter(LLAMA_GQA, missing)).rejects.toThrow(
      /1 problem\):\n {2}missing base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight \[3, 34\]/,
    );
    const reshaped = await editWeights(files, (t) => t.set(vB1, { dtype: 'F32', shape: [3, 18], data: t.get(vB1)!.data }));
    await expect(parsePeftAdapter(LLAMA_GQA, reshaped)).rejects.toThrow(/lora_B\.weight: shape \[3, 18\], expected \[18, 3\]/);
    const ints = await editWeights(files, (t) => t.set(vB1, { ...t.get(vB1)!, dtype: 'I32' }));
    await expect(parsePeftAdapter(LLAMA_GQA, ints)).rejects.toThrow(/dtype I32, expected F32, BF16 or F16/);
    const extra = await editWeights(files, (t) => {
      t.set('base_model.model.model.layers.0.mlp.up_proj.lora_A.weight', { dtype: 'F32', shape: [3, 34], data: new Uint8Array(3 * 34 * 4) });
      t.set('base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight', { dtype: 'F32', shape: [3, 34], data: new Uint8Array(3 * 34 * 4) });
      t.set('base_model.model.lm_head.weight', { dtype: 'F32', shape: [1], data: new Uint8Array(4) });
    });
    const err = await parsePeftAdapter(LLAMA_GQA, extra).catch((e: Error) => e.message);
    expect(err).toMatch(/3 problems/);
    expect(err).toMatch(/up_proj\.lora_A\.weight \(up_proj is not in target_modules\)/);
    expect(err).toMatch(/layers\.2\.self_attn\.q_proj\.lora_A\.weight \(layer 2, but the model has 2 layers\)/);
    expect(err).toMatch(/unexpected tensor base_model\.model\.lm_head\.weight \(not a LoRA A\/B key/);
    const wrongRank = editConfig(files, { r: 4 });
    await expect(parsePeftAdapter(LLAMA_GQA, wrongRank)).rejects.toThrow(/shape \[3, 34\], expected \[4, 34\] \(r = 4/);
    await expect(parsePeftAdapter(LLAMA_GQA, { ...files, weights: files.weights.subarray(0, 100) })).rejects.toThrow(
      /safetensors adapter_model\.safetensors: header length/,
    );
  });
});
