/**
 * Every command that loads a model, on every kind of broken checkpoint: one `seal:` line naming the broken file and
 * saying what to do, exit 1, no stack trace (the CLI's one error handler, runtime-node/cli-errors.ts).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, type ExpectStatic, expect, it } from 'vitest';
import { LORA_TARGETS, resolveLoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { serializePeftAdapter } from '../../src/lora/peft-format.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { spawn } from 'node:child_process';
import { NODE, type SealResult } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const SOURCE = sharedPath('models/stories260K');
const TASKS = 'examples/arc-tiny/tiny_challenges.json';
const FIRST_TASK = Object.keys(JSON.parse(readFileSync(TASKS, 'utf8')) as Record<string, unknown>)[0]!;

const SELF_EDIT = JSON.stringify({
  data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
  training: { strategy: 'train_using_all_tokens', learning_rate: 1e-4, num_train_epochs: 1 },
});

/** A kind of damage: what it does to a copy of the model, and the file the message must name. */
interface Damage {
  name: string;
  apply(dir: string): void;
  file: string;
  /** What the message must say besides the file. */
  says: RegExp;
}

function editJson(path: string, edit: (json: Record<string, unknown>) => Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(edit(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)));
}

/** model.safetensors with one 2-D weight's shape transposed in the header: same bytes, a shape the config does not expect. */
function transposeOneWeight(path: string): void {
  const bytes = readFileSync(path);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { shape?: number[] }>;
  const name = 'model.layers.0.mlp.down_proj.weight';
  const shape = header[name]!.shape!;
  expect(shape[0]).not.toBe(shape[1]);
  header[name]!.shape = [shape[1]!, shape[0]!];
  const text = Buffer.from(JSON.stringify(header).padEnd(headerLen, ' '));
  expect(text.length).toBe(headerLen);
  writeFileSync(path, Buffer.concat([bytes.subarray(0, 8), text, bytes.subarray(8 + headerLen)]));
}

const WEIGHT_DAMAGE: Damage[] = [
  {
    name: 'truncated model.safetensors',
    apply: (d) => {
      const bytes = readFileSync(join(d, 'model.safetensors'));
      writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    },
    file: 'model.safetensors',
    says: /download the model again/,
  },
  {
    name: 'a weight of the wrong shape',
    apply: (d) => transposeOneWeight(join(d, 'model.safetensors')),
    file: 'model.safetensors',
    says: /down_proj\.weight: shape \[172, 64\], config expects \[64, 172\].*download the model again/,
  },
];

const CONFIG_DAMAGE: Damage[] = [
  {
    name: 'config.json that is not JSON',
    apply: (d) => writeFileSync(join(d, 'config.json'), '{'),
    file: 'config.json',
    says: /not valid JSON.*download the model again/,
  },
  {
    name: 'an unknown architecture',
    apply: (d) => editJson(join(d, 'config.json'), (c) => ({ ...c, architectures: ['GPT2LMHeadModel'] })),
    file: 'config.json',
    says: /unsupported architecture 'GPT2LMHeadModel'; supported architectures: LlamaForCausalLM, Qwen2ForCausalLM; use a model of a supported architecture/,
  },
];

const TOKENIZER_DAMAGE: Damage[] = [
  { name: 'no tokenizer.json', apply: (d) => rmSync(join(d, 'tokenizer.json')), file: 'tokenizer.json', says: /missing/ },
  {
    name: 'tokenizer.json that is not JSON',
    apply: (d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": '),
    file: 'tokenizer.json',
    says: /not valid JSON.*download the model again/,
  },
];

/** The command lines that load the model in `model` (with what each needs beside it under `tmp`). */
type Command = [name: string, args: (model: string, tmp: string) => string[]];

const GPU_COMMANDS: Command[] = [
  ['logits', (m) => ['logits', '--model', m, '--ids', '1,2']],
  ['generate', (m) => ['generate', '--model', m, '--prompt', 'Once', '--max-new-tokens', '2']],
  ['generate --adapter', (m, t) => ['generate', '--model', m, '--prompt', 'Once', '--max-new-tokens', '2', '--adapter', join(t, 'adapter')]],
  ['merge', (m, t) => ['merge', '--model', m, '--adapter', join(t, 'adapter'), '--out', join(t, `merged-${Math.random().toString(36).slice(2)}`)]],
  ['sft', (m, t) => ['sft', '--model', m, '--data', join(t, 'data.jsonl'), '--out', join(t, `sft-${Math.random().toString(36).slice(2)}`), '--max-steps', '1']],
  ...(['train', 'eval'] as const).map(
    (sub): Command => [
      `arc ${sub}`,
      (m, t) => [
        'arc',
        sub,
        '--model',
        m,
        '--tasks',
        TASKS,
        '--run',
        join(t, `run-${Math.random().toString(36).slice(2)}`),
        '--self-edits',
        '1',
        '--ttt-max-steps',
        '1',
      ],
    ],
  ),
  [
    'arc baseline',
    (m, t) => ['arc', 'baseline', '--baseline', 'in-context', '--model', m, '--tasks', TASKS, '--run', join(t, `run-${Math.random().toString(36).slice(2)}`)],
  ],
];

const TOKENIZER_COMMANDS: Command[] = [
  ['tokenize', (m) => ['tokenize', '--model', m, '--text', 'Once']],
  ['arc show --model', (m) => ['arc', 'show', '--task', FIRST_TASK, '--data', TASKS, '--model', m]],
  ['arc dataset --model', (m) => ['arc', 'dataset', '--task', FIRST_TASK, '--data', TASKS, '--model', m, '--self-edit', SELF_EDIT]],
];

/** The built CLI as a child process, awaited (the cases run concurrently: each is mostly process start-up). */
function sealAsync(...args: string[]): Promise<SealResult> {
  return new Promise((done, fail) => {
    const child = spawn(NODE, [fileURLToPath(new URL('../../bin/seal.mjs', import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** One `seal:` error line (notes and warnings aside) naming `file` in `model` and saying `says`; exit 1; no stack. */
function expectLoaderFailure(expect: ExpectStatic, r: SealResult, model: string, damage: Damage): void {
  expect(r.code, r.stderr).toBe(1);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('seal: ') && !/^seal: (note|warning):/.test(l));
  expect(errors.length, r.stderr).toBe(1);
  const names = [join(model, damage.file), `${damage.file} in ${model}`];
  expect(
    names.some((n) => errors[0]!.includes(n)),
    `${errors[0]} names ${damage.file} in ${model}`,
  ).toBe(true);
  expect(errors[0]).toMatch(damage.says);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
}

describe('a broken model gives every command one clear line', () => {
  let tmp: string;
  const models = new Map<string, string>();

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'seal-broken-'));
    for (const damage of [...WEIGHT_DAMAGE, ...CONFIG_DAMAGE, ...TOKENIZER_DAMAGE]) {
      const dir = join(tmp, damage.name.replace(/\W+/g, '-'));
      mkdirSync(dir);
      for (const f of readdirSync(SOURCE)) if (statSync(join(SOURCE, f)).isFile()) copyFileSync(join(SOURCE, f), join(dir, f));
      damage.apply(dir);
      models.set(damage.name, dir);
    }
    writeFileSync(join(tmp, 'data.jsonl'), `${JSON.stringify({ text: 'Once upon a time' })}\n`);
    const config = parseModelConfig(JSON.parse(readFileSync(join(SOURCE, 'config.json'), 'utf8')));
    const host = initLoraWeights(config, resolveLoraConfig({ targets: [...LORA_TARGETS], rank: 2, alpha: 4 }), { seed: 1 });
    const files = serializePeftAdapter(host, { baseModel: 'stories260K' });
    mkdirSync(join(tmp, 'adapter'));
    writeFileSync(join(tmp, 'adapter', 'adapter_config.json'), files.config);
    writeFileSync(join(tmp, 'adapter', 'adapter_model.safetensors'), files.weights);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const cases = [
    ...GPU_COMMANDS.flatMap(([command, args]) => [...WEIGHT_DAMAGE, ...CONFIG_DAMAGE, ...TOKENIZER_DAMAGE].map((damage) => ({ command, args, damage }))),
    ...TOKENIZER_COMMANDS.flatMap(([command, args]) => TOKENIZER_DAMAGE.map((damage) => ({ command, args, damage }))),
  ];
  it.concurrent.for(cases)('$command on $damage.name', async ({ args, damage }, { expect }) => {
    const model = models.get(damage.name)!;
    expectLoaderFailure(expect, await sealAsync(...args(model, tmp)), model, damage);
  });
});
