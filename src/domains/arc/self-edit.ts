/**
 * The ARC self-edit: the JSON a model writes to choose its own TTT recipe (docs/reference/seal-arc.md §1.6),
 *   {"data_generation": {"use_basic_augmentations": bool, "use_size_augmentations": bool,
 *                        "use_chain_augmentations": bool, "use_repeat_augmentations": bool},
 *    "training": {"strategy": "train_using_all_tokens" | "train_using_output_tokens",
 *                 "learning_rate": number, "num_train_epochs": integer}}
 * its JSON schema for constrained decoding (src/constrain: JsonSchemaConstraint.fromTokenizer(selfEditSchema(), ...)),
 * parsing and validation, and a bounded sampling loop.
 *
 * Where the reference differs: it parsed with json.loads and retried unparsable samples forever; missing keys crashed
 * it; a bad augmentation dict, a missing field or an unknown strategy silently became a zero-epoch adapter that was
 * still evaluated. Here every sample is parsed once: a wrong type, a missing field or an unknown strategy makes the
 * sample invalid with its reason (the caller scores it zero or samples again, within a cap); a learning rate or epoch
 * count outside the limits is clamped, and the adjustment is recorded.
 */
import type { AugmentationChoice } from './augmentations.ts';
import { describe } from './grid.ts';
import { ARC_DEFAULTS, checkLimits, type SelfEditLimits } from './settings.ts';

export const LOSS_STRATEGIES = ['train_using_all_tokens', 'train_using_output_tokens'] as const;
export type LossStrategy = (typeof LOSS_STRATEGIES)[number];

/** The JSON keys of the four augmentation groups, in order. */
export const AUGMENTATION_KEYS = {
  basic: 'use_basic_augmentations',
  size: 'use_size_augmentations',
  chain: 'use_chain_augmentations',
  repeat: 'use_repeat_augmentations',
} as const;

export interface SelfEdit {
  readonly augmentations: AugmentationChoice;
  readonly strategy: LossStrategy;
  readonly learningRate: number;
  readonly epochs: number;
}

/** A value changed or ignored while validating, and why. */
export interface SelfEditAdjustment {
  /** JSON path, e.g. "training.learning_rate". */
  readonly field: string;
  readonly from: unknown;
  /** The value used instead (undefined: ignored). */
  readonly to: unknown;
  readonly reason: string;
}

export type SelfEditResult =
  | { readonly ok: true; readonly edit: SelfEdit; readonly adjustments: readonly SelfEditAdjustment[] }
  | { readonly ok: false; readonly reason: string };

/** A self-edit that cannot be used; thrown by requireSelfEdit. */
export class SelfEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelfEditError';
  }
}

/**
 * The JSON schema of a self-edit (the subset src/constrain supports). The number bounds are the limits, so a
 * constrained sample never needs clamping; validateSelfEdit still clamps text from elsewhere.
 */
export function selfEditSchema(limits: SelfEditLimits = ARC_DEFAULTS.selfEdit.limits): Record<string, unknown> {
  checkLimits(limits);
  const bool = { type: 'boolean' };
  const augmentationKeys = Object.values(AUGMENTATION_KEYS);
  return {
    type: 'object',
    properties: {
      data_generation: {
        type: 'object',
        properties: Object.fromEntries(augmentationKeys.map((k) => [k, bool])),
        required: augmentationKeys,
        additionalProperties: false,
      },
      training: {
        type: 'object',
        properties: {
          strategy: { enum: [...LOSS_STRATEGIES] },
          learning_rate: { type: 'number', minimum: limits.learningRate.min, maximum: limits.learningRate.max },
          num_train_epochs: { type: 'integer', minimum: limits.epochs.min, maximum: limits.epochs.max },
        },
        required: ['strategy', 'learning_rate', 'num_train_epochs'],
        additionalProperties: false,
      },
    },
    required: ['data_generation', 'training'],
    additionalProperties: false,
  };
}

/** Parses a sampled text (the whole text must be the JSON document, surrounding whitespace aside) and validates it. */
export function parseSelfEdit(text: string, limits: SelfEditLimits = ARC_DEFAULTS.selfEdit.limits): SelfEditResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not valid JSON (${(e as Error).message}): ${describe(text)}` };
  }
  return validateSelfEdit(value, limits);
}

/** Validates a parsed self-edit: invalid (with the reason) or usable (with any clamping recorded). */
export function validateSelfEdit(value: unknown, limits: SelfEditLimits = ARC_DEFAULTS.selfEdit.limits): SelfEditResult {
  checkLimits(limits);
  const adjustments: SelfEditAdjustment[] = [];
  const invalid = (reason: string): SelfEditResult => ({ ok: false, reason });
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const ignoreExtra = (obj: Record<string, unknown>, known: readonly string[], path: string) => {
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) adjustments.push({ field: path ? `${path}.${k}` : k, from: obj[k], to: undefined, reason: 'unknown field, ignored' });
    }
  };

  if (!isObject(value)) return invalid(`expected a JSON object with "data_generation" and "training", got ${describe(value)}`);
  ignoreExtra(value, ['data_generation', 'training'], '');
  const gen = value.data_generation;
  if (!isObject(gen)) return invalid(`"data_generation" must be an object of four booleans, got ${describe(gen)}`);
  ignoreExtra(gen, Object.values(AUGMENTATION_KEYS), 'data_generation');
  const augmentations: Partial<Record<keyof typeof AUGMENTATION_KEYS, boolean>> = {};
  for (const [group, key] of Object.entries(AUGMENTATION_KEYS) as [keyof typeof AUGMENTATION_KEYS, string][]) {
    const v = gen[key];
    if (typeof v !== 'boolean') return invalid(`data_generation.${key} must be true or false, got ${describe(v)}`);
    augmentations[group] = v;
  }

  const training = value.training;
  if (!isObject(training)) return invalid(`"training" must be an object with strategy, learning_rate and num_train_epochs, got ${describe(training)}`);
  ignoreExtra(training, ['strategy', 'learning_rate', 'num_train_epochs'], 'training');
  const strategy = training.strategy;
  if (typeof strategy !== 'string' || !(LOSS_STRATEGIES as readonly string[]).includes(strategy)) {
    return invalid(`training.strategy must be ${LOSS_STRATEGIES.map((s) => `"${s}"`).join(' or ')}, got ${describe(strategy)}`);
  }
  const lr = training.learning_rate;
  if (typeof lr !== 'number' || !Number.isFinite(lr)) return invalid(`training.learning_rate must be a number, got ${describe(lr)}`);
  const epochs = training.num_train_epochs;
  if (typeof epochs !== 'number' || !Number.isSafeInteger(epochs)) return invalid(`training.num_train_epochs must be a whole number, got ${describe(epochs)}`);

  const learningRate = clamp(lr, limits.learningRate.min, limits.learningRate.max, 'training.learning_rate', adjustments);
  const clampedEpochs = clamp(epochs, limits.epochs.min, limits.epochs.max, 'training.num_train_epochs', adjustments);
  return {
    ok: true,
    edit: { augmentations: augmentations as AugmentationChoice, strategy: strategy as LossStrategy, learningRate, epochs: clampedEpochs },
    adjustments,
  };
}

function clamp(v: number, min: number, max: number, field: string, adjustments: SelfEditAdjustment[]): number {
  const to = Math.min(max, Math.max(min, v));
  if (to !== v) adjustments.push({ field, from: v, to, reason: `${v} is outside the allowed range [${min}, ${max}]; clamped to ${to}` });
  return to;
}

/** parseSelfEdit that throws SelfEditError for an invalid self-edit. */
export function requireSelfEdit(text: string, limits?: SelfEditLimits): { edit: SelfEdit; adjustments: readonly SelfEditAdjustment[] } {
  const r = parseSelfEdit(text, limits);
  if (!r.ok) throw new SelfEditError(`invalid self-edit: ${r.reason}`);
  return r;
}

/** The self-edit as the compact JSON the schema generates (keys in schema order), e.g. for logs and BC training data. */
export function selfEditJson(edit: SelfEdit): string {
  return JSON.stringify({
    data_generation: Object.fromEntries(
      Object.entries(AUGMENTATION_KEYS).map(([group, key]) => [key, edit.augmentations[group as keyof typeof AUGMENTATION_KEYS]]),
    ),
    training: { strategy: edit.strategy, learning_rate: edit.learningRate, num_train_epochs: edit.epochs },
  });
}

/** A stable key of a self-edit's values (for dropping repeated ones). */
export function selfEditKey(edit: SelfEdit): string {
  return selfEditJson(edit);
}

export interface CollectSelfEditsOptions {
  /** How many usable self-edits are wanted. */
  count: number;
  /** Most samples drawn in all (>= count). The reference had no cap. */
  maxAttempts: number;
  /** Draws `n` samples (texts). Called repeatedly until `count` are usable or maxAttempts are spent. */
  sample: (n: number) => Promise<readonly string[]> | readonly string[];
  /** Reject a self-edit equal to one already accepted (the reference's --skip_repeated_configs). Default false. */
  skipDuplicates?: boolean;
  limits?: SelfEditLimits;
}

export interface CollectedSelfEdit {
  readonly text: string;
  readonly edit: SelfEdit;
  readonly adjustments: readonly SelfEditAdjustment[];
  /** 0-based index of the sample among all drawn. */
  readonly attempt: number;
}

export interface CollectedSelfEdits {
  readonly accepted: readonly CollectedSelfEdit[];
  readonly rejected: readonly { readonly text: string; readonly reason: string; readonly attempt: number }[];
  readonly attempts: number;
  /** Whether `count` usable self-edits were found within maxAttempts. */
  readonly complete: boolean;
}

/** Samples until `count` usable self-edits or `maxAttempts` samples; every rejected sample is kept with its reason. */
export async function collectSelfEdits(options: CollectSelfEditsOptions): Promise<CollectedSelfEdits> {
  const { count, maxAttempts } = options;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`collectSelfEdits: count must be an integer >= 0, got ${count}`);
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < count)
    throw new RangeError(`collectSelfEdits: maxAttempts must be an integer >= count (${count}), got ${maxAttempts}`);
  const accepted: CollectedSelfEdit[] = [];
  const rejected: { text: string; reason: string; attempt: number }[] = [];
  const seen = new Set<string>();
  let attempts = 0;
  while (accepted.length < count && attempts < maxAttempts) {
    const n = Math.min(count - accepted.length, maxAttempts - attempts);
    const texts = await options.sample(n);
    if (!Array.isArray(texts) || texts.length !== n)
      throw new Error(`collectSelfEdits: sample(${n}) returned ${Array.isArray(texts) ? texts.length : describe(texts)} texts`);
    for (const text of texts) {
      const attempt = attempts++;
      const r = parseSelfEdit(text, options.limits);
      if (!r.ok) {
        rejected.push({ text, reason: r.reason, attempt });
        continue;
      }
      const key = selfEditKey(r.edit);
      if (options.skipDuplicates && seen.has(key)) {
        rejected.push({ text, reason: 'repeats an accepted self-edit', attempt });
        continue;
      }
      seen.add(key);
      accepted.push({ text, edit: r.edit, adjustments: r.adjustments, attempt });
    }
  }
  return { accepted, rejected, attempts, complete: accepted.length >= count };
}
