/**
 * The knowledge domain's ReST-EM M-step, as the reference's (docs/reference/seal-knowledge.md §2.8): per training
 * passage the single best of its K self-edits (ties: the earlier one; no threshold against the un-adapted model
 * unless asked), then SFT of the policy on (self-edit prompt, completion) with the loss on the completion only:
 * LoRA r=64, alpha=128, no dropout, on all seven projections, 2 epochs, lr 3e-4 decaying linearly (TRL's default),
 * effective batch 10 (the reference: 1 per device x 5 accumulation x 2 processes), merged into the model for the
 * next round (policy mode 'merge').
 */
import { LORA_TARGETS } from '../../lora/config.ts';
import type { RestEmSettings, WinnerRule } from '../../seal/rest-em.ts';
import { UNADAPTED_BASELINE } from './run-report.ts';

export const KNOWLEDGE_REST_EM_DEFAULTS: RestEmSettings = Object.freeze({
  winners: Object.freeze({ kind: 'best-per-context', threshold: null }),
  lora: Object.freeze({ rank: 64, alpha: 128, dropout: 0, targets: Object.freeze([...LORA_TARGETS]) }),
  hyper: Object.freeze({ lr: 3e-4, epochs: 2, batchSize: 1, gradAccum: 10, schedule: 'linear', warmupSteps: 0, weightDecay: 0, gradClip: 1, seed: 42 }),
  initSeed: 0,
  continuePolicy: true,
}) as RestEmSettings;

/** The winner rule: the best of K per passage; with keepOnlyGains only when it beats the un-adapted model on it. */
export function knowledgeWinnerRule(keepOnlyGains: boolean): WinnerRule {
  return keepOnlyGains ? { kind: 'best-per-context', threshold: null, aboveBaseline: UNADAPTED_BASELINE } : { kind: 'best-per-context', threshold: null };
}
