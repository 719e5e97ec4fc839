/** PEFT adapter directories on disk: atomic save, what may be overwritten, reload, clear errors (no GPU). */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AdapterDirError, checkAdapterOutputDir, loadAdapterDir, saveAdapterDir } from '../../runtime-node/adapter-files.ts';
import { resolveLoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../../src/lora/peft-format.ts';
import { freshSeed } from '../harness/numerics.ts';
import { LLAMA_GQA, QWEN2 } from './tiny-model.ts';

describe('adapter directories', () => {
  const root = mkdtempSync(join(tmpdir(), 'seal-adapter-files-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const host = (seed: number, rank = 4) =>
    initLoraWeights(LLAMA_GQA, resolveLoraConfig({ targets: ['q_proj', 'down_proj'], rank, alpha: 8 }), { seed, b: 'random' });

  it('saves both PEFT files atomically and reloads the same weights', async () => {
    const seed = freshSeed();
    const weights = host(seed);
    const dir = join(root, 'nested', 'a');
    expect(await saveAdapterDir(dir, weights, { baseModel: 'org/tiny' })).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    expect(readdirSync(join(root, 'nested')), 'no temporary directory left beside it').toEqual(['a']);
    const config = JSON.parse(readFileSync(join(dir, PEFT_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'down_proj'], base_model_name_or_path: 'org/tiny' });
    const back = await loadAdapterDir(dir, LLAMA_GQA);
    expect(back.baseModel).toBe('org/tiny');
    expect(back.modules.map((m) => m.path)).toEqual(weights.modules.map((m) => m.path));
    back.modules.forEach((m, i) => {
      expect(m.a, `${m.path} A (seed ${seed})`).toEqual(weights.modules[i]!.a);
      expect(m.b, `${m.path} B (seed ${seed})`).toEqual(weights.modules[i]!.b);
    });
  });

  it('replaces an adapter directory as a whole (no file of the old one survives) but refuses anything else', async () => {
    const dir = join(root, 'b');
    await saveAdapterDir(dir, host(1), { baseModel: null });
    writeFileSync(join(dir, 'loss.jsonl'), '{"step": 1}\n');
    await saveAdapterDir(dir, host(2, 2), { baseModel: null });
    expect(readdirSync(dir).sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    expect((await loadAdapterDir(dir, LLAMA_GQA)).config.rank).toBe(2);
    expect(
      readdirSync(root).filter((n) => n.startsWith('.')),
      'no temporary or set-aside directories left',
    ).toEqual([]);
    // A directory holding only what a training run writes (loss log, init/) is fine too.
    const runDir = join(root, 'run');
    mkdirSync(join(runDir, 'init'), { recursive: true });
    writeFileSync(join(runDir, 'loss.jsonl'), '');
    await expect(checkAdapterOutputDir(runDir)).resolves.toBe(runDir);

    const other = join(root, 'not-an-adapter');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await expect(saveAdapterDir(other, host(1), { baseModel: null })).rejects.toThrow(
      /not-an-adapter is not empty and is not an adapter directory \(no adapter_config\.json\): refusing to overwrite it/,
    );
    expect(readdirSync(other)).toEqual(['notes.txt']);
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    await expect(saveAdapterDir(file, host(1), { baseModel: null })).rejects.toThrow(AdapterDirError);
    await expect(saveAdapterDir(file, host(1), { baseModel: null })).rejects.toThrow(/exists and is not a directory/);
  });

  it('loading names the directory and what is wrong', async () => {
    await expect(loadAdapterDir(join(root, 'missing'), LLAMA_GQA)).rejects.toThrow(/adapter directory .*missing does not exist/);
    const half = join(root, 'half');
    mkdirSync(half);
    writeFileSync(join(half, PEFT_CONFIG_FILE), '{}');
    await expect(loadAdapterDir(half, LLAMA_GQA)).rejects.toThrow(/half\/adapter_model\.safetensors is missing: .* is not a complete PEFT adapter directory/);
    const dir = join(root, 'llama-adapter');
    await saveAdapterDir(dir, host(3), { baseModel: null });
    // The same adapter against another model's shapes.
    await expect(loadAdapterDir(dir, QWEN2)).rejects.toThrow(/^adapter .*llama-adapter: PEFT adapter_model\.safetensors does not match/);
    expect(existsSync(join(dir, PEFT_WEIGHTS_FILE))).toBe(true);
  });
});
