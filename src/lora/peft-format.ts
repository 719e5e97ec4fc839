/**
 * Hugging Face PEFT's on-disk LoRA format: `adapter_config.json` + `adapter_model.safetensors`, as
 * PeftModel.save_pretrained writes them and PeftModel.from_pretrained / vLLM read them. Tensor keys:
 *   base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight   [r, in]
 *   base_model.model.model.layers.{i}.mlp.down_proj.lora_B.weight      [out, r]
 * Runtime-free: JSON strings and safetensors bytes in and out; the CLI reads and writes the files.
 */
import type { ModelConfig } from '../model/config.ts';
import { memorySource } from '../model/byte-source.ts';
import { parseSafetensorsHeader, readTensorF32, type SafetensorsDType } from '../model/safetensors.ts';
import { writeSafetensors } from '../model/safetensors-writer.ts';
import { isLoraTarget, LORA_TARGETS, loraModules, resolveLoraConfig, type LoraTarget, type ResolvedLoraConfig } from './config.ts';
import { checkLoraHostWeights, type LoraHostWeights } from './host-weights.ts';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** The two files of a PEFT adapter directory. */
export interface PeftAdapterFiles {
  /** adapter_config.json text */
  config: string;
  /** adapter_model.safetensors bytes */
  weights: Uint8Array;
}

export type PeftWeightDType = 'F32' | 'BF16' | 'F16';

export interface PeftSaveOptions {
  /** base_model_name_or_path: the hub id or path of the base model (null when unknown). */
  baseModel: string | null;
  /** Stored dtype of A and B; default F32 (what PEFT stores for adapters trained in f32). */
  dtype?: PeftWeightDType;
}

/** PEFT's key of a module's A or B. */
export function peftTensorKey(path: string, matrix: 'A' | 'B'): string {
  return `base_model.model.${path}.lora_${matrix}.weight`;
}

/**
 * adapter_config.json as PEFT 0.15 writes it for a plain LoRA (keys sorted, as PEFT's save_pretrained does).
 * Fields we do not use keep PEFT's defaults, so PEFT and vLLM load the adapter unchanged.
 */
export function peftAdapterConfig(config: ResolvedLoraConfig, baseModel: string | null): Record<string, unknown> {
  const c: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    corda_config: null,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_bias: false,
    lora_dropout: 0.0,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: config.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...config.targets],
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_dora: false,
    use_rslora: config.rsLora,
  };
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Both files of an adapter. */
export function serializePeftAdapter(weights: LoraHostWeights, options: PeftSaveOptions): PeftAdapterFiles {
  const dtype = options.dtype ?? 'F32';
  if (!['F32', 'BF16', 'F16'].includes(dtype)) throw new Error(`PEFT adapter: dtype must be F32, BF16 or F16, got ${JSON.stringify(dtype)}`);
  const config = resolveLoraConfig(weights.config);
  const r = config.rank;
  const entries = weights.modules.flatMap((m) => [
    { name: peftTensorKey(m.path, 'A'), dtype, shape: [r, m.inFeatures], data: m.a },
    { name: peftTensorKey(m.path, 'B'), dtype, shape: [m.outFeatures, r], data: m.b },
  ]);
  return {
    config: `${JSON.stringify(peftAdapterConfig(config, options.baseModel), null, 2)}\n`,
    weights: writeSafetensors(entries, { format: 'pt' }),
  };
}

export interface PeftParseOptions {
  /**
   * Accept a non-zero lora_dropout (it only acts in training), loading the adapter for inference or further
   * training without dropout. Default false: such a config is an error.
   */
  ignoreDropout?: boolean;
}

export interface ParsedPeftConfig {
  lora: ResolvedLoraConfig;
  baseModel: string | null;
}

/** Parses and validates adapter_config.json (text or parsed object) for the plain LoRA this engine runs. */
export function parsePeftConfig(json: string | unknown, options: PeftParseOptions = {}): ParsedPeftConfig {
  const fail = (what: string): never => {
    throw new Error(`PEFT ${PEFT_CONFIG_FILE}: ${what}`);
  };
  let c: unknown = json;
  if (typeof json === 'string') {
    try {
      c = JSON.parse(json);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return fail('not a JSON object');
  const o = c as Record<string, unknown>;
  const show = (v: unknown) => JSON.stringify(v);

  if (o.peft_type !== 'LORA') fail(`peft_type is ${show(o.peft_type)}; only LORA adapters are supported`);
  if (o.task_type != null && o.task_type !== 'CAUSAL_LM') fail(`task_type is ${show(o.task_type)}; only CAUSAL_LM is supported`);
  // Variants whose weights or math differ from plain LoRA: refuse rather than apply them wrongly.
  const unsupported: [string, (v: unknown) => boolean][] = [
    ['use_dora', (v) => v === true],
    ['use_qalora', (v) => v === true],
    ['lora_bias', (v) => v === true],
    ['fan_in_fan_out', (v) => v === true],
    ['rank_pattern', (v) => v != null && Object.keys(v as object).length > 0],
    ['alpha_pattern', (v) => v != null && Object.keys(v as object).length > 0],
    ['layers_to_transform', (v) => v != null],
    ['layer_replication', (v) => v != null],
    ['modules_to_save', (v) => v != null && (!Array.isArray(v) || v.length > 0)],
    ['trainable_token_indices', (v) => v != null],
    ['target_parameters', (v) => v != null],
    ['exclude_modules', (v) => v != null && (!Array.isArray(v) || v.length > 0)],
  ];
  for (const [key, isSet] of unsupported) if (isSet(o[key])) fail(`${key} = ${show(o[key])} is not supported (plain LoRA only)`);
  if (o.bias != null && o.bias !== 'none') fail(`bias = ${show(o.bias)} is not supported; only "none"`);

  let targets: string[];
  const tm = o.target_modules;
  if (tm === 'all-linear')
    targets = [...LORA_TARGETS]; // PEFT: every Linear but the output layer
  else if (typeof tm === 'string')
    return fail(`target_modules ${show(tm)} is a regular expression; only a list of module names (${LORA_TARGETS.join(', ')}) or "all-linear" is supported`);
  else if (!Array.isArray(tm) || tm.length === 0) return fail(`target_modules must be a non-empty list of module names, got ${show(tm)}`);
  else {
    targets = tm.map((t) => (typeof t === 'string' ? t.split('.').pop()! : t)); // "self_attn.q_proj" names q_proj too
    const unknown = targets.filter((t) => typeof t !== 'string' || !isLoraTarget(t));
    if (unknown.length) fail(`target_modules ${show(unknown)} are not projections of a Llama/Qwen2 decoder layer (${LORA_TARGETS.join(', ')})`);
  }

  const dropout = o.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail(`lora_dropout must be a number in [0, 1), got ${show(o.lora_dropout)}`);
  if (dropout !== 0 && !options.ignoreDropout) {
    fail(`lora_dropout = ${dropout}: training here has no dropout; pass ignoreDropout to load it anyway (dropout does not change inference)`);
  }
  if (o.use_rslora != null && typeof o.use_rslora !== 'boolean') fail(`use_rslora must be a boolean, got ${show(o.use_rslora)}`);
  const baseModel = o.base_model_name_or_path;
  if (baseModel != null && typeof baseModel !== 'string') fail(`base_model_name_or_path must be a string or null, got ${show(baseModel)}`);

  let lora: ResolvedLoraConfig;
  try {
    lora = resolveLoraConfig({ targets, rank: o.r as number, alpha: o.lora_alpha as number, rsLora: (o.use_rslora as boolean | undefined) ?? false });
  } catch (e) {
    return fail(
      (e as Error).message
        .replace(/^LoRA config: /, '')
        .replace(/^rank/, 'r')
        .replace(/^alpha/, 'lora_alpha'),
    );
  }
  return { lora, baseModel: (baseModel as string | null | undefined) ?? null };
}

export interface ParsedPeftAdapter extends LoraHostWeights {
  baseModel: string | null;
  /** The dtype A and B were stored in (F32 if they mix dtypes); the values are widened to f32. */
  dtype: PeftWeightDType;
}

/**
 * Parses both files and checks them against each other and the model: every module the config targets in
 * every layer has its A [r, in] and B [out, r], nothing else is present, and all are F32, BF16 or F16.
 */
export async function parsePeftAdapter(model: ModelConfig, files: PeftAdapterFiles, options: PeftParseOptions = {}): Promise<ParsedPeftAdapter> {
  const { lora, baseModel } = parsePeftConfig(files.config, options);
  const source = memorySource(files.weights, PEFT_WEIGHTS_FILE);
  const header = await parseSafetensorsHeader(source);
  const r = lora.rank;
  const problems: string[] = [];
  const expected = new Map<string, number[]>();
  const modules = loraModules(model, lora.targets);
  for (const m of modules) {
    expected.set(peftTensorKey(m.path, 'A'), [r, m.inFeatures]);
    expected.set(peftTensorKey(m.path, 'B'), [m.outFeatures, r]);
  }
  const dtypes = new Set<SafetensorsDType>();
  for (const [key, shape] of expected) {
    const info = header.tensors.get(key);
    if (!info) {
      problems.push(`missing ${key} [${shape.join(', ')}]`);
      continue;
    }
    if (info.shape.length !== 2 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1]) {
      problems.push(`${key}: shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] (r = ${r} and the model's ${model.architecture} sizes)`);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'BF16' && info.dtype !== 'F16') problems.push(`${key}: dtype ${info.dtype}, expected F32, BF16 or F16`);
    dtypes.add(info.dtype);
  }
  const unexpected = [...header.tensors.keys()].filter((k) => !expected.has(k));
  for (const key of unexpected.slice(0, 10)) problems.push(`unexpected tensor ${key}${describeUnexpected(key, model, lora.targets)}`);
  if (unexpected.length > 10) problems.push(`… and ${unexpected.length - 10} more unexpected tensors`);
  if (problems.length) {
    throw new Error(
      `PEFT ${PEFT_WEIGHTS_FILE} does not match ${PEFT_CONFIG_FILE} and the model (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`,
    );
  }
  const weights: LoraHostWeights = {
    config: lora,
    modules: await Promise.all(
      modules.map(async (m) => ({
        ...m,
        a: await readTensorF32(source, header, peftTensorKey(m.path, 'A')),
        b: await readTensorF32(source, header, peftTensorKey(m.path, 'B')),
      })),
    ),
  };
  checkLoraHostWeights(model, weights);
  const dtype = (dtypes.size === 1 ? [...dtypes][0] : 'F32') as PeftWeightDType;
  return { ...weights, baseModel, dtype };
}

/** Why a key is unexpected, when we can tell. */
function describeUnexpected(key: string, model: ModelConfig, targets: readonly LoraTarget[]): string {
  const m = /^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_[AB]\.weight$/.exec(key);
  if (!m) return ' (not a LoRA A/B key of a decoder projection)';
  const layer = Number(m[1]);
  if (layer >= model.numLayers) return ` (layer ${layer}, but the model has ${model.numLayers} layers)`;
  if (isLoraTarget(m[2]!) && !targets.includes(m[2])) return ` (${m[2]} is not in target_modules)`;
  return '';
}
