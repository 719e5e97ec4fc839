/**
 * What a SEAL domain gives the domain-agnostic loop (src/seal/loop.ts): its contexts (ARC: tasks; knowledge: passages),
 * the prompt that asks the policy for a self-edit and the JSON schema that constrains it, how a self-edit is parsed,
 * what the inner loop trains for it (SFT rows, loss mode, LoRA and optimizer settings), and how a model adapted by
 * it is scored. A domain never touches the GPU itself: it describes training (InnerTrainingPlan) and asks the model
 * it is given (ScoringModel) for text.
 *
 * Everything a domain returns that the event log records (self-edits, adjustments, test outcomes) is plain JSON.
 */
import type { LoraConfig } from '../lora/config.ts';
import type { ChatMessage } from '../text/chat-template.ts';
import type { LossMode, SftDataRow } from '../train/sft-data.ts';
import type { SftHyperparameters } from '../train/sft.ts';
import type { EditAdjustment, TestOutcome } from './events.ts';

/** One unit of the outer loop: K self-edits are sampled, trained and scored per context and round. */
export interface DomainContext {
  /** Stable id (ARC: the task id); recorded in the event log as `task`. */
  readonly id: string;
}

export type ParsedSelfEdit<E> =
  | { readonly ok: true; readonly edit: E; readonly adjustments: readonly EditAdjustment[] }
  | { readonly ok: false; readonly reason: string };

/** What the inner loop trains for one self-edit: one job of the SFT trainer (src/train/sft.ts). */
export interface InnerTrainingPlan {
  /** Set: nothing is trained or scored, the candidate's reward is 0, and this says why. */
  readonly skip: string | null;
  /** Training rows (tokenized by the engine with the model's chat template). Empty only when skipped. */
  readonly rows: readonly SftDataRow[];
  readonly lossMode: LossMode;
  readonly hyper: SftHyperparameters;
  readonly lora: LoraConfig;
  /** Seed of the adapter's initialisation (the same for every candidate: they differ only by their self-edit). */
  readonly loraInitSeed: number;
  /** Optimizer steps the trainer will run (0: the adapter stays at its initialisation, i.e. the model itself). */
  readonly plannedSteps: number;
  /** Why the plan differs from what the self-edit asked for (a step budget, a cap), for the log. */
  readonly notes: readonly string[];
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default): greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Sampling stream per prompt (u32); default the prompt's index. */
  streams?: readonly number[];
  /** Text ends before the first of these. */
  stopStrings?: readonly string[];
}

export interface GeneratedSample {
  text: string;
  /** Tokens generated (the stop token included). */
  tokens: number;
  finishReason: 'stop' | 'length' | 'stop-string';
}

/** The model a domain scores: the run's model with one adapter applied (or none, for baselines). */
export interface ScoringModel {
  /** The model's context length in tokens. */
  readonly contextLength: number;
  /** Tokens of a conversation as the model sees it (a generation prompt added unless it ends with the assistant). */
  countTokens(messages: readonly ChatMessage[]): number;
  /** Continues every prompt (rendered with the chat template and its generation prompt); results in prompt order. */
  generate(prompts: readonly (readonly ChatMessage[])[], options: GenerateOptions): Promise<GeneratedSample[]>;
}

export interface DomainScore {
  /** The reward the outer loop uses (ARC: 1 solved, 0 not). */
  reward: number;
  solved: boolean;
  tests: TestOutcome[];
}

export interface Domain<C extends DomainContext = DomainContext, E = unknown> {
  /** e.g. "arc". */
  readonly name: string;
  /**
   * How the messages of selfEditPrompt and of the prompts score() generates from become model input: 'chat' (the
   * default) through the model's chat template; 'plain' each message's content as it is, concatenated, for a base
   * model to continue (the knowledge domain's prompts: the reference uses no chat template there). The engine is
   * given the template this asks for (promptTemplate in plain-chat-template.ts).
   */
  readonly promptFormat?: 'chat' | 'plain';
  /** The contexts of the run, in order. */
  contexts(): readonly C[];
  /** The messages that ask the policy for a self-edit of a context. */
  selfEditPrompt(context: C): ChatMessage[];
  /** The JSON schema every sampled self-edit is constrained to, or null for free text. */
  selfEditSchema(): unknown;
  /** Parses a sampled text: the self-edit (JSON-serializable, recorded in the log) or why it cannot be used. */
  parseSelfEdit(text: string): ParsedSelfEdit<E>;
  /** The inner loop's training for a self-edit of a context. */
  trainingPlan(context: C, edit: E): InnerTrainingPlan;
  /** Scores a model (adapted, or not) on a context. */
  score(context: C, model: ScoringModel): Promise<DomainScore>;
  /** The fixed, hand-chosen self-edit of the "oracle" baseline (text, parsed like a sample); absent: no oracle. */
  oracleSelfEdit?(context: C): string;
}
