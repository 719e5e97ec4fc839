/**
 * What the SEAL loop asks of the model (src/seal/gpu-engine.ts implements it on the GPU; the loop's tests use a fake):
 * sample self-edits from the policy, train K candidate adapters together, score them together (each sequence under its
 * candidate's adapter), and train
 * the policy adapter (the ReST-EM M-step). Weights cross this boundary as host LoRA weights (PEFT layout), which is
 * also what the run directory stores. Every long call takes an optional AbortSignal: an aborted call rejects with
 * the signal's reason (an AbortError), frees what it allocated, and leaves the engine usable.
 */
import type { LoraConfig } from '../lora/config.ts';
import type { LoraHostWeights } from '../lora/host-weights.ts';
import type { ChatMessage } from '../text/chat-template.ts';
import type { LossMode, SftDataRow } from '../train/sft-data.ts';
import type { SftHyperparameters } from '../train/sft.ts';
import type { GenerateOptions, GeneratedSample, InnerTrainingPlan, ScoringModel } from './domain.ts';

/**
 * How the policy adapter of a round is used in the next one:
 *   'adapter'  it samples the self-edits (applied unmerged); TTT and scoring run on the base model;
 *   'merge'    it is merged into the base (W + s·B·A), and the merged model samples, is TTT-trained and is scored:
 *              the reference (the self-edits update the model that wrote them, SEAL issue #2).
 */
export type PolicyMode = 'adapter' | 'merge';
export const POLICY_MODES: readonly PolicyMode[] = ['adapter', 'merge'];

/** One optimizer step of one job of a multi-job training call. */
export interface TrainingStep {
  /** Index of the job in the call. */
  job: number;
  /** 1-based. */
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  /** Tokens in the loss this step. */
  tokens: number;
  /** Tokens the step ran through the model (forward and backward; the loss tokens and their context). */
  inputTokens: number;
  epoch: number;
  gradNorm: number;
}

/** A trained candidate adapter, alive until released. */
export interface TrainedCandidate {
  /** Optimizer steps it ran. */
  readonly steps: number;
  /** Its weights (for saving as a PEFT adapter). */
  download(): Promise<LoraHostWeights>;
}

export interface SampleOptions extends GenerateOptions {
  /** JSON schema every sample is constrained to (null: free text). */
  schema: unknown;
  /** Called with each sample as soon as it ends (prompt index, sample), before sample() returns. */
  onSample?: (index: number, sample: GeneratedSample) => void;
  /** Called with each new piece of a sample's text as soon as it is final (prompt index, piece). */
  onText?: (index: number, piece: string) => void;
  /** Stops sampling: the call rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
}

export interface PolicyTrainingJob {
  rows: readonly SftDataRow[];
  lossMode: LossMode;
  lora: LoraConfig;
  hyper: SftHyperparameters;
  /** Start from these weights (the previous policy), or from a fresh adapter initialised with this seed. */
  init: { weights: LoraHostWeights } | { seed: number };
}

export interface SealEngine {
  /** The policy that samples from now on (null: the model itself), used as `mode` says. */
  setPolicy(policy: LoraHostWeights | null, mode: PolicyMode): Promise<void>;
  /** One sample per prompt from the current policy. */
  sample(prompts: readonly (readonly ChatMessage[])[], options: SampleOptions): Promise<GeneratedSample[]>;
  /**
   * Trains one adapter per plan (none skipped) in the same passes; each equals its plan trained alone. `onStep`
   * is awaited after every optimizer step of every job.
   */
  trainCandidates(plans: readonly InnerTrainingPlan[], onStep: (step: TrainingStep) => void | Promise<void>, signal?: AbortSignal): Promise<TrainedCandidate[]>;
  /**
   * Runs `body` once per candidate, all at once, with the scoring model it adapts (null: not adapted); results in
   * candidate order. Generate calls the bodies make together run as one batch, each sequence under its own adapter
   * (src/seal/generation-barrier.ts), and give what each would alone.
   */
  withScoringModels<T>(
    candidates: readonly (TrainedCandidate | null)[],
    body: (model: ScoringModel, index: number) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T[]>;
  /** Frees candidates' adapters. */
  release(candidates: readonly TrainedCandidate[]): void;
  /**
   * Trains the policy adapter on the base model (the M-step) and returns its weights. No rows: the initial
   * weights unchanged.
   */
  trainPolicy(job: PolicyTrainingJob, onStep: (step: TrainingStep) => void | Promise<void>, signal?: AbortSignal): Promise<LoraHostWeights>;
}
