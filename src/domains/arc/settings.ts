/**
 * Every default of the ARC domain in one place, with the reference value each one reproduces (docs/reference/seal-arc.md
 * §1.5-1.9), and resolveArcSettings() to override any of them with validation.
 */
import type { LrSchedule } from '../../train/schedule.ts';
import type { LoraConfig } from '../../lora/config.ts';
import { flip, rotate, transpose, type GridAugmentation } from './augmentations.ts';

export interface TttTrainingSettings {
  /** LoRA of every TTT run: r=128, alpha=16 (scale 0.125), no dropout, on q, v, gate, up, down (update_model.py). */
  lora: LoraConfig;
  /** Seed of the adapter initialisation; the same for every run (the reference restores one A initialisation). */
  loraInitSeed: number;
  /** Examples per optimizer step: 2, no accumulation. */
  batchSize: number;
  gradAccum: number;
  /** Cosine decay after 11 warmup steps. */
  schedule: LrSchedule;
  warmupSteps: number;
  /** HF TrainingArguments defaults: AdamW, no weight decay, clip 1.0, betas (0.9, 0.999), eps 1e-8, seed 42. */
  weightDecay: number;
  gradClip: number | null;
  beta1: number;
  beta2: number;
  eps: number;
  shuffleSeed: number;
  /** The step budget: a run with floor(epochs * examples / batchSize) > stepBudget gets no training (375). */
  stepBudget: number;
  /**
   * What happens over budget: 'zero-epochs' (the reference: an untrained adapter, i.e. the base model, is still
   * evaluated) or 'skip' (no adapter, no evaluation: an explicit zero reward).
   */
  overBudget: 'zero-epochs' | 'skip';
}

export interface TttDataSettings {
  /** Seed of the augmentation draws and the cap shuffle (0). */
  seed: number;
  /** Leave-n task lists to build (leave one out and leave two out). */
  leaveN: readonly number[];
  /** Colour + example permuted copies per task (1). */
  permuteN: number;
  /** Augmented problems with a grid side above this are dropped (30). */
  maxSide: number;
  /** At most this many examples; more are shuffled and cut (250). */
  maxExamples: number;
  /** Examples of this many tokens or more are dropped (8192). */
  maxTokens: number;
}

export interface InferenceSettings {
  /** Seed of the example permutations and of which query each transform is applied to (0). */
  seed: number;
  /** Leave-n demo subsets to query (leave one out); when no query fits maxTokens, n + 1 is added once. */
  includeN: readonly number[];
  /** Example-permuted copies per demo subset (2). */
  permuteN: number;
  /** Geometric transforms, each applied to one randomly chosen query and inverted after decoding. */
  transforms: readonly GridAugmentation[];
  /** Queries whose prompt plus answer reach this many tokens are dropped (8192). */
  maxTokens: number;
}

export interface SelfEditLimits {
  /** Learning rates outside [min, max] are clamped (with the reason recorded). */
  learningRate: { min: number; max: number };
  /** Epoch counts outside [min, max] are clamped. */
  epochs: { min: number; max: number };
}

export interface SelfEditSampling {
  /** The reference samples at temperature 0.8 with at most 128 new tokens. */
  temperature: number;
  maxNewTokens: number;
  /** Self-edits per task: 15 on the training set (RL), 5 on the evaluation set. */
  perTrainingTask: number;
  perEvalTask: number;
  /** Sampling attempts allowed per wanted self-edit before giving up (the reference retried forever). */
  attemptsPerEdit: number;
}

export interface ArcSettings {
  ttt: TttTrainingSettings;
  data: TttDataSettings;
  inference: InferenceSettings;
  selfEdit: { limits: SelfEditLimits; sampling: SelfEditSampling };
}

export const ARC_DEFAULTS: ArcSettings = deepFreeze({
  ttt: {
    lora: { rank: 128, alpha: 16, dropout: 0, targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    loraInitSeed: 0,
    batchSize: 2,
    gradAccum: 1,
    schedule: 'cosine',
    warmupSteps: 11,
    weightDecay: 0,
    gradClip: 1,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    shuffleSeed: 42,
    stepBudget: 375,
    overBudget: 'zero-epochs',
  },
  data: { seed: 0, leaveN: [1, 2], permuteN: 1, maxSide: 30, maxExamples: 250, maxTokens: 8192 },
  inference: {
    seed: 0,
    includeN: [1],
    permuteN: 2,
    transforms: [transpose(), flip(0), flip(1), rotate(90), rotate(180)],
    maxTokens: 8192,
  },
  selfEdit: {
    limits: { learningRate: { min: 1e-6, max: 1e-2 }, epochs: { min: 1, max: 100 } },
    sampling: { temperature: 0.8, maxNewTokens: 128, perTrainingTask: 15, perEvalTask: 5, attemptsPerEdit: 4 },
  },
} satisfies ArcSettings);

export interface ArcSettingsOverrides {
  ttt?: Partial<Omit<TttTrainingSettings, 'lora'>> & { lora?: Partial<LoraConfig> };
  data?: Partial<TttDataSettings>;
  inference?: Partial<InferenceSettings>;
  selfEdit?: { limits?: Partial<SelfEditLimits>; sampling?: Partial<SelfEditSampling> };
}

/** The defaults with `overrides` applied, validated; errors name the setting, the value and what is allowed. */
export function resolveArcSettings(overrides: ArcSettingsOverrides = {}): ArcSettings {
  const d = ARC_DEFAULTS;
  const s: ArcSettings = {
    ttt: { ...d.ttt, ...overrides.ttt, lora: { ...d.ttt.lora, ...overrides.ttt?.lora } as LoraConfig },
    data: { ...d.data, ...overrides.data },
    inference: { ...d.inference, ...overrides.inference },
    selfEdit: {
      limits: { ...d.selfEdit.limits, ...overrides.selfEdit?.limits },
      sampling: { ...d.selfEdit.sampling, ...overrides.selfEdit?.sampling },
    },
  };
  checkTttSettings(s.ttt);
  checkDataSettings(s.data);
  checkInferenceSettings(s.inference);
  checkLimits(s.selfEdit.limits);
  const sm = s.selfEdit.sampling;
  positiveInt(sm.maxNewTokens, 'selfEdit.sampling.maxNewTokens');
  positiveInt(sm.perTrainingTask, 'selfEdit.sampling.perTrainingTask');
  positiveInt(sm.perEvalTask, 'selfEdit.sampling.perEvalTask');
  positiveInt(sm.attemptsPerEdit, 'selfEdit.sampling.attemptsPerEdit');
  if (!(sm.temperature >= 0) || !Number.isFinite(sm.temperature)) fail('selfEdit.sampling.temperature', sm.temperature, 'a finite number >= 0');
  return s;
}

export function checkTttSettings(t: TttTrainingSettings): void {
  positiveInt(t.batchSize, 'ttt.batchSize');
  positiveInt(t.gradAccum, 'ttt.gradAccum');
  nonNegativeInt(t.warmupSteps, 'ttt.warmupSteps');
  nonNegativeInt(t.stepBudget, 'ttt.stepBudget');
  nonNegativeInt(t.loraInitSeed, 'ttt.loraInitSeed');
  nonNegativeInt(t.shuffleSeed, 'ttt.shuffleSeed');
  if (!['constant', 'linear', 'cosine'].includes(t.schedule)) fail('ttt.schedule', t.schedule, 'constant, linear or cosine');
  if (!['zero-epochs', 'skip'].includes(t.overBudget)) fail('ttt.overBudget', t.overBudget, "'zero-epochs' or 'skip'");
  if (!(t.weightDecay >= 0)) fail('ttt.weightDecay', t.weightDecay, 'a number >= 0');
  if (t.gradClip !== null && !(t.gradClip > 0)) fail('ttt.gradClip', t.gradClip, 'a number > 0, or null for no clipping');
  if (!(t.beta1 >= 0 && t.beta1 < 1)) fail('ttt.beta1', t.beta1, 'a number in [0, 1)');
  if (!(t.beta2 >= 0 && t.beta2 < 1)) fail('ttt.beta2', t.beta2, 'a number in [0, 1)');
  if (!(t.eps > 0)) fail('ttt.eps', t.eps, 'a number > 0');
  positiveInt(t.lora.rank, 'ttt.lora.rank');
  if (!(t.lora.alpha > 0)) fail('ttt.lora.alpha', t.lora.alpha, 'a number > 0');
  if (!Array.isArray(t.lora.targets) || t.lora.targets.length === 0) fail('ttt.lora.targets', t.lora.targets, 'a non-empty list of projection names');
}

export function checkDataSettings(d: TttDataSettings): void {
  nonNegativeInt(d.seed, 'data.seed');
  leaveNList(d.leaveN, 'data.leaveN', 1);
  nonNegativeInt(d.permuteN, 'data.permuteN');
  positiveInt(d.maxSide, 'data.maxSide');
  positiveInt(d.maxExamples, 'data.maxExamples');
  positiveInt(d.maxTokens, 'data.maxTokens');
}

export function checkInferenceSettings(i: InferenceSettings): void {
  nonNegativeInt(i.seed, 'inference.seed');
  leaveNList(i.includeN, 'inference.includeN', 0);
  nonNegativeInt(i.permuteN, 'inference.permuteN');
  positiveInt(i.maxTokens, 'inference.maxTokens');
  if (!Array.isArray(i.transforms)) fail('inference.transforms', i.transforms, 'a list of grid augmentations');
  for (const t of i.transforms) {
    if (!['rotate', 'flip', 'transpose'].includes(t?.kind))
      fail('inference.transforms', t, 'rotations, flips and transpose only (their inverse must map any answer back)');
  }
}

export function checkLimits(l: SelfEditLimits): void {
  const lr = l.learningRate;
  if (!(lr.min > 0 && lr.max >= lr.min && Number.isFinite(lr.max))) fail('selfEdit.limits.learningRate', lr, 'finite 0 < min <= max');
  const ep = l.epochs;
  if (!(Number.isSafeInteger(ep.min) && Number.isSafeInteger(ep.max) && ep.min >= 0 && ep.max >= ep.min))
    fail('selfEdit.limits.epochs', ep, 'integers 0 <= min <= max');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function leaveNList(list: readonly number[], name: string, min: number): void {
  if (!Array.isArray(list) || list.length === 0) fail(name, list, 'a non-empty list of integers');
  for (const n of list) if (!Number.isSafeInteger(n) || n < min) fail(name, list, `integers >= ${min}`);
  if (new Set(list).size !== list.length) fail(name, list, 'distinct values');
}

function positiveInt(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 1) fail(name, v, 'an integer >= 1');
}

function nonNegativeInt(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 0) fail(name, v, 'an integer >= 0');
}

function fail(name: string, value: unknown, allowed: string): never {
  throw new RangeError(`ARC settings: ${name} is ${JSON.stringify(value)}; expected ${allowed}`);
}
