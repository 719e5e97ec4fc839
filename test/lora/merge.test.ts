/**
 * Merging an adapter into its base: W + s·B·A on the GPU into f32 row blocks (16-bit and split bases), and the
 * merged checkpoint's bytes: the safetensors byte layout of the spec, identical to writeSafetensors, readable by our
 * reader, sharded like transformers with a correct index, dtype conversion, and a sharded merged checkpoint that
 * loads as a plain model with the merged logits.
 */
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { roundTo } from '../../src/gpu/dtype.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { LORA_TARGETS, resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { mergeAdapterWeights } from '../../src/lora/merge.ts';
import { DEFAULT_MAX_SHARD_BYTES, mergedCheckpointTensors, mergedConfigJson, planCheckpoint, type CheckpointFile } from '../../src/lora/merged-checkpoint.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { expectedWeights } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { SplitTensor, weightBlocks } from '../../src/model/split-weight.ts';
import { packSequences, Transformer } from '../../src/inference/transformer.ts';
import { loadWeights, type CheckpointShard } from '../../src/model/weights.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { loraLogitsRef, mergeLoraRef } from '../ref/lora-transformer.ts';
import type { Weights } from '../ref/transformer.ts';
import { LLAMA_GQA, randomCheckpoint, refLora, type CheckpointDType } from '../train/tiny-model.ts';

const config = LLAMA_GQA;

/** A tiny random checkpoint in memory (its safetensors shard), its f32 values for the references, and an adapter. */
async function setup(ctx: GpuContext, dtype: CheckpointDType, seed: number, lora: LoraConfig) {
  const source = memorySource(randomCheckpoint(config, dtype, rng(seed)), 'base.safetensors');
  const header = await parseSafetensorsHeader(source);
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  const host = initLoraWeights(config, resolveLoraConfig(lora), { seed, b: 'random' });
  return { shard: { source, header } as CheckpointShard, ref, host, adapter: LoraAdapter.upload(ctx, config, host) };
}

/** One whole file of a plan: header, then every tensor's chunks. */
async function fileBytes(file: CheckpointFile): Promise<Uint8Array> {
  const parts = [file.header];
  for (const t of file.tensors) for await (const chunk of t.chunks()) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  expect(out.byteLength, `${file.name} length`).toBe(file.byteLength);
  return out;
}

/** Checks a file against the safetensors spec byte by byte; returns its parsed JSON header. */
function expectSpecLayout(bytes: Uint8Array, what: string): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true)); // u64 little-endian header length
  expect(n % 8, `${what}: header length is a multiple of 8`).toBe(0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  expect(text.startsWith('{'), `${what}: header starts with {`).toBe(true);
  const trimmed = text.trimEnd();
  expect(trimmed.endsWith('}'), `${what}: JSON then padding`).toBe(true);
  expect(/^ *$/.test(text.slice(trimmed.length)), `${what}: padded with spaces`).toBe(true);
  const json = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  expect(json.__metadata__, `${what}: metadata`).toEqual({ format: 'pt' });
  const entries = Object.entries(json)
    .filter(([k]) => k !== '__metadata__')
    .map(([, v]) => v)
    .sort((a, b) => a.data_offsets[0] - b.data_offsets[0]);
  let end = 0;
  for (const e of entries) {
    expect(e.data_offsets[0], `${what}: offsets contiguous from 0`).toBe(end);
    end = e.data_offsets[1];
  }
  expect(8 + n + end, `${what}: data fills the file exactly`).toBe(bytes.byteLength);
  return json;
}

const merged = (ref: Weights, host: ReturnType<typeof initLoraWeights>) => mergeLoraRef(ref, refLora(host));

describe('LoRA merge', () => {
  it('merges into f32 row blocks on the GPU from a split bf16 base; the merged transformer gives the merged logits; the base stays intact', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const { shard, ref, host, adapter } = await setup(ctx, 'BF16', seed, { targets: [...LORA_TARGETS], rank: 3, alpha: 5 });
    const limit = 1024; // every projection in several row blocks, base and merged
    const weights = await loadWeights(ctx, config, shard.source, shard.header, { maxBindingBytes: limit });
    const up = 'model.layers.0.mlp.up_proj.weight';
    expect(weights.ref(up)).toBeInstanceOf(SplitTensor);
    const mergedWeights = mergeAdapterWeights(ctx, config, weights, adapter, { maxBindingBytes: limit });
    const want = merged(ref, host);
    let worst = 0;
    for (const m of adapter.modules) {
      const name = `${m.path}.weight`;
      const t = mergedWeights.ref(name);
      expect(t.dtype).toBe('f32');
      expect(weightBlocks(t).length, name).toBeGreaterThan(1);
      for (const b of weightBlocks(t)) expect(b.tensor.byteLength, name).toBeLessThanOrEqual(limit);
      const values = new Float32Array(t.numel);
      for (const b of weightBlocks(t)) values.set(await ctx.readF32(b.tensor), b.rowStart * m.inFeatures);
      worst = Math.max(worst, expectClose(values, want.get(name)!, TOL.f32, `${name} merged (seed ${seed})`));
    }
    for (const { name } of expectedWeights(config))
      if (!adapter.modules.some((m) => name === `${m.path}.weight`)) expect(mergedWeights.ref(name), name).toBe(weights.ref(name));
    console.log(`GPU merge (bf16 base in row blocks): worst NMSE of W + s·B·A vs f64 ${worst.toExponential(2)}`);

    const ids = packSequences([Array.from({ length: 21 }, (_, i) => (i * 7 + seed) % config.vocabSize)]);
    const model = new Transformer(ctx, config, mergedWeights, { matmul: 'f32' });
    const V = config.vocabSize;
    const rows = (w: Weights) => {
      const flat = loraLogitsRef(config, w, null, ids);
      return Array.from({ length: ids.ids.length }, (_, t) => flat.subarray(t * V, (t + 1) * V));
    };
    (await model.logits(ids)).forEach((row, t) => {
      expectClose(row, rows(want)[t]!, TOL.f32, `merged model row ${t} (seed ${seed})`);
    });
    model.dispose();
    mergedWeights.dispose();
    // Disposing the merged weights frees only what the merge made: the base model still runs, unchanged.
    const base = new Transformer(ctx, config, weights, { matmul: 'f32' });
    const baseRows = rows(ref);
    (await base.logits(ids)).forEach((row, t) => {
      expectClose(row, baseRows[t]!, TOL.f32, `base model row ${t} after the merge (seed ${seed})`);
    });
    base.dispose();
    adapter.dispose();
    weights.dispose();
  });

  it('writes merged checkpoints in the safetensors byte layout, sharded with an index, that load as a plain model', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const { shard, ref, host, adapter } = await setup(ctx, 'F32', seed, { targets: ['q_proj', 'v_proj', 'down_proj'], rank: 4, alpha: 8, rsLora: true });
    const tensors = mergedCheckpointTensors(ctx, config, [shard], adapter, { blockBytes: 2048 }); // several readbacks per projection
    expect(tensors.map((t) => t.name)).toEqual(expectedWeights(config).map((w) => w.name));
    const maxShard = 30_000;
    const plan = planCheckpoint(tensors, maxShard);
    const n = plan.files.length;
    expect(n).toBeGreaterThan(2);
    expect(plan.files.map((f) => f.name)).toEqual(
      Array.from({ length: n }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`),
    );

    const want = merged(ref, host);
    const adaptedNames = new Set(adapter.modules.map((m) => `${m.path}.weight`));
    const shards: CheckpointShard[] = [];
    for (const file of plan.files) {
      const bytes = await fileBytes(file);
      const json = expectSpecLayout(bytes, file.name);
      const dataBytes = file.tensors.reduce((s, t) => s + t.byteLength, 0);
      expect(dataBytes <= maxShard || file.tensors.length === 1, `${file.name} within the shard size`).toBe(true);
      // The same bytes writeSafetensors produces for these tensors: the streamed layout is the writer's.
      const values = await Promise.all(
        file.tensors.map(async (t) => readTensorF32(memorySource(bytes), await parseSafetensorsHeader(memorySource(bytes)), t.name)),
      );
      expect(
        writeSafetensors(file.tensors.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: values[i]! }))),
        `${file.name} equals writeSafetensors`,
      ).toEqual(bytes);
      const source = memorySource(bytes, file.name);
      const header = await parseSafetensorsHeader(source);
      expect([...header.tensors.keys()].sort()).toEqual(
        Object.keys(json)
          .filter((k) => k !== '__metadata__')
          .sort(),
      );
      for (const t of file.tensors) {
        const got = await readTensorF32(source, header, t.name);
        if (adaptedNames.has(t.name)) expectClose(got, want.get(t.name)!, TOL.f32, `${t.name} merged (seed ${seed})`);
        else {
          const [at, base] = [header.tensors.get(t.name)!, shard.header.tensors.get(t.name)!];
          expect(bytes.subarray(at.begin, at.end), `${t.name} copied byte for byte`).toEqual(await shard.source.read(base.begin, base.end - base.begin));
        }
      }
      shards.push({ source, header });
    }
    const index = JSON.parse(plan.index!) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(index.metadata.total_size).toBe(tensors.reduce((s, t) => s + t.byteLength, 0));
    expect(Object.keys(index.weight_map)).toEqual(
      expectedWeights(config)
        .map((w) => w.name)
        .sort(),
    );
    for (const f of plan.files) for (const t of f.tensors) expect(index.weight_map[t.name]).toBe(f.name);

    const weights = await loadWeights(ctx, config, shards);
    const model = new Transformer(ctx, config, weights, { matmul: 'f32' });
    const batch = packSequences([Array.from({ length: 17 }, (_, i) => (i * 5 + seed) % config.vocabSize)]);
    const flat = loraLogitsRef(config, want, null, batch);
    const V = config.vocabSize;
    let worst = 0;
    (await model.logits(batch)).forEach((row, t) => {
      worst = Math.max(worst, expectClose(row, flat.subarray(t * V, (t + 1) * V), TOL.f32, `sharded merged checkpoint row ${t} (seed ${seed})`));
    });
    console.log(`merged checkpoint in ${n} shards: worst logits row NMSE vs f64 merged reference ${worst.toExponential(2)}`);
    model.dispose();
    weights.dispose();

    const single = planCheckpoint(tensors);
    expect(single.files.map((f) => f.name)).toEqual(['model.safetensors']);
    expect(single.index).toBeNull();
    expect(DEFAULT_MAX_SHARD_BYTES).toBe(5e9);
    adapter.dispose();
  });

  it('converts to another dtype on request: copies rounded to nearest even, merged values rounded once', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const { shard, ref, host, adapter } = await setup(ctx, 'F32', seed, { targets: ['k_proj', 'gate_proj'], rank: 2, alpha: 2 });
    const want = merged(ref, host);
    for (const [dtype, gpu] of [
      ['BF16', 'bf16'],
      ['F16', 'f16'],
    ] as const) {
      const plan = planCheckpoint(mergedCheckpointTensors(ctx, config, [shard], adapter, { dtype }));
      const bytes = await fileBytes(plan.files[0]!);
      const source = memorySource(bytes);
      const header = await parseSafetensorsHeader(source);
      for (const [name, info] of header.tensors) {
        expect(info.dtype, name).toBe(dtype);
        const got = await readTensorF32(source, header, name);
        const exact = roundTo(want.get(name)!, gpu);
        if (!adapter.modules.some((m) => `${m.path}.weight` === name)) expect(got, `${name} rounded copy`).toEqual(exact);
        else
          got.forEach((v, i) => {
            expect(Math.abs(v - exact[i]!), `${name}[${i}] within one ${dtype} step`).toBeLessThanOrEqual(
              Math.abs(exact[i]!) * (dtype === 'BF16' ? 2 ** -7 : 2 ** -10) + 1e-7,
            );
          });
      }
    }
    const configText = JSON.stringify({ architectures: ['LlamaForCausalLM'], torch_dtype: 'float32', hidden_size: 34 }, null, 2);
    expect(mergedConfigJson(configText)).toBe(configText);
    expect(JSON.parse(mergedConfigJson(configText, 'BF16'))).toEqual({ architectures: ['LlamaForCausalLM'], torch_dtype: 'bfloat16', hidden_size: 34 });
    expect(JSON.parse(mergedConfigJson(JSON.stringify({ dtype: 'bfloat16' }), 'F16'))).toEqual({ dtype: 'float16', torch_dtype: 'float16' });
    expect(() => mergedCheckpointTensors(ctx, config, [shard], adapter, { dtype: 'F64' as 'F32' })).toThrow(/dtype must be F32, BF16 or F16, got "F64"/);
    expect(() => planCheckpoint([], 0)).toThrow(/shard size must be positive/);
    adapter.dispose();
  });
});
