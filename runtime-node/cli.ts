/** The `seal` command line. */
import { readFileSync } from 'node:fs';
import { numberFlag, parseFlags, requireString, UsageError } from './flags.ts';
import { createNodeContext, dawnFlags } from './device.ts';
import { DOCTOR_FAULT_ENV, doctor, formatDoctor } from './doctor.ts';
import { JsonSchemaConstraint, JsonSchemaError } from '../src/constrain/index.ts';
import { generateBatch, type GeneratedText } from '../src/generate/generate.ts';
import type { ChatMessage } from '../src/text/chat-template.ts';
import { CHAT_TEMPLATE_OPTION, chatTemplateFor, noChatTemplateError, readChatTemplateFlag } from './chat-template-flag.ts';
import { runArc } from './arc-command.ts';
import { runKnowledge } from './knowledge-command.ts';
import { reportError } from './cli-errors.ts';
import { EXIT } from './exit-codes.ts';
import { asksForHelp, commandOf, helpCommand, TOP_USAGE, usageOf, VERSION_LINE } from './help.ts';
import {
  checkModelFiles,
  checkModelWeights,
  loadModelDir,
  loadModelTokenizer,
  readModelDirConfig,
  resolveModelWithProgress,
  type LoadedModel,
} from './model-dir.ts';
import { createProgressBar, formatBytes } from './progress.ts';
import { LoraAdapter } from '../src/lora/adapter.ts';
import type { CheckpointDType } from '../src/lora/merged-checkpoint.ts';
import { loadAdapterDir } from './adapter-files.ts';
import { exportMergedModel, type ExportedModel } from './export-model.ts';
import { runSft } from './sft-command.ts';

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
  'gpu-adapter': { type: 'string' },
  backend: { type: 'string' },
  'disable-features': { type: 'string' },
} as const;

function deviceOptions(values: { 'gpu-adapter'?: string; backend?: string; 'disable-features'?: string }) {
  return { adapter: values['gpu-adapter'], backend: values.backend, disableFeatures: values['disable-features']?.split(',').filter(Boolean) };
}

/** The --model value as a local directory: a Hub id is resolved (and downloaded, with a progress bar on stderr). */
async function modelDirFlag(value: string | undefined): Promise<string> {
  return resolveModelWithProgress(requireString(value, '--model'));
}

/**
 * Loads the model on a fresh device, with the LoRA adapter in `adapterDir` applied (unmerged) when given; a broken
 * model or adapter fails before the device starts where its files show it (ModelLoadError, AdapterDirError).
 */
async function withModel<T>(
  dir: string,
  values: Parameters<typeof deviceOptions>[0],
  body: (model: LoadedModel) => Promise<T>,
  adapterDir?: string,
): Promise<T> {
  // Before the device starts: a wrong path, a broken checkpoint or a wrong adapter fails at once.
  const config = await readModelDirConfig(checkModelFiles(dir));
  await checkModelWeights(dir, config);
  const adapterWeights = adapterDir === undefined ? null : await loadAdapterDir(adapterDir, config);
  const ctx = await createNodeContext(deviceOptions(values));
  try {
    // f32 matmuls: the logits printed or used do not depend on whether the device rounds activations to f16.
    const model = await loadModelDir(ctx, dir, { matmul: 'f32' });
    let adapter: LoraAdapter | null = null;
    try {
      if (adapterWeights) {
        adapter = LoraAdapter.upload(ctx, model.config, adapterWeights);
        model.transformer.setAdapter(adapter);
      }
      return await body(model);
    } finally {
      adapter?.dispose();
      model.dispose();
    }
  } finally {
    ctx.dispose();
  }
}

async function runTokenize(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { model: { type: 'string' }, text: { type: 'string' }, 'no-special': { type: 'boolean', default: false } });
  requireString(values.model, '--model');
  const text = requireString(values.text, '--text');
  const dir = await modelDirFlag(values.model);
  const tokenizer = await loadModelTokenizer(dir);
  const ids = tokenizer.encode(text, { addSpecialTokens: !values['no-special'] });
  console.log(JSON.stringify({ ids, tokens: ids.map((id) => tokenizer.idToToken(id) ?? null) }));
  return EXIT.ok;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isSafeInteger(ids[i]) || ids[i]! < 0);
  if (bad >= 0) throw new UsageError(`--ids must be comma-separated non-negative integers, got '${parts[bad]}' in '${text}'`);
  return ids;
}

async function runLogits(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { model: { type: 'string' }, ids: { type: 'string' }, adapter: { type: 'string' }, ...DEVICE_OPTIONS });
  requireString(values.model, '--model');
  const ids = parseIds(requireString(values.ids, '--ids'));
  const dir = await modelDirFlag(values.model);
  return withModel(
    dir,
    values,
    async ({ config, transformer }) => {
      const outside = ids.find((id) => id >= config.vocabSize);
      if (outside !== undefined) throw new UsageError(`--ids: token id ${outside} is outside the vocabulary [0, ${config.vocabSize})`);
      const rows = await transformer.logits({ ids });
      // Numbers print with full float32 precision (shortest round-trip form of each value).
      process.stdout.write(`{"logits": [${rows.map((r) => `[${Array.from(r).join(',')}]`).join(',\n')}]}\n`);
      return EXIT.ok;
    },
    values.adapter,
  );
}

async function runGenerate(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
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
    ...CHAT_TEMPLATE_OPTION,
    adapter: { type: 'string' },
    ...DEVICE_OPTIONS,
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
  const chatTemplateFlag = readChatTemplateFlag(values['chat-template']);
  if (chatTemplateFlag && !values.chat) throw new UsageError('--chat-template needs --chat');
  const dir = await modelDirFlag(values.model);
  return withModel(
    dir,
    values,
    async ({ tokenizer, transformer, config, chatTemplate }) => {
      let promptIds: number[];
      if (values.chat) {
        const chat = chatTemplateFor(chatTemplate, tokenizer.config, chatTemplateFlag, 'none');
        if (!chat) throw noChatTemplateError(dir, 'drop --chat');
        const messages: ChatMessage[] = [];
        if (values.system !== undefined) messages.push({ role: 'system', content: values.system });
        messages.push({ role: 'user', content: prompt });
        promptIds = tokenizer.encode(chat.template.render(messages), { addSpecialTokens: true });
      } else {
        promptIds = tokenizer.encode(prompt, { addSpecialTokens: true });
      }
      if (promptIds.length + maxNewTokens > config.maxPositionEmbeddings) {
        throw new UsageError(
          `the prompt (${promptIds.length} tokens) plus --max-new-tokens ${maxNewTokens} exceeds the model's ${config.maxPositionEmbeddings} positions`,
        );
      }
      const shown = values.chat ? '' : prompt;
      const print = (index: number, out: GeneratedText) => {
        if (values.json) {
          process.stdout.write(`${JSON.stringify({ index, text: out.text, finish_reason: out.finishReason, tokens: out.ids.length })}\n`);
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
        prompts: Array.from({ length: n }, () => promptIds),
        maxNewTokens,
        temperature,
        topK,
        topP,
        seed,
        onText: streaming ? (_, piece) => process.stdout.write(piece) : undefined,
        onDone: print,
        constraint: constraint && (() => constraint.sequence()),
      });
      if (constraint) {
        const cut = results.flatMap((r, i) => (r.finishReason === 'length' ? [i + 1] : []));
        if (cut.length)
          console.error(`seal: warning: sample(s) ${cut.join(', ')} reached --max-new-tokens ${maxNewTokens} before their JSON document was complete`);
      }
      return EXIT.ok;
    },
    values.adapter,
  );
}

const MERGE_DTYPES: Record<string, CheckpointDType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };

async function runMerge(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    model: { type: 'string' },
    adapter: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string' },
    ...DEVICE_OPTIONS,
  });
  requireString(values.model, '--model');
  const adapterDir = requireString(values.adapter, '--adapter');
  const out = requireString(values.out, '--out');
  const dtype = values.dtype !== undefined && Object.hasOwn(MERGE_DTYPES, values.dtype) ? MERGE_DTYPES[values.dtype] : undefined;
  if (values.dtype !== undefined && !dtype) throw new UsageError(`--dtype must be bf16, f16 or f32, got '${values.dtype}'`);
  const dir = await modelDirFlag(values.model);
  // Before the device starts: a broken model (its tokenizer is copied) or a wrong adapter fails at once.
  const config = await readModelDirConfig(checkModelFiles(dir));
  await checkModelWeights(dir, config);
  await loadModelTokenizer(dir);
  const weights = await loadAdapterDir(adapterDir, config); // before the device starts: a wrong adapter fails at once
  const ctx = await createNodeContext(deviceOptions(values));
  try {
    const adapter = LoraAdapter.upload(ctx, config, weights);
    const bar = createProgressBar({ label: 'merge' });
    let result: ExportedModel;
    try {
      result = await exportMergedModel(ctx, dir, adapter, out, { dtype, onProgress: (bytes, total) => bar.update({ file: 'safetensors', bytes, total }) });
    } finally {
      bar.finish();
      adapter.dispose();
    }
    console.log(`merged ${adapterDir} into ${dir}: wrote ${result.dir} (${result.files.length} files, ${formatBytes(result.weightBytes)} of weights)`);
  } finally {
    ctx.dispose();
  }
  return EXIT.ok;
}

async function runDoctor(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { json: { type: 'boolean', default: false }, adapter: { type: 'string' }, ...DEVICE_OPTIONS });
  if (values.adapter !== undefined) {
    if (values['gpu-adapter'] !== undefined) throw new UsageError('--adapter is the old name of --gpu-adapter: pass only --gpu-adapter');
    console.error('seal: warning: doctor --adapter is deprecated (it means a LoRA adapter elsewhere): use --gpu-adapter');
  }
  const opts = deviceOptions({ ...values, 'gpu-adapter': values['gpu-adapter'] ?? values.adapter });
  const ctx = await createNodeContext(opts);
  try {
    const report = await doctor(ctx, { fault: process.env[DOCTOR_FAULT_ENV] });
    if (values.json) console.log(JSON.stringify({ ...report, dawnFlags: dawnFlags(opts) }, null, 2));
    else console.log(formatDoctor(report));
    return report.selfTest.ok ? EXIT.ok : EXIT.error;
  } finally {
    ctx.dispose();
  }
}

/** `--verbose` (Dawn's warnings shown) is handled by bin/seal.mjs for every command; the commands do not see it. */
function withoutVerbose(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.filter((a, i) => a !== '--verbose' || (end >= 0 && i > end));
}

/** `seal ARGV`; returns the exit code. Every error is reported here (cli-errors.ts): one `seal:` line, no stack. */
export async function main(argvIn: string[]): Promise<number> {
  const argv = withoutVerbose(argvIn);
  const command = commandOf(argv);
  const [cmd, ...rest] = argv;
  try {
    if (cmd === '--version' || cmd === '-V') {
      console.log(VERSION_LINE);
      return EXIT.ok;
    }
    if (asksForHelp(argv)) {
      console.log(usageOf(command));
      return EXIT.ok;
    }
    switch (cmd) {
      case 'doctor':
        return await runDoctor(rest);
      case 'tokenize':
        return await runTokenize(rest);
      case 'logits':
        return await runLogits(rest);
      case 'generate':
        return await runGenerate(rest);
      case 'arc':
        return await runArc(rest);
      case 'knowledge':
        return await runKnowledge(rest);
      case 'merge':
        return await runMerge(rest);
      case 'sft':
        return await runSft(rest);
      case 'help':
        console.log(helpCommand(rest));
        return EXIT.ok;
      case undefined:
        console.log(TOP_USAGE);
        return EXIT.ok;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    return reportError(e, command);
  }
}
