/** The `seal` command line. */
import { readFileSync } from 'node:fs';
import { numberFlag, requireString, UsageError } from './flags.ts';
import { parseArgs } from 'node:util';
import { createNodeContext, dawnFlags } from './device.ts';
import { DOCTOR_FAULT_ENV, doctor, formatDoctor } from './doctor.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';
import { JsonSchemaConstraint, JsonSchemaError } from '../src/constrain/index.ts';
import { generateBatch, type GeneratedText } from '../src/generate/generate.ts';
import { ChatTemplateError, type ChatMessage } from '../src/text/chat-template.ts';
import { TokenizerLoadError } from '../src/text/tokenizer.ts';
import { HubError } from './hub.ts';
import { ArcDataError } from '../src/domains/arc/index.ts';
import { ARC_USAGE, ArcUsageError, runArc } from './arc-command.ts';
import { checkModelFiles, loadModelDir, loadModelTokenizer, ModelDirError, modelDirFiles, resolveModelWithProgress, type LoadedModel } from './model-dir.ts';
import { createProgressBar, formatBytes } from './progress.ts';
import { LoraAdapter } from '../src/lora/adapter.ts';
import type { CheckpointDType } from '../src/lora/merged-checkpoint.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { readModelConfig } from '../src/inference/load-model.ts';
import { AdapterDirError, loadAdapterDir } from './adapter-files.ts';
import { ExportError, exportMergedModel, type ExportedModel } from './export-model.ts';
import { runSft } from './sft-command.ts';

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
  seal sft --model DIR --data FILE.jsonl --out ADAPTER_DIR [--targets q,v,...] [--rank R] [--alpha A] [--lr LR]
           [--epochs E] [--max-steps N] [--batch-size B] [--grad-accum G] [--schedule constant|linear|cosine]
           [--warmup N] [--weight-decay W] [--grad-clip C] [--loss all|output|completion] [--seed S] [--save-init]
      LoRA fine-tuning on JSONL rows {"text"}, {"messages"} or {"prompt", "completion"}: writes a PEFT adapter to
      ADAPTER_DIR and a loss log ADAPTER_DIR/loss.jsonl (seal sft --help: every flag and its default).
  seal merge --model DIR --adapter ADAPTER_DIR --out OUT_DIR [--dtype bf16|f16|f32]
      Merge a LoRA adapter into the model (W + s·B·A) and write the result to OUT_DIR as a plain Hugging Face model
      (safetensors, sharded over 5 GB, in the base's dtype unless --dtype; config and tokenizer files copied).
  logits and generate take --adapter ADAPTER_DIR: a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)
      applied to the model without merging.
${ARC_USAGE}
  Every model command takes [--gpu-adapter NAME] [--backend vulkan|metal|d3d12] [--disable-features f1,f2] (doctor's
      --adapter NAME, --backend, --disable-features).
  DIR is a local Hugging Face model directory: config.json, model.safetensors (or a sharded index), tokenizer.json;
      or a Hub id org/name[@revision], downloaded once into the Hugging Face cache (HF_HUB_CACHE, HF_HOME; HF_TOKEN
      for gated models; HF_ENDPOINT; HF_HUB_OFFLINE=1) and then used offline.
  seal help

Benchmarks: npm run bench -- kernels   (see README)`;

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

/** The model's config.json (for checking an adapter before the model loads); a bad one is a ModelDirError. */
function modelConfig(dir: string): Promise<ModelConfig> {
  return readModelConfig(modelDirFiles(dir)).catch((e: Error) => {
    throw new ModelDirError(`cannot load the model in ${dir}: ${e.message}`);
  });
}

/**
 * Loads the model on a fresh device, with the LoRA adapter in `adapterDir` applied (unmerged) when given; loading
 * failures become one-line ModelDirErrors (AdapterDirErrors for the adapter) naming the directory.
 */
async function withModel<T>(
  dir: string,
  values: Parameters<typeof deviceOptions>[0],
  body: (model: LoadedModel) => Promise<T>,
  adapterDir?: string,
): Promise<T> {
  checkModelFiles(dir); // before the device starts: a wrong path or adapter fails at once
  const adapterWeights = adapterDir === undefined ? null : await loadAdapterDir(adapterDir, await modelConfig(dir));
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
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, ids: { type: 'string' }, adapter: { type: 'string' }, ...DEVICE_OPTIONS },
    strict: true,
  });
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
      return 0;
    },
    values.adapter,
  );
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
      adapter: { type: 'string' },
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
  return withModel(
    dir,
    values,
    async ({ tokenizer, transformer, config, chatTemplate }) => {
      let promptIds: number[];
      if (values.chat) {
        if (!chatTemplate) {
          throw new ChatTemplateError(
            `the model in ${dir} has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json): drop --chat`,
          );
        }
        const messages: ChatMessage[] = [];
        if (values.system !== undefined) messages.push({ role: 'system', content: values.system });
        messages.push({ role: 'user', content: prompt });
        promptIds = tokenizer.encode(chatTemplate.render(messages), { addSpecialTokens: true });
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
      return 0;
    },
    values.adapter,
  );
}

const MERGE_DTYPES: Record<string, CheckpointDType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };

async function runMerge(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, ...DEVICE_OPTIONS },
    strict: true,
  });
  requireString(values.model, '--model');
  const adapterDir = requireString(values.adapter, '--adapter');
  const out = requireString(values.out, '--out');
  const dtype = values.dtype !== undefined && Object.hasOwn(MERGE_DTYPES, values.dtype) ? MERGE_DTYPES[values.dtype] : undefined;
  if (values.dtype !== undefined && !dtype) throw new UsageError(`--dtype must be bf16, f16 or f32, got '${values.dtype}'`);
  const dir = await modelDirFlag(values.model);
  const config = await modelConfig(dir);
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
  return 0;
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
    const report = await doctor(ctx, { fault: process.env[DOCTOR_FAULT_ENV] });
    if (values.json) console.log(JSON.stringify({ ...report, dawnFlags: dawnFlags(opts) }, null, 2));
    else console.log(formatDoctor(report));
    return report.selfTest.ok ? 0 : 1;
  } finally {
    ctx.dispose();
  }
}

/** A message listing problems one per line (adapter checks) as one line: the first three, and how many more. */
function oneLine(message: string): string {
  const [head, ...problems] = message.split(/\n\s*/);
  const shown = problems.length > 3 ? [...problems.slice(0, 3), `… and ${problems.length - 3} more`] : problems;
  return [head, shown.join('; ')].filter(Boolean).join(' ');
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
      case 'arc':
        return await runArc(rest);
      case 'merge':
        return await runMerge(rest);
      case 'sft':
        return await runSft(rest);
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
    if (e instanceof UsageError || e instanceof ArcUsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`seal: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof GpuUnavailableError) {
      console.error(`seal: ${e.message}`);
      return 3;
    }
    if (e instanceof ModelDirError || e instanceof HubError || e instanceof TokenizerLoadError || e instanceof ChatTemplateError || e instanceof ArcDataError) {
      console.error(`seal: ${e.message}`);
      return 1;
    }
    if (e instanceof AdapterDirError || e instanceof ExportError) {
      console.error(`seal: ${oneLine(e.message)}`);
      return 1;
    }
    throw e;
  }
}
