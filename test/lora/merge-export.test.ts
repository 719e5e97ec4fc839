/**
 * The Node writer of merged models (runtime-node/export-model.ts) on stories260K: a sharded export whose index,
 * tensors (W + s·B·A against an f64 merge) and support files are right, the dtype recorded in config.json, and
 * atomicity: a failure leaves neither the output nor a temporary directory, and an occupied output is refused.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { resolveLoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights, type LoraHostWeights } from '../../src/lora/host-weights.ts';
import { expectedWeights, parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { ExportError, exportMergedModel } from '../../runtime-node/export-model.ts';
import { fileSource } from '../../runtime-node/file-source.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, TOL } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';
import { mergeLoraRef } from '../ref/lora-transformer.ts';
import type { Weights } from '../ref/transformer.ts';
import { refLora } from '../train/tiny-model.ts';

describe('exportMergedModel (Node writer)', () => {
  let model: string;
  let config: ModelConfig;
  let base: Weights;
  let tmp: string;

  beforeAll(async () => {
    model = sharedPath('models/stories260K');
    config = parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')));
    const source = fileSource(join(model, 'model.safetensors'));
    const header = await parseSafetensorsHeader(source);
    base = new Map();
    for (const name of header.tensors.keys()) base.set(name, await readTensorF32(source, header, name));
    tmp = mkdtempSync(join(tmpdir(), 'seal-export-'));
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const hostAdapter = (seed: number): LoraHostWeights =>
    initLoraWeights(config, resolveLoraConfig({ targets: ['q_proj', 'o_proj', 'up_proj'], rank: 3, alpha: 6 }), { seed, b: 'random' });

  it('writes a sharded merged model: index, merged tensors, copied support files, one rename into place', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const host = hostAdapter(seed);
    const adapter = LoraAdapter.upload(ctx, config, host);
    const out = join(tmp, 'sharded');
    let reports = 0;
    const result = await exportMergedModel(ctx, model, adapter, out, { maxShardBytes: 300_000, blockBytes: 8192, onProgress: () => reports++ });
    adapter.dispose();
    expect(result.dir).toBe(out);
    expect(reports).toBeGreaterThan(10);
    const files = readdirSync(out).sort();
    expect(files).toEqual(result.files);
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    expect(shards.every((f, i) => f === `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`)).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.startsWith('.'))).toEqual([]); // no temporary directory left
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model']) {
      expect(readFileSync(join(out, f)), f).toEqual(readFileSync(join(model, f)));
      expect(statSync(join(out, f)).mode & 0o200, `${f} writable`).toBe(0o200);
    }
    expect(files).not.toContain('original');

    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(Object.keys(index.weight_map)).toEqual(
      expectedWeights(config)
        .map((w) => w.name)
        .sort(),
    );
    const want = mergeLoraRef(base, refLora(host));
    let total = 0,
      worst = 0;
    for (const shard of shards) {
      const source = fileSource(join(out, shard));
      const header = await parseSafetensorsHeader(source);
      for (const [name, info] of header.tensors) {
        expect(index.weight_map[name], name).toBe(shard);
        expect(info.dtype).toBe('F32');
        total += info.end - info.begin;
        const got = await readTensorF32(source, header, name);
        if (host.modules.some((m) => `${m.path}.weight` === name))
          worst = Math.max(worst, expectClose(got, want.get(name)!, TOL.f32, `${name} (seed ${seed})`));
        else expect(got, name).toEqual(base.get(name));
      }
    }
    expect(index.metadata.total_size).toBe(total);
    console.log(`stories260K merged into ${shards.length} shards: worst merged-tensor NMSE vs f64 ${worst.toExponential(2)}`);
  });

  it('records the export dtype in config.json', async () => {
    const ctx = await testContext();
    const adapter = LoraAdapter.upload(ctx, config, hostAdapter(1));
    const out = join(tmp, 'f16');
    await exportMergedModel(ctx, model, adapter, out, { dtype: 'F16' });
    adapter.dispose();
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toEqual({ ...JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')), torch_dtype: 'float16' });
    const header = await parseSafetensorsHeader(fileSource(join(out, 'model.safetensors')));
    expect([...header.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(false);
  });

  it('leaves nothing behind when writing fails, and refuses an occupied output', async () => {
    const ctx = await testContext();
    const adapter = LoraAdapter.upload(ctx, config, hostAdapter(2));
    // A model directory whose last file cannot be read: the weights are written, then the copy fails.
    const broken = join(tmp, 'broken-model');
    mkdirSync(broken);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) symlinkSync(join(model, f), join(broken, f));
    symlinkSync(join(tmp, 'does-not-exist'), join(broken, 'zz-dangling.json'));
    const out = join(tmp, 'never');
    await expect(exportMergedModel(ctx, broken, adapter, out)).rejects.toThrow(/ENOENT/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('never'))).toEqual([]);

    const busy = join(tmp, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    await expect(exportMergedModel(ctx, model, adapter, busy)).rejects.toThrow(ExportError);
    await expect(exportMergedModel(ctx, model, adapter, busy)).rejects.toThrow(
      /busy already exists and is not empty: choose a new output directory or remove it/,
    );
    expect(readdirSync(busy)).toEqual(['notes.txt']);
    await expect(exportMergedModel(ctx, model, adapter, model)).rejects.toThrow(/is the model directory/);
    // An existing empty directory is fine: it is replaced by the complete model.
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await exportMergedModel(ctx, model, adapter, empty);
    expect(readdirSync(empty)).toContain('model.safetensors');
    adapter.dispose();
  });
});
