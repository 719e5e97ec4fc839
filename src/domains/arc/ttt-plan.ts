/**
 * From a validated self-edit and the size of its TTT dataset to the settings of one LoRA training run
 * (docs/reference/seal-arc.md §1.6-1.8): the loss mode of the strategy, the self-edit's learning rate and epochs, the
 * fixed TTT defaults (settings.ts), and the step-budget rule: when floor(epochs * examples / batchSize) > stepBudget
 * (375; with batch 2 and the 250-example cap at most 3 epochs) the run gets no epochs ('zero-epochs', the
 * reference: an untrained adapter, i.e. the base model, is evaluated) or is skipped ('skip': explicit zero reward).
 * An empty dataset (every example over the token limit) is skipped too, with its reason; the reference silently made
 * no adapter for it.
 */
import type { SftHyperparameters } from '../../train/sft.ts';
import type { LoraConfig } from '../../lora/config.ts';
import type { SelfEdit } from './self-edit.ts';
import { ARC_DEFAULTS, checkTttSettings, type TttTrainingSettings } from './settings.ts';

/** How the SFT trainer computes the loss: 'output' the assistant turns only, 'all' every token. */
export type ArcLossMode = 'all' | 'output';

export function lossModeOf(strategy: SelfEdit['strategy']): ArcLossMode {
  return strategy === 'train_using_output_tokens' ? 'output' : 'all';
}

/** The trainer's hyperparameters, all given (a TTT run never uses maxSteps: the step budget decides instead). */
export type TttHyperparameters = Required<Omit<SftHyperparameters, 'maxSteps'>>;

export interface TttRunPlan {
  /** Run no training and no evaluation: the self-edit's reward is zero (reasons says why). */
  readonly skip: boolean;
  /** Whether any optimizer step runs (false with zero epochs: the adapter stays at its initialisation, B = 0). */
  readonly train: boolean;
  readonly reasons: readonly string[];
  readonly lossMode: ArcLossMode;
  readonly examples: number;
  /** The self-edit's epochs, and the epochs that run. */
  readonly requestedEpochs: number;
  readonly epochs: number;
  /** The budget rule's step count, floor(epochs * examples / batchSize) for the requested epochs. */
  readonly budgetSteps: number;
  /** Optimizer steps the trainer runs: epochs * ceil(ceil(examples / batchSize) / gradAccum). */
  readonly steps: number;
  readonly hyper: TttHyperparameters;
  readonly lora: LoraConfig;
  readonly loraInitSeed: number;
}

export function planTttRun(edit: SelfEdit, exampleCount: number, settings: TttTrainingSettings = ARC_DEFAULTS.ttt): TttRunPlan {
  checkTttSettings(settings);
  if (!Number.isSafeInteger(exampleCount) || exampleCount < 0) throw new RangeError(`planTttRun: exampleCount must be an integer >= 0, got ${exampleCount}`);
  const reasons: string[] = [];
  const budgetSteps = Math.floor((edit.epochs * exampleCount) / settings.batchSize);
  let epochs = edit.epochs;
  let skip = false;
  if (exampleCount === 0) {
    skip = true;
    epochs = 0;
    reasons.push('empty TTT dataset: every example was over the token limit');
  } else if (budgetSteps > settings.stepBudget) {
    // "<kind>: <numbers>": the report and the end-of-run line group zero-step candidates by the kind.
    const what = `over the step budget (${settings.stepBudget}): ${edit.epochs} epochs x ${exampleCount} examples / batch ${settings.batchSize} = ${budgetSteps} steps`;
    epochs = 0;
    if (settings.overBudget === 'skip') {
      skip = true;
      reasons.push(`${what}; skipped`);
    } else {
      reasons.push(`${what}; trained for 0 epochs (the adapter stays untrained)`);
    }
  }
  const stepsPerEpoch = Math.ceil(Math.ceil(exampleCount / settings.batchSize) / settings.gradAccum);
  return {
    skip,
    train: !skip && epochs > 0,
    reasons,
    lossMode: lossModeOf(edit.strategy),
    examples: exampleCount,
    requestedEpochs: edit.epochs,
    epochs,
    budgetSteps,
    steps: epochs * stepsPerEpoch,
    hyper: {
      lr: edit.learningRate,
      epochs,
      batchSize: settings.batchSize,
      gradAccum: settings.gradAccum,
      schedule: settings.schedule,
      warmupSteps: settings.warmupSteps,
      weightDecay: settings.weightDecay,
      gradClip: settings.gradClip,
      beta1: settings.beta1,
      beta2: settings.beta2,
      eps: settings.eps,
      seed: settings.shuffleSeed,
      shuffle: true,
    },
    lora: { ...settings.lora, targets: [...settings.lora.targets] },
    loraInitSeed: settings.loraInitSeed,
  };
}
