/**
 * The SEAL loop, domain-agnostic. A round: (E-step) sample K self-edits per context from the policy with constrained
 * decoding, build each one's training set, train a context's K candidate adapters together, score each adapted
 * model through the domain; then (M-step, training runs only) ReST-EM on the winners (rest-em.ts). Everything is
 * recorded through a RunRecorder, and the loop resumes from the recorded state alone (src/seal/run-state.ts):
 *   - a candidate is finished exactly when its 'candidate-scored' record exists, and is never redone;
 *   - an unfinished candidate reuses its recorded valid self-edit (or continues its attempts), and is trained and
 *     scored again from the start. Its result is the same: samples come from (seed, stream) fixed by the slot
 *     (streams.ts), and a trainer job's result does not depend on the other jobs of its call (to f32 rounding);
 *   - a round's M-step counts once its checkpoint is recorded; 'round-finished' closes the round.
 *
 * Per round, the records are: 'self-edit-sampled' for every sample of every pending slot (all contexts sampled in
 * one batch, each recorded as soon as it ends; an invalid one is resampled up to attemptsPerEdit times, each attempt
 * on its own stream); then per context, per group of up to maxParallel candidates, 'candidate-started' for each,
 * their 'ttt-step' records as they train together, and 'candidate-scored' for each once the group is scored (together:
 * their generation runs as one batch, each sequence under its candidate's adapter). A candidate with no valid
 * self-edit after its attempts, or whose plan is a skip (the domain's budget rule, an empty training set), is scored at
 * once with reward 0 and the reason in `skipped`.
 *
 * Baselines: the oracle runs this loop with a fixed self-edit per context (fixedSelfEdits, K = 1); "self-edits of the
 * base model" is an eval run without a policy; in-context (no TTT) is runInContextBaseline.
 */
import type { LoraHostWeights } from '../lora/host-weights.ts';
import type { ChatMessage } from '../text/chat-template.ts';
import { trainsNothing } from '../train/schedule-warnings.ts';
import { SftDivergedError } from '../train/sft.ts';
import type { Domain, DomainContext, GeneratedSample, InnerTrainingPlan } from './domain.ts';
import type { PolicyMode, SealEngine, TrainedCandidate } from './engine.ts';
import type { PolicyRef } from './events.ts';
import { checkRestEmSettings, runPolicyStep, type RestEmSettings } from './rest-em.ts';
import type { AdapterStore, RunRecorder } from './run-recorder.ts';
import { candidateKey, chosenEdit, isBaselineFinished, nextRound, pendingCandidates, policyForRound, type CandidateState } from './run-state.ts';
import { roundSeed, sampleStream } from './streams.ts';

export interface SelfEditSamplingSettings {
  temperature: number;
  /** 1: off. */
  topP: number;
  maxNewTokens: number;
  /** Samples drawn per candidate before it is given up (scored 0) for lack of a valid self-edit. */
  attemptsPerEdit: number;
}

export interface SealLoopOptions<C extends DomainContext> {
  /** 'train': E-step and M-step every round (policy of round r: round r - 1's checkpoint). 'eval': E-step only. */
  mode: 'train' | 'eval';
  sampling: SelfEditSamplingSettings;
  policyMode: PolicyMode;
  /** The M-step's settings (mode 'train'). */
  restEm?: RestEmSettings;
  /** Mode 'eval': the policy that samples (default: the base model), with its weights. */
  policy?: { ref: PolicyRef; weights: LoraHostWeights } | null;
  /** Most candidates trained in one call (default: every pending candidate of a context). */
  maxParallel?: number;
  /** Save every candidate's adapter under adapters/round-R/<task>/candidate-K (default false: not kept). */
  keepAdapters?: boolean;
  /**
   * Instead of sampling, candidate k of a context trains on the k-th of these texts (the oracle baseline: one fixed
   * self-edit; the browser playground: the self-edits a person wrote or edited). One text per candidate.
   */
  fixedSelfEdits?: (context: C) => readonly string[];
  /**
   * Stops the loop: between steps of sampling, training and scoring, the run rejects with the signal's reason (an
   * AbortError). What was recorded stays recorded, so the same run resumes like an interrupted one.
   */
  signal?: AbortSignal;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** Runs (or resumes) every unfinished round of the run's config. */
export async function runSealLoop<C extends DomainContext, E>(
  run: RunRecorder,
  store: AdapterStore,
  domain: Domain<C, E>,
  engine: SealEngine,
  options: SealLoopOptions<C>,
): Promise<void> {
  const config = run.state.config;
  if (!config) throw new Error('runSealLoop: the run has no configuration (no run-started record)');
  if (options.mode === 'train') {
    if (!options.restEm) throw new Error("runSealLoop: mode 'train' needs restEm settings");
    checkRestEmSettings(options.restEm);
  }
  checkSampling(options.sampling);
  const maxParallel = options.maxParallel ?? Infinity;
  if (!(maxParallel >= 1)) throw new RangeError(`runSealLoop: maxParallel must be >= 1, got ${maxParallel}`);
  const contexts = domain.contexts();
  const ids = contexts.map((c) => c.id);
  if (ids.join('\u0000') !== config.tasks.ids.join('\u0000')) {
    throw new Error(`runSealLoop: the domain's contexts (${ids.join(', ')}) are not the run's tasks (${config.tasks.ids.join(', ')})`);
  }
  const plan = { tasks: ids, candidatesPerTask: config.selfEditsPerTask };
  const loop = new RoundRunner(run, store, domain, engine, options, maxParallel);

  const signal = options.signal;
  for (let round = nextRound(run.state); round !== null; round = nextRound(run.state)) {
    signal?.throwIfAborted();
    const policy = options.mode === 'train' ? policyForRound(run.state, round) : (options.policy?.ref ?? { kind: 'base' as const });
    const recorded = run.state.rounds.get(round);
    if (!recorded || recorded.tasks.join('\u0000') !== ids.join('\u0000') || recorded.candidatesPerTask !== plan.candidatesPerTask) {
      run.append({ type: 'round-started', round, policy, ...plan });
    }
    const weights = policy.kind === 'base' ? null : options.mode === 'eval' && options.policy ? options.policy.weights : await store.load(policy.path);
    await engine.setPolicy(weights, options.policyMode);
    await loop.sampleSelfEdits(round, contexts);
    for (const context of contexts) {
      signal?.throwIfAborted();
      await loop.runContext(round, context);
    }
    const r = run.state.rounds.get(round)!;
    if (options.mode === 'train' && r.checkpoint === null) {
      signal?.throwIfAborted();
      await runPolicyStep({
        run,
        store,
        domain: domain as Domain<C, unknown>,
        engine,
        round,
        settings: options.restEm!,
        previous: weights,
        ...(signal ? { signal } : {}),
      });
    }
    await run.finishRound(round);
  }
}

function checkSampling(s: SelfEditSamplingSettings): void {
  if (!(s.temperature >= 0 && Number.isFinite(s.temperature)))
    throw new RangeError(`self-edit sampling: temperature must be a finite number >= 0, got ${s.temperature}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new RangeError(`self-edit sampling: topP must be in (0, 1], got ${s.topP}`);
  if (!Number.isSafeInteger(s.maxNewTokens) || s.maxNewTokens < 1)
    throw new RangeError(`self-edit sampling: maxNewTokens must be an integer >= 1, got ${s.maxNewTokens}`);
  if (!Number.isSafeInteger(s.attemptsPerEdit) || s.attemptsPerEdit < 1)
    throw new RangeError(`self-edit sampling: attemptsPerEdit must be an integer >= 1, got ${s.attemptsPerEdit}`);
}

/** One sample to draw: attempt `attempt` of a candidate slot. */
interface Draw<C> {
  context: C;
  candidate: number;
  attempt: number;
}

/** A candidate ready to train: its slot, self-edit and plan. */
interface ReadyCandidate {
  candidate: number;
  plan: InnerTrainingPlan;
}

class RoundRunner<C extends DomainContext, E> {
  private readonly now: () => number;

  constructor(
    private readonly run: RunRecorder,
    private readonly store: AdapterStore,
    private readonly domain: Domain<C, E>,
    private readonly engine: SealEngine,
    private readonly options: SealLoopOptions<C>,
    private readonly maxParallel: number,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  private slot(round: number, task: string, candidate: number): CandidateState | undefined {
    return this.run.state.rounds.get(round)?.candidates.get(candidateKey(task, candidate));
  }

  /** Pending candidate slots of a context in a round. */
  private pending(round: number, context: C): number[] {
    return pendingCandidates(this.run.state, round)
      .filter((p) => p.task === context.id)
      .map((p) => p.candidate);
  }

  /**
   * Draws samples until every pending slot of the round has a valid self-edit or has used its attempts, all contexts
   * in one batch (generation runs them together); records each sample.
   */
  async sampleSelfEdits(round: number, contexts: readonly C[]): Promise<void> {
    const { attemptsPerEdit } = this.options.sampling;
    const prompts = new Map<string, ChatMessage[]>();
    for (;;) {
      const draws: Draw<C>[] = [];
      for (const context of contexts) {
        for (const candidate of this.pending(round, context)) {
          const c = this.slot(round, context.id, candidate);
          const attempt = c?.samples.length ?? 0;
          if ((c && chosenEdit(c) !== null) || attempt >= attemptsPerEdit) continue;
          if (!prompts.has(context.id)) prompts.set(context.id, this.domain.selfEditPrompt(context));
          draws.push({ context, candidate, attempt });
        }
      }
      if (draws.length === 0) return;
      await this.draw(round, draws, prompts, (i, sample) => this.recordSample(round, draws[i]!, sample));
    }
  }

  /** Records one sample of a slot (valid, with the domain's adjustments, or invalid with the reason). */
  private recordSample(round: number, { context, candidate, attempt }: Draw<C>, sample: GeneratedSample): void {
    const parsed = this.domain.parseSelfEdit(sample.text);
    const base = {
      type: 'self-edit-sampled' as const,
      round,
      task: context.id,
      candidate,
      attempt,
      text: sample.text,
      ...(sample.tokens > 0 ? { tokens: sample.tokens } : {}),
    };
    if (parsed.ok) {
      this.run.append({ ...base, edit: parsed.edit as unknown, adjustments: parsed.adjustments.map((a) => ({ ...a })) });
      return;
    }
    if (this.options.fixedSelfEdits) throw new Error(`the fixed self-edit ${candidate} of ${context.id} is invalid: ${parsed.reason}`);
    const cut = sample.finishReason === 'length' ? ` (cut at ${this.options.sampling.maxNewTokens} new tokens)` : '';
    this.run.append({ ...base, edit: null, invalid: `${parsed.reason}${cut}` });
  }

  /** Draws one sample per draw; `record` is called as each one ends (so a kill mid-batch keeps the finished ones). */
  private async draw(
    round: number,
    draws: readonly Draw<C>[],
    prompts: ReadonlyMap<string, ChatMessage[]>,
    record: (index: number, sample: GeneratedSample) => void,
  ): Promise<void> {
    if (this.options.fixedSelfEdits) {
      for (const [i, d] of draws.entries()) {
        const texts = this.options.fixedSelfEdits(d.context);
        const text = texts[d.candidate];
        if (text === undefined) throw new Error(`${d.context.id} has ${texts.length} fixed self-edit(s), none for candidate ${d.candidate}`);
        record(i, { text, tokens: 0, finishReason: 'stop' });
      }
      return;
    }
    const s = this.options.sampling;
    const config = this.run.state.config!;
    await this.engine.sample(
      draws.map((d) => prompts.get(d.context.id)!),
      {
        schema: this.domain.selfEditSchema(),
        maxNewTokens: s.maxNewTokens,
        temperature: s.temperature,
        topP: s.topP,
        seed: roundSeed(config.seed, round),
        streams: draws.map((d) => sampleStream(d.context.id, d.candidate, d.attempt)),
        onSample: record,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      },
    );
  }

  /** Trains and scores a context's pending candidates (their self-edits sampled already). */
  async runContext(round: number, context: C): Promise<void> {
    const pending = this.pending(round, context);
    const ready: ReadyCandidate[] = [];
    for (const candidate of pending) {
      const c = this.slot(round, context.id, candidate);
      const chosen = c ? chosenEdit(c) : null;
      if (chosen === null) {
        const tries = c?.samples.length ?? 0;
        this.scoreSkipped(
          round,
          context.id,
          candidate,
          `no valid self-edit in ${tries} sample${tries === 1 ? '' : 's'}: ${c?.samples[tries - 1]?.invalid ?? 'none drawn'}`,
        );
        continue;
      }
      // The recorded self-edit (JSON) is what the domain parsed: domains' self-edits round-trip through JSON.
      const plan = this.domain.trainingPlan(context, chosen.edit as E);
      if (plan.skip !== null) this.scoreSkipped(round, context.id, candidate, plan.skip);
      else ready.push({ candidate, plan });
    }
    for (let i = 0; i < ready.length; i += this.maxParallel) {
      this.options.signal?.throwIfAborted();
      await this.trainAndScore(round, context, ready.slice(i, i + this.maxParallel));
    }
  }

  private scoreSkipped(round: number, task: string, candidate: number, reason: string): void {
    this.run.append({ type: 'candidate-scored', round, task, candidate, reward: 0, solved: false, tests: [], skipped: reason, adapter: null });
  }

  /** Trains a group of candidates together, then scores each (and records it) as soon as it is scored. */
  private async trainAndScore(round: number, context: C, group: readonly ReadyCandidate[]): Promise<void> {
    for (const { candidate, plan } of group) {
      this.run.append({
        type: 'candidate-started',
        round,
        task: context.id,
        candidate,
        examples: plan.rows.length,
        plannedSteps: plan.plannedSteps,
        ...(plan.notes.length > 0 ? { notes: [...plan.notes] } : {}),
        ...untrainedField(plan),
      });
    }
    const t0 = this.now();
    let trained: TrainedCandidate[];
    try {
      trained = await this.engine.trainCandidates(
        group.map((g) => g.plan),
        (s) => {
          this.run.append({
            type: 'ttt-step',
            round,
            task: context.id,
            candidate: group[s.job]!.candidate,
            step: s.step,
            loss: Number.isFinite(s.loss) ? s.loss : null,
            lr: s.lr,
            tokens: s.tokens,
            epoch: s.epoch,
            gradNorm: Number.isFinite(s.gradNorm) ? s.gradNorm : null,
          });
        },
        this.options.signal,
      );
    } catch (e) {
      if (!(e instanceof SftDivergedError)) throw e;
      // A self-edit's learning rate made its training diverge: that candidate scores 0. The trainer stops the
      // whole call, so a group is retrained one candidate at a time (each restarts, recorded) to find which.
      if (group.length === 1) {
        this.scoreSkipped(round, context.id, group[0]!.candidate, `TTT diverged: ${e.message}`);
        return;
      }
      for (const one of group) await this.trainAndScore(round, context, [one]);
      return;
    }
    // The group trained in one call and is scored in one: each candidate is charged an equal share of each.
    const tttSeconds = (this.now() - t0) / 1000 / group.length;
    try {
      const t1 = this.now();
      const scores = await this.engine.withScoringModels(trained, (model) => this.domain.score(context, model), this.options.signal);
      const evalSeconds = (this.now() - t1) / 1000 / group.length;
      for (const [i, { candidate }] of group.entries()) {
        let adapter: string | null = null;
        if (this.options.keepAdapters) {
          adapter = await this.run.prepareAdapterDir(round, context.id, candidate);
          await this.store.save(adapter, await trained[i]!.download());
        }
        const score = scores[i]!;
        this.run.append({
          type: 'candidate-scored',
          round,
          task: context.id,
          candidate,
          reward: score.reward,
          solved: score.solved,
          tests: score.tests,
          adapter,
          seconds: { ttt: round3(tttSeconds), eval: round3(evalSeconds) },
        });
      }
    } finally {
      this.engine.release(trained);
    }
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Why a plan that runs cannot change the model ("<kind>: <details>", grouped by kind in the report), as the
 * 'candidate-started' field `untrained`: 0 planned steps, or a learning rate of 0 at every planned step.
 */
function untrainedField(plan: InnerTrainingPlan): { untrained?: string } {
  const steps = plan.plannedSteps;
  if (steps === 0) return { untrained: plan.notes.length > 0 ? plan.notes.join('; ') : '0 planned steps: the adapter stays untrained' };
  const h = plan.hyper;
  const schedule = { schedule: h.schedule ?? 'linear', lr: h.lr, warmupSteps: h.warmupSteps ?? 0, totalSteps: steps };
  if (!trainsNothing(schedule)) return {};
  const why = schedule.lr === 0 ? 'the learning rate is 0' : `warmup of ${schedule.warmupSteps} steps >= ${steps} planned step(s)`;
  return { untrained: `learning rate 0 at every step: ${why}` };
}

/**
 * The in-context baseline (the paper's ICL row): every context scored by the model without any adapter, all together.
 * Records one 'baseline-scored' per context (round null); resumes by skipping contexts already recorded.
 */
export async function runInContextBaseline<C extends DomainContext, E>(
  run: RunRecorder,
  domain: Domain<C, E>,
  engine: SealEngine,
  name = 'in-context',
): Promise<void> {
  await engine.setPolicy(null, 'adapter');
  const pending = domain.contexts().filter((c) => !isBaselineFinished(run.state, name, null, c.id));
  // All pending contexts at once (their generation batched); each is recorded as soon as it is scored.
  await engine.withScoringModels(
    pending.map(() => null),
    async (model, i) => {
      const context = pending[i]!;
      const score = await domain.score(context, model);
      run.append({ type: 'baseline-scored', name, round: null, task: context.id, reward: score.reward, solved: score.solved, tests: score.tests });
    },
  );
}
