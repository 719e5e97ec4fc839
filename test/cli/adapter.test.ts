/**
 * LoRA adapters on the command line (stories260K): `seal logits --adapter` and `seal generate --adapter` apply a
 * PEFT adapter directory unmerged, `seal merge` writes a plain model that gives the same logits, and bad adapters
 * or outputs fail with one clear line.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from '../../src/generate/generate.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { LORA_TARGETS, resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { serializePeftAdapter } from '../../src/lora/peft-format.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader } from '../../src/model/safetensors.ts';
import { loadAdapterDir } from '../../runtime-node/adapter-files.ts';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, TOL } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';
import { expectCleanFailure, seal } from '../harness/cli.ts';

const PROMPT = 'Once upon a time, there was a dog named';
const IDS = [1, 403, 407, 261, 378, 432, 383];

/** A PEFT adapter directory for `config` with random A and B (B scaled so the model changes without derailing). */
function writeAdapter(dir: string, config: ModelConfig, lora: LoraConfig, seed: number): void {
  const host = initLoraWeights(config, resolveLoraConfig(lora), { seed, b: 'random' });
  for (const m of host.modules)
    m.b.forEach((v, i) => {
      m.b[i] = 0.3 * v;
    });
  const files = serializePeftAdapter(host, { baseModel: 'stories260K' });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), files.config);
  writeFileSync(join(dir, 'adapter_model.safetensors'), files.weights);
}

function parseLogits(stdout: string): number[][] {
  return (JSON.parse(stdout) as { logits: number[][] }).logits;
}

describe('seal with LoRA adapters (stories260K)', () => {
  let model: string;
  let config: ModelConfig;
  let tmp: string;
  let adapterDir: string;
  /** Logits of IDS with the adapter applied, from the library. */
  let withAdapter: Float32Array[];

  beforeAll(async () => {
    model = sharedPath('models/stories260K');
    config = parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')));
    tmp = mkdtempSync(join(tmpdir(), 'seal-adapter-'));
    adapterDir = join(tmp, 'adapter');
    writeAdapter(adapterDir, config, { targets: [...LORA_TARGETS], rank: 4, alpha: 8 }, 7);
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("the adapter directory holds PEFT's file names and tensor keys", async () => {
    expect(readdirSync(adapterDir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const header = await parseSafetensorsHeader(memorySource(readFileSync(join(adapterDir, 'adapter_model.safetensors'))));
    const want: string[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      for (const t of ['q_proj', 'k_proj', 'v_proj', 'o_proj'])
        for (const m of ['A', 'B']) want.push(`base_model.model.model.layers.${l}.self_attn.${t}.lora_${m}.weight`);
      for (const t of ['gate_proj', 'up_proj', 'down_proj'])
        for (const m of ['A', 'B']) want.push(`base_model.model.model.layers.${l}.mlp.${t}.lora_${m}.weight`);
    }
    expect([...header.tensors.keys()].sort()).toEqual(want.sort());
    expect(header.tensors.get('base_model.model.model.layers.2.mlp.down_proj.lora_A.weight')?.shape).toEqual([4, 172]);
    expect(header.tensors.get('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight')?.shape).toEqual([64, 4]);
  });

  it('logits --adapter equals the library logits with the adapter, which differ from the base model', async () => {
    const r = seal('logits', '--model', model, '--ids', IDS.join(','), '--adapter', adapterDir);
    expect(r.code, r.stderr).toBe(0);
    const rows = parseLogits(r.stdout);
    const ctx = await testContext();
    const loaded = await loadModelDir(ctx, model, { matmul: 'f32' });
    const adapter = LoraAdapter.upload(ctx, config, await loadAdapterDir(adapterDir, config));
    try {
      const base = await loaded.transformer.logits({ ids: IDS });
      loaded.transformer.setAdapter(adapter);
      withAdapter = await loaded.transformer.logits({ ids: IDS });
      rows.forEach((row, i) => {
        expect(Math.max(...row.map((v, j) => Math.abs(v - withAdapter[i]![j]!))), `row ${i}`).toBeLessThanOrEqual(1e-5);
        expect(Math.max(...row.map((v, j) => Math.abs(v - base[i]![j]!))), `row ${i} differs from the base model`).toBeGreaterThan(0.05);
      });
    } finally {
      adapter.dispose();
      loaded.dispose();
    }
  });

  // --dtype conversion is checked in test/lora/merge*.test.ts (one CLI process fewer here).
  it('merge writes a plain model with the same logits and greedy text as the base with the adapter', async () => {
    const out = join(tmp, 'merged');
    const r = seal('merge', '--model', model, '--adapter', adapterDir, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/merged .* wrote .*merged \(\d+ files/);
    const files = readdirSync(out).sort();
    expect(files).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']));
    expect(files).not.toContain('original'); // subdirectories of the base (its raw checkpoint) are not copied
    expect(readdirSync(tmp).filter((f) => f.includes('partial'))).toEqual([]);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(readFileSync(join(model, 'config.json'), 'utf8'));

    const ctx = await testContext();
    const merged = await loadModelDir(ctx, out, { matmul: 'f32' });
    try {
      const got = await merged.transformer.logits({ ids: IDS });
      got.forEach((row, i) => {
        expectClose(row, withAdapter[i]!, TOL.f32, `merged model row ${i}`);
      });
      const g = seal('generate', '--model', model, '--adapter', adapterDir, '--prompt', PROMPT, '--max-new-tokens', '24');
      expect(g.code, g.stderr).toBe(0);
      const promptIds = merged.tokenizer.encode(PROMPT, { addSpecialTokens: true });
      const text = (await generateText(merged.transformer, merged.tokenizer, { promptIds, maxNewTokens: 24 })).text;
      expect(g.stdout, 'generate --adapter vs the merged model').toBe(`${PROMPT}${text}\n`);
    } finally {
      merged.dispose();
    }
  });

  it('bad adapters, outputs and flags fail with one clear line', () => {
    expectCleanFailure(seal('logits', '--model', model, '--ids', '1,2', '--adapter', join(tmp, 'nope')), 1, /adapter directory .*nope does not exist/);
    // An adapter for another base: a Llama with a different hidden size.
    const other = join(tmp, 'other-base');
    writeAdapter(other, { ...config, hiddenSize: 48, headDim: 6 }, { targets: ['q_proj', 'v_proj'], rank: 2, alpha: 4 }, 1);
    expectCleanFailure(
      seal('logits', '--model', model, '--ids', '1,2', '--adapter', other),
      1,
      /adapter .*other-base: PEFT adapter_model\.safetensors does not match .*q_proj\.lora_A\.weight: shape \[2, 48\], expected \[2, 64\]/,
    );
    // Targets that do not match the tensors: the config names o_proj, the file has v_proj.
    const wrong = join(tmp, 'wrong-targets');
    writeAdapter(wrong, config, { targets: ['q_proj', 'v_proj'], rank: 2, alpha: 4 }, 2);
    const cfg = JSON.parse(readFileSync(join(wrong, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(wrong, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'o_proj'] }));
    expectCleanFailure(
      seal('merge', '--model', model, '--adapter', wrong, '--out', join(tmp, 'never')),
      1,
      /does not match adapter_config\.json and the model \(20 problems\): missing base_model\.model\.model\.layers\.0\.self_attn\.o_proj\.lora_A\.weight \[2, 64\]; .*; … and 17 more$/,
    );
    expect(existsSync(join(tmp, 'never'))).toBe(false);
    const busy = join(tmp, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'keep.txt'), 'mine');
    expectCleanFailure(seal('merge', '--model', model, '--adapter', adapterDir, '--out', busy), 1, /busy already exists and is not empty/);
    expect(readdirSync(busy)).toEqual(['keep.txt']);
    expectCleanFailure(
      seal('merge', '--model', model, '--adapter', adapterDir, '--out', join(tmp, 'x'), '--dtype', 'f64'),
      2,
      /--dtype must be bf16, f16 or f32, got 'f64'/,
    );
    expectCleanFailure(seal('merge', '--model', model, '--out', join(tmp, 'x')), 2, /--adapter is required/);
  });
});
