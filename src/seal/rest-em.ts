/**
 * ReST-EM's M-step: after a round's E-step (K self-edits sampled per context, each trained and scored), keep the
 * winning self-edits by a configurable rule and fine-tune the policy with LoRA on (self-edit prompt, winning
 * self-edit) pairs; the resulting adapter is the policy of the next round (docs/reference/seal-arc.md §1.11, docs/reference/seal-knowledge.md §2.8).
 *
 * Winner rules:
 *   reward-above      every candidate whose reward is above the threshold; duplicates and several winners per
 *                     context are all kept (ARC: reward > 0, i.e. solved, as the paper);
 *   best-per-context  the single best candidate of each context (ties: the lowest candidate index), optionally only
 *                     above a threshold (knowledge incorporation: best-1 with no threshold).
 * Training: the prompt rendered with the chat template, the self-edit text as the assistant turn, loss on that turn
 * only (the reference masked everything up to the last header and then trained on the padding too; we never pad).
 *
 * The policy is one adapter over the base model: by default each round continues from the previous round's adapter
 * (continuePolicy), so round r's policy has seen every round's winners in turn; with continuePolicy false every
 * round starts from a fresh adapter (ReST-EM's restart from the base model). It is saved as a PEFT folder under
 * policy/round-R. Resuming: a round's M-step counts only once 'policy-checkpoint-saved' is recorded; an
 * interrupted one is redone from the start (its samples and scores are in the log, so the same pairs are trained).
 */
import { resolveLoraConfig, type LoraConfig } from '../lora/config.ts';
import type { LoraHostWeights } from '../lora/host-weights.ts';
import { scheduleWarnings } from '../train/schedule-warnings.ts';
import type { SftDataRow } from '../train/sft-data.ts';
import { resolveSftHyperparameters, totalSftSteps, type SftHyperparameters } from '../train/sft.ts';
import type { Domain, DomainContext } from './domain.ts';
import type { SealEngine } from './engine.ts';
import type { RunRecorder, AdapterStore } from './run-recorder.ts';
import { chosenEdit, scoredCandidates, type RoundState } from './run-state.ts';

export type WinnerRule =
  | { kind: 'reward-above'; threshold: number }
  | {
      kind: 'best-per-context';
      threshold: number | null;
      /**
       * Set: the best candidate of a context wins only if its reward is above that context's score in this
       * baseline of the run (round null), e.g. the un-adapted model's (knowledge --keep-only-gains); a context the
       * baseline did not score keeps no winner.
       */
      aboveBaseline?: string;
    };

export interface RestEmSettings {
  winners: WinnerRule;
  /** The policy adapter. */
  lora: LoraConfig;
  hyper: SftHyperparameters;
  /** Seed of a fresh policy adapter's initialisation. */
  initSeed: number;
  /** Each round continues from the previous round's policy adapter (true) or starts afresh (false). */
  continuePolicy: boolean;
}

/** Throws a RangeError naming the setting unless the settings are usable. */
export function checkRestEmSettings(s: RestEmSettings): void {
  const w = s.winners;
  if (w?.kind === 'reward-above') {
    if (!Number.isFinite(w.threshold)) throw new RangeError(`ReST-EM: winners.threshold must be a finite number, got ${w.threshold}`);
  } else if (w?.kind === 'best-per-context') {
    if (w.threshold !== null && !Number.isFinite(w.threshold))
      throw new RangeError(`ReST-EM: winners.threshold must be a finite number or null, got ${w.threshold}`);
  } else {
    throw new RangeError(`ReST-EM: winners.kind must be 'reward-above' or 'best-per-context', got ${JSON.stringify((w as { kind?: unknown })?.kind)}`);
  }
  resolveLoraConfig(s.lora);
  resolveSftHyperparameters(s.hyper, 'ReST-EM policy SFT');
  if (!Number.isSafeInteger(s.initSeed) || s.initSeed < 0) throw new RangeError(`ReST-EM: initSeed must be an integer >= 0, got ${s.initSeed}`);
}

/** A scored candidate with the self-edit it trained on. */
export interface ScoredSelfEdit {
  context: string;
  candidate: number;
  reward: number;
  text: string;
}

/** The scored candidates of a round that trained on a valid self-edit, in plan order. */
export function roundSelfEdits(r: RoundState): ScoredSelfEdit[] {
  const out: ScoredSelfEdit[] = [];
  for (const c of scoredCandidates(r)) {
    const edit = chosenEdit(c);
    if (edit !== null && c.score!.skipped === null) out.push({ context: c.task, candidate: c.candidate, reward: c.score!.reward, text: edit.text });
  }
  return out;
}

/**
 * The winners among scored self-edits, in their order. `baseline`: the per-context scores a rule's aboveBaseline
 * names (runPolicyStep reads them from the run).
 */
export function selectWinners(scored: readonly ScoredSelfEdit[], rule: WinnerRule, baseline?: ReadonlyMap<string, number>): ScoredSelfEdit[] {
  if (rule.kind === 'reward-above') return scored.filter((s) => s.reward > rule.threshold);
  const best = new Map<string, ScoredSelfEdit>();
  for (const s of scored) {
    if (rule.threshold !== null && !(s.reward > rule.threshold)) continue;
    if (rule.aboveBaseline !== undefined) {
      const b = baseline?.get(s.context);
      if (b === undefined || !(s.reward > b)) continue;
    }
    const b = best.get(s.context);
    if (!b || s.reward > b.reward || (s.reward === b.reward && s.candidate < b.candidate)) best.set(s.context, s);
  }
  return scored.filter((s) => best.get(s.context) === s);
}

/** The policy's SFT rows: the self-edit prompt of the winner's context, answered by the winning text. */
export function policySftRows<C extends DomainContext>(winners: readonly ScoredSelfEdit[], domain: Domain<C, unknown>): SftDataRow[] {
  const contexts = new Map(domain.contexts().map((c) => [c.id, c]));
  return winners.map((w, i) => {
    const context = contexts.get(w.context);
    if (!context) throw new Error(`ReST-EM: the winner of round context "${w.context}" is not a context of this domain`);
    return { kind: 'messages', messages: [...domain.selfEditPrompt(context), { role: 'assistant', content: w.text }], line: i + 1 };
  });
}

/** Optimizer steps an SFT run of `examples` examples takes (sft.ts's plan: maxSteps, else epochs x steps per epoch). */
export function plannedSftSteps(examples: number, hyper: SftHyperparameters): number {
  const h = resolveSftHyperparameters(hyper);
  if (examples === 0) return 0;
  return totalSftSteps(examples, h);
}

/**
 * Runs round `round`'s M-step and records it: 'policy-sft-started', its steps, 'policy-checkpoint-saved' (no
 * winners: a warning and the previous policy saved unchanged). Returns the new policy's weights.
 */
export async function runPolicyStep<C extends DomainContext>(args: {
  run: RunRecorder;
  store: AdapterStore;
  domain: Domain<C, unknown>;
  engine: SealEngine;
  round: number;
  settings: RestEmSettings;
  /** The policy the round sampled with (null: the base model). */
  previous: LoraHostWeights | null;
  /** Stops the policy's training (the M-step is then redone when the run resumes). */
  signal?: AbortSignal;
}): Promise<LoraHostWeights> {
  const { run, store, domain, engine, round, settings, previous, signal } = args;
  const r = run.state.rounds.get(round);
  if (!r) throw new Error(`ReST-EM: round ${round} was never started`);
  const rule = settings.winners;
  const baseline =
    rule.kind === 'best-per-context' && rule.aboveBaseline !== undefined
      ? new Map([...run.state.baselines.values()].filter((b) => b.name === rule.aboveBaseline && b.round === null).map((b) => [b.task, b.reward]))
      : undefined;
  const winners = selectWinners(roundSelfEdits(r), rule, baseline);
  const rows = policySftRows(winners, domain);
  const dir = await run.preparePolicyDir(round);
  // No winners: the policy stays what it was (previous, or a fresh adapter, which is the base model itself).
  const keep = rows.length === 0 || settings.continuePolicy;
  const init = keep && previous !== null ? { weights: previous } : { seed: settings.initSeed };
  if (rows.length === 0) {
    run.append({
      type: 'warning',
      message: `round ${round}: no self-edit won (rule ${describeRule(settings.winners)}), so the policy is not trained; round ${round + 1} samples from the same policy`,
    });
  } else {
    const plannedSteps = plannedSftSteps(rows.length, settings.hyper);
    run.append({ type: 'policy-sft-started', round, examples: rows.length, plannedSteps });
    const h = resolveSftHyperparameters(settings.hyper);
    for (const w of scheduleWarnings({ schedule: h.schedule, lr: h.lr, warmupSteps: h.warmupSteps, totalSteps: plannedSteps }))
      run.append({ type: 'warning', message: `round ${round} M-step (policy training): ${w}` });
  }
  const weights = await engine.trainPolicy(
    { rows, lossMode: 'output', lora: settings.lora, hyper: settings.hyper, init },
    (s) => {
      run.append({ type: 'policy-sft-step', round, step: s.step, loss: Number.isFinite(s.loss) ? s.loss : null, lr: s.lr, tokens: s.tokens, epoch: s.epoch });
    },
    signal,
  );
  await store.save(dir, weights);
  run.append({ type: 'policy-checkpoint-saved', round, path: dir, examples: rows.length });
  return weights;
}

export function describeRule(rule: WinnerRule): string {
  if (rule.kind === 'reward-above') return `reward > ${rule.threshold}`;
  const above = [
    rule.threshold !== null ? `reward > ${rule.threshold}` : null,
    rule.aboveBaseline !== undefined ? `above baseline ${rule.aboveBaseline}` : null,
  ];
  const conditions = above.filter((x) => x !== null);
  return `best per context${conditions.length > 0 ? ` with ${conditions.join(' and ')}` : ''}`;
}
