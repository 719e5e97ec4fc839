/**
 * The knowledge domain's defaults, each the reference's value (docs/reference/seal-knowledge.md §2.2, 2.4, 2.5, 2.7):
 * how self-edits are sampled, how questions are answered, and the inner loop's LoRA training on a self-edit.
 */
import type { LoraConfig } from '../../lora/config.ts';
import type { SftHyperparameters } from '../../train/sft.ts';

export interface KnowledgeSelfEditSampling {
  /** Temperature 1.0, top-p 0.95 (make_squad_data.sh). */
  readonly temperature: number;
  readonly topP: number;
  /** New tokens at most (8192), lowered to what the model's context leaves after the prompt (token-budget.ts). */
  readonly maxNewTokens: number;
  /** Self-edits per passage (5, for training rounds and the paper's candidates). */
  readonly perPassage: number;
}

export interface KnowledgeAnswering {
  /** Greedy (temperature 0), at most 64 new tokens, ending at the end-of-sequence token (TTT_server.py). */
  readonly maxNewTokens: number;
}

export interface KnowledgeInnerLoop {
  /** LoRA r=32, alpha=64, no dropout, on q and v only (PEFT's default targets for Qwen2, which the reference relied on). */
  readonly lora: LoraConfig;
  /**
   * 10 epochs at lr 1e-3 decaying linearly to 0, no warmup, batch 1 without accumulation, AdamW without weight
   * decay, gradients clipped at norm 1.0 (HF TrainingArguments defaults). Each sequence is its own example and the
   * loss covers its real tokens only: the reference padded every sequence to 2048 tokens and trained on the pads.
   */
  readonly hyper: SftHyperparameters;
  /** Seed of the adapter initialisation (the reference used a time-based seed; ours are fixed and recorded). */
  readonly loraInitSeed: number;
}

export interface KnowledgeSettings {
  readonly selfEdit: KnowledgeSelfEditSampling;
  readonly answer: KnowledgeAnswering;
  readonly inner: KnowledgeInnerLoop;
}

export const KNOWLEDGE_DEFAULTS: KnowledgeSettings = Object.freeze({
  selfEdit: Object.freeze({ temperature: 1, topP: 0.95, maxNewTokens: 8192, perPassage: 5 }),
  answer: Object.freeze({ maxNewTokens: 64 }),
  inner: Object.freeze({
    lora: Object.freeze({ rank: 32, alpha: 64, dropout: 0, targets: Object.freeze(['q_proj', 'v_proj']) }),
    hyper: Object.freeze({
      lr: 1e-3,
      epochs: 10,
      batchSize: 1,
      gradAccum: 1,
      schedule: 'linear',
      warmupSteps: 0,
      weightDecay: 0,
      gradClip: 1,
      seed: 42,
    }),
    loraInitSeed: 0,
  }),
}) as KnowledgeSettings;
