/** The `seal` command line. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createNodeContext, dawnFlags } from './device.ts';
import { doctor, formatDoctor } from './doctor.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';
import { JsonSchemaConstraint, JsonSchemaError } from '../src/constrain/index.ts';
import { generateBatch, type GeneratedText } from '../src/generate/generate.ts';
import { ChatTemplateError, type ChatMessage } from '../src/text/chat-template.ts';
import { TokenizerLoadError } from '../src/text/tokenizer.ts';
import { HubError } from './hub.ts';
import { checkModelFiles, loadModelDir, loadModelTokenizer, ModelDirError, resolveModel, type LoadedModel } from './model-dir.ts';
import { createProgressBar } from './progress.ts';

const USAGE = `seal — SEAL (self-adapting language models) on WebGPU

Usage:
  seal doctor [--json] [--adapter NAME] [--backend vulkan|metal|d3d12] [--disable-features f1,f2]
      Show the GPU adapter, its features and limits, the kernel paths that will be used, and run a self-test.
  seal tokenize --model DIR --text TEXT [--no-special]
      Print {"ids": [...], "tokens": [...]} as JSON (--no-special: no BOS or other added special tokens).
  seal logits --model DIR --ids 1,2,3
      Print {"logits": [[...], ...]} as JSON: one row of vocab-size logits per input position.
  seal generate --model DIR --prompt TEXT [--chat] [--system TEXT] [--max-new-tokens N] [--temperature T]
                [--top-p P] [--top-k K] [--seed S] [--n K] [--json] [--json-schema FILE]
      Stream the continuation of the prompt to stdout (defaults: 256 new tokens, temperature 0 = greedy, top-p 1,
      top-k 0 = off, seed 0). --chat renders the model's chat template around the prompt (and --system).
      --n K generates K samples together (sample i draws from stream i of the seed) and prints each as it ends.
      --json prints one JSON object per sample instead: {"index", "text", "finish_reason", "tokens"}.
      --json-schema FILE constrains every sample to a JSON document valid under that JSON Schema (the supported subset:
      README); the document ends generation; a sample cut by --max-new-tokens first is reported on stderr.
  Every model command takes [--adapter NAME] [--backend vulkan|metal|d3d12] [--disable-features f1,f2] like doctor.
  DIR is a local Hugging Face model directory: config.json, model.safetensors (or a sharded index), tokenizer.json;
      or a Hub id org/name[@revision], downloaded once into the Hugging Face cache (HF_HUB_CACHE, HF_HOME; HF_TOKEN
      for gated models; HF_ENDPOINT; HF_HUB_OFFLINE=1) and then used offline.
  seal help

Benchmarks: npm run bench -- kernels   (see README)`;

class UsageError extends Error {}

/** The JSON Schema of --json-schema, read and parsed with a clear error. */
function readJsonSchema(file: string): { file: string; value: unknown } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--json-schema: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return { file, value: JSON.parse(text) };
  } catch (e) {
    throw new UsageError(`--json-schema: ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const DEVICE_OPTIONS = {
  adapter: { type: 'string' },
  backend: { type: 'string' },
  'disable-features': { type: 'string' },
} as const;

function deviceOptions(values: { adapter?: string; backend?: string; 'disable-features'?: string }) {
  return { adapter: values.adapter, backend: values.backend, disableFeatures: values['disable-features']?.split(',').filter(Boolean) };
}

function requireString(value: string | undefined, flag: string): string {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  return value;
}

/** A flag's number, checked: `integer` and the range [min, max] (an open end with minOpen). */
function numberFlag(value: string | undefined, flag: string, fallback: number, range: { min: number; max?: number; minOpen?: boolean; integer?: boolean }): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const { min, max = Infinity, minOpen = false, integer = false } = range;
  const inRange = Number.isFinite(n) && (minOpen ? n > min : n >= min) && n <= max && (!integer || Number.isInteger(n));
  if (value.trim() === '' || !inRange) {
    const bounds = `${minOpen ? '(' : '['}${min}, ${max === Infinity ? 'inf)' : `${max}]`}`;
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} in ${bounds}, got '${value}'`);
  }
  return n;
}

/** The --model value as a local directory: a Hub id is resolved (and downloaded, with a progress bar on stderr). */
async function modelDirFlag(value: string | undefined): Promise<string> {
  const model = requireString(value, '--model');
  const bar = createProgressBar({ label: model });
  try {
    return await resolveModel(model, { onProgress: (p) => bar.update(p) });
  } finally {
    bar.finish();
  }
}

/** Loads the model on a fresh device; loading failures become one-line ModelDirErrors naming the directory. */
async function withModel<T>(dir: string, values: Parameters<typeof deviceOptions>[0], body: (model: LoadedModel) => Promise<T>): Promise<T> {
  checkModelFiles(dir); // before the device starts: a wrong path fails at once
  const ctx = await createNodeContext(deviceOptions(values));
  try {
    let model: LoadedModel;
    try {
      // f32 matmuls: the logits printed or used do not depend on whether the device rounds activations to f16.
      model = await loadModelDir(ctx, dir, { matmul: 'f32' });
    } catch (e) {
      if (e instanceof ModelDirError || e instanceof TokenizerLoadError || e instanceof GpuUnavailableError) throw e;
      throw new ModelDirError(`cannot load the model in ${dir}: ${(e as Error).message}`);
    }
    try {
      return await body(model);
    } finally {
      model.dispose();
    }
  } finally {
    ctx.dispose();
  }
}

async function runTokenize(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, text: { type: 'string' }, 'no-special': { type: 'boolean', default: false } },
    strict: true,
  });
  requireString(values.model, '--model');
  const text = requireString(values.text, '--text');
  const dir = await modelDirFlag(values.model);
  const tokenizer = await loadModelTokenizer(dir);
  const ids = tokenizer.encode(text, { addSpecialTokens: !values['no-special'] });
  console.log(JSON.stringify({ ids, tokens: ids.map((id) => tokenizer.idToToken(id) ?? null) }));
  return 0;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isSafeInteger(ids[i]) || ids[i]! < 0);
  if (bad >= 0) throw new UsageError(`--ids must be comma-separated non-negative integers, got '${parts[bad]}' in '${text}'`);
  return ids;
}

async function runLogits(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, ids: { type: 'string' }, ...DEVICE_OPTIONS }, strict: true });
  requireString(values.model, '--model');
  const ids = parseIds(requireString(values.ids, '--ids'));
  const dir = await modelDirFlag(values.model);
  return withModel(dir, values, async ({ config, transformer }) => {
    const outside = ids.find((id) => id >= config.vocabSize);
    if (outside !== undefined) throw new UsageError(`--ids: token id ${outside} is outside the vocabulary [0, ${config.vocabSize})`);
    const rows = await transformer.logits({ ids });
    // Numbers print with full float32 precision (shortest round-trip form of each value).
    process.stdout.write(`{"logits": [${rows.map((r) => `[${Array.from(r).join(',')}]`).join(',\n')}]}\n`);
    return 0;
  });
}

async function runGenerate(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'boolean', default: false },
      system: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      n: { type: 'string' },
      json: { type: 'boolean', default: false },
      'json-schema': { type: 'string' },
      ...DEVICE_OPTIONS,
    },
    strict: true,
  });
  requireString(values.model, '--model');
  const prompt = requireString(values.prompt, '--prompt');
  if (values.system !== undefined && !values.chat) throw new UsageError('--system needs --chat');
  const maxNewTokens = numberFlag(values['max-new-tokens'], '--max-new-tokens', 256, { min: 0, integer: true, max: 1 << 20 });
  const temperature = numberFlag(values.temperature, '--temperature', 0, { min: 0, max: 1e6 });
  const topP = numberFlag(values['top-p'], '--top-p', 1, { min: 0, minOpen: true, max: 1 });
  const topK = numberFlag(values['top-k'], '--top-k', 0, { min: 0, integer: true, max: 0xffffffff });
  const seed = numberFlag(values.seed, '--seed', 0, { min: 0, integer: true, max: 0xffffffff });
  const n = numberFlag(values.n, '--n', 1, { min: 1, integer: true, max: 4096 });
  const schema = values['json-schema'] === undefined ? undefined : readJsonSchema(values['json-schema']);
  const dir = await modelDirFlag(values.model);
  return withModel(dir, values, async ({ tokenizer, transformer, config, chatTemplate }) => {
    let promptIds: number[];
    if (values.chat) {
      if (!chatTemplate) {
        throw new ChatTemplateError(`the model in ${dir} has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json): drop --chat`);
      }
      const messages: ChatMessage[] = [];
      if (values.system !== undefined) messages.push({ role: 'system', content: values.system });
      messages.push({ role: 'user', content: prompt });
      promptIds = tokenizer.encode(chatTemplate.render(messages), { addSpecialTokens: true });
    } else {
      promptIds = tokenizer.encode(prompt, { addSpecialTokens: true });
    }
    if (promptIds.length + maxNewTokens > config.maxPositionEmbeddings) {
      throw new UsageError(`the prompt (${promptIds.length} tokens) plus --max-new-tokens ${maxNewTokens} exceeds the model's ${config.maxPositionEmbeddings} positions`);
    }
    const shown = values.chat ? '' : prompt;
    const print = (index: number, out: GeneratedText) => {
      if (values.json) {
        process.stdout.write(JSON.stringify({ index, text: out.text, finish_reason: out.finishReason, tokens: out.ids.length }) + '\n');
      } else if (n > 1) {
        process.stdout.write(`--- sample ${index + 1}/${n} (${out.finishReason}, ${out.ids.length} tokens) ---\n${shown}${out.text}\n`);
      } else {
        process.stdout.write('\n');
      }
    };
    let constraint: JsonSchemaConstraint | undefined;
    if (schema !== undefined) {
      try {
        constraint = JsonSchemaConstraint.fromTokenizer(schema.value, tokenizer, { vocabSize: config.vocabSize });
      } catch (e) {
        if (e instanceof JsonSchemaError) throw new UsageError(`--json-schema ${schema.file}: ${e.message}`);
        throw e;
      }
    }
    // One sample streams as it is generated; several are printed whole as each ends.
    const streaming = n === 1 && !values.json;
    if (streaming) process.stdout.write(shown);
    const results = await generateBatch(transformer, tokenizer, {
      prompts: Array.from({ length: n }, () => promptIds), maxNewTokens, temperature, topK, topP, seed,
      onText: streaming ? (_, piece) => process.stdout.write(piece) : undefined,
      onDone: print,
      constraint: constraint && (() => constraint.sequence()),
    });
    if (constraint) {
      const cut = results.flatMap((r, i) => (r.finishReason === 'length' ? [i + 1] : []));
      if (cut.length) console.error(`seal: warning: sample(s) ${cut.join(', ')} reached --max-new-tokens ${maxNewTokens} before their JSON document was complete`);
    }
    return 0;
  });
}

async function runDoctor(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      adapter: { type: 'string' },
      backend: { type: 'string' },
      'disable-features': { type: 'string' },
    },
    strict: true,
  });
  const opts = {
    adapter: values.adapter,
    backend: values.backend,
    disableFeatures: values['disable-features']?.split(',').filter(Boolean),
  };
  const ctx = await createNodeContext(opts);
  try {
    const report = await doctor(ctx);
    if (values.json) console.log(JSON.stringify({ ...report, dawnFlags: dawnFlags(opts) }, null, 2));
    else console.log(formatDoctor(report));
    return report.selfTest.ok ? 0 : 1;
  } finally {
    ctx.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'doctor':
        return await runDoctor(rest);
      case 'tokenize':
        return await runTokenize(rest);
      case 'logits':
        return await runLogits(rest);
      case 'generate':
        return await runGenerate(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`seal: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof GpuUnavailableError) {
      console.error(`seal: ${e.message}`);
      return 3;
    }
    if (e instanceof ModelDirError || e instanceof HubError || e instanceof TokenizerLoadError || e instanceof ChatTemplateError) {
      console.error(`seal: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
