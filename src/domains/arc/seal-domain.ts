/**
 * The ARC domain as a SEAL Domain (src/seal/domain.ts), over the ARC core of this folder:
 *   contexts     one per task id (all its test inputs: a task is solved only when every one is, pass@2 each);
 *   self-edit    selfEditPrompt(train examples) and selfEditSchema(limits) for constrained decoding, parsed and
 *                clamped by parseSelfEdit;
 *   inner loop   buildTttDataset(train, augmentationsFor(edit)) -> tttTrainingRows, planTttRun (the step budget:
 *                a skip or zero epochs), optionally capped at tttMaxSteps for small runs;
 *   scoring      per test input buildInferencePlan (leave-one-out demos, example permutations, 5 geometric
 *                transforms), every query of every test input decoded greedily in one batch with the adapter
 *                applied, collectPredictions -> vote -> 2 attempts -> passAt2; reward 1 when the task is solved.
 *
 * Token limits follow the model: the TTT examples' and the queries' limits (8192 in the reference) are lowered to
 * the model's context. Answers stop at the answer's end marker "#" (readGridAnswer reads only what comes before it,
 * so the prediction is the same as decoding to EOS; it saves the rambling after the grid), and at most
 * answerMaxNewTokens new tokens (default: what the token limit leaves after the longest query, the reference's rule,
 * capped at ARC_ANSWER_MAX_BYTES, the longest readable grid).
 *
 * Baselines (docs/reference/seal-arc.md §1.12): in-context = score() with no adapter; TTT with self-edits of the base
 * model = an eval round sampled by the base model; oracle = every task trained with ARC_ORACLE_SELF_EDIT: all four
 * augmentation groups, loss on the output tokens, learning rate 1e-4, 2 epochs (the fixed configuration of the
 * reference's ttt.py, with ARC_DEFAULTS.ttt: LoRA r=128/alpha=16, batch 2, cosine with 11 warmup steps).
 */
import type { Domain, DomainContext, DomainScore, InnerTrainingPlan, ScoringModel } from '../../seal/domain.ts';
import type { TestOutcome } from '../../seal/events.ts';
import type { RestEmSettings } from '../../seal/rest-em.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import { augmentationsFor } from './augmentations.ts';
import { ARC_MAX_SIDE, type ArcExample, type Grid } from './grid.ts';
import { buildInferencePlan, collectPredictions, type InferencePlan } from './inference-plan.ts';
import { ANSWER_END, selfEditPrompt, type SelfEditPromptOptions, type SolvePromptOptions } from './prompts.ts';
import { passAt2, scoreTasks } from './scoring.ts';
import { AUGMENTATION_KEYS, parseSelfEdit, selfEditJson, selfEditSchema, type SelfEdit } from './self-edit.ts';
import type { ArcSettings } from './settings.ts';
import type { ArcDataset, ArcTestTask } from './tasks.ts';
import { buildTttDataset, tttTrainingRows, type ChatTokenCounter, type TttDataset } from './ttt-dataset.ts';
import { planTttRun } from './ttt-plan.ts';
import { scheduleWarnings } from '../../train/schedule-warnings.ts';
import { tallyVotes, vote } from './voting.ts';

export interface ArcSealSettings {
  /** The ARC settings (resolveArcSettings: defaults with overrides). */
  arc: ArcSettings;
  /** Most optimizer steps of one TTT run (null: as planned). For small runs; the cut is recorded in the plan's notes. */
  tttMaxSteps: number | null;
  /** Most new tokens of one answer when scoring (null: what the context leaves, as the reference). */
  answerMaxNewTokens: number | null;
  /** Prompt wording overrides (e.g. a short self-edit instruction for a model with a small context). */
  prompts: { selfEdit: SelfEditPromptOptions; solve: SolvePromptOptions };
}

export interface ArcContext extends DomainContext {
  readonly train: readonly ArcExample[];
  /** One per test input, in order. */
  readonly tests: readonly ArcTestTask[];
}

/**
 * Bytes of the longest answer readGridAnswer can read as a grid without extra whitespace: a 30x30 grid in its widest
 * accepted format (a Python list, "[[1, 2, ...], ...]") and the end marker. Every token covers at least one byte, so
 * no answer needs more tokens than this.
 */
export const ARC_ANSWER_MAX_BYTES =
  JSON.stringify(Array.from({ length: ARC_MAX_SIDE }, () => new Array<number>(ARC_MAX_SIDE).fill(9))).replaceAll(',', ', ').length + ANSWER_END.length;

/** The fixed self-edit of the oracle baseline (the reference's ttt.py configuration). */
export const ARC_ORACLE_SELF_EDIT: SelfEdit = Object.freeze({
  augmentations: Object.freeze({ basic: true, size: true, chain: true, repeat: true }),
  strategy: 'train_using_output_tokens',
  learningRate: 1e-4,
  epochs: 2,
});

/**
 * The ReST-EM M-step of the reference's BC-self-edit.py: every solved pair, LoRA r=16 / alpha=16 on q, v, gate, up,
 * down, 8 epochs, batch 5, lr 5e-5, cosine without warmup (the reference then merges: PolicyMode 'merge').
 */
export const ARC_REST_EM_DEFAULTS: RestEmSettings = Object.freeze({
  winners: Object.freeze({ kind: 'reward-above', threshold: 0 }),
  lora: Object.freeze({ rank: 16, alpha: 16, dropout: 0, targets: Object.freeze(['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj']) }),
  hyper: Object.freeze({ lr: 5e-5, epochs: 8, batchSize: 5, gradAccum: 1, schedule: 'cosine', warmupSteps: 0, weightDecay: 0, gradClip: 1, seed: 42 }),
  initSeed: 0,
  continuePolicy: true,
}) as RestEmSettings;

/** One context per task id of the dataset, in its order. */
export function arcContexts(dataset: ArcDataset): ArcContext[] {
  return dataset.taskIds.map((id) => {
    const tests = dataset.tasks.filter((t) => t.taskId === id);
    return { id, train: tests[0]!.train, tests };
  });
}

export interface ArcModelInfo {
  /** The model's context length in tokens. */
  contextLength: number;
  /** Tokens of a conversation as the model sees it. */
  countTokens: ChatTokenCounter;
}

export class ArcSealDomain implements Domain<ArcContext, SelfEdit> {
  readonly name = 'arc';
  private readonly list: ArcContext[];
  private readonly datasets = new Map<string, TttDataset>();
  private readonly plans = new Map<string, InferencePlan[]>();

  constructor(
    dataset: ArcDataset,
    readonly settings: ArcSealSettings,
    private readonly model: ArcModelInfo,
  ) {
    if (!dataset.hasSolutions) throw new RangeError(`ARC SEAL: ${dataset.source} has test inputs without solutions; scoring needs the solutions file`);
    if (settings.tttMaxSteps !== null && !(Number.isSafeInteger(settings.tttMaxSteps) && settings.tttMaxSteps >= 1)) {
      throw new RangeError(`ARC SEAL: tttMaxSteps must be an integer >= 1 or null, got ${settings.tttMaxSteps}`);
    }
    if (settings.answerMaxNewTokens !== null && !(Number.isSafeInteger(settings.answerMaxNewTokens) && settings.answerMaxNewTokens >= 1)) {
      throw new RangeError(`ARC SEAL: answerMaxNewTokens must be an integer >= 1 or null, got ${settings.answerMaxNewTokens}`);
    }
    this.list = arcContexts(dataset);
  }

  contexts(): readonly ArcContext[] {
    return this.list;
  }

  selfEditPrompt(context: ArcContext) {
    return selfEditPrompt(context.train, this.settings.prompts.selfEdit);
  }

  selfEditSchema(): unknown {
    return selfEditSchema(this.settings.arc.selfEdit.limits);
  }

  parseSelfEdit(text: string) {
    return parseSelfEdit(text, this.settings.arc.selfEdit.limits);
  }

  oracleSelfEdit(): string {
    return selfEditJson(ARC_ORACLE_SELF_EDIT);
  }

  /** The TTT examples of a context under an augmentation choice (cached: they depend on nothing else). */
  tttDataset(context: ArcContext, edit: SelfEdit): TttDataset {
    const key = `${context.id}\u0000${Object.keys(AUGMENTATION_KEYS)
      .map((g) => (edit.augmentations[g as keyof typeof AUGMENTATION_KEYS] ? 1 : 0))
      .join('')}`;
    let d = this.datasets.get(key);
    if (!d) {
      const data = this.settings.arc.data;
      d = buildTttDataset(context.train, augmentationsFor(edit.augmentations), {
        ...data,
        maxTokens: Math.min(data.maxTokens, this.model.contextLength),
        countTokens: this.model.countTokens,
        prompt: this.settings.prompts.solve,
      });
      this.datasets.set(key, d);
    }
    return d;
  }

  trainingPlan(context: ArcContext, edit: SelfEdit): InnerTrainingPlan {
    const dataset = this.tttDataset(context, edit);
    const plan = planTttRun(edit, dataset.examples.length, this.settings.arc.ttt);
    const notes = [...plan.reasons];
    if (dataset.capped) notes.push(`${dataset.beforeCap} examples capped to ${dataset.examples.length}`);
    const common = { lossMode: plan.lossMode, lora: plan.lora, loraInitSeed: plan.loraInitSeed };
    if (plan.skip) return { ...common, skip: plan.reasons.join('; '), rows: [], hyper: plan.hyper, plannedSteps: 0, notes };
    const cap = this.settings.tttMaxSteps;
    const capped = plan.train && cap !== null && plan.steps > cap;
    if (capped) notes.push(`${plan.steps} planned steps cut to ${cap} (tttMaxSteps)`);
    const plannedSteps = capped ? cap : plan.steps;
    // The self-edit's own schedule: a learning rate that never arrives (warmup >= its steps) is a fact of this candidate.
    if (plannedSteps > 0) {
      const h = plan.hyper;
      notes.push(...scheduleWarnings({ schedule: h.schedule, lr: h.lr, warmupSteps: h.warmupSteps, totalSteps: plannedSteps }));
    }
    return {
      ...common,
      skip: null,
      rows: tttTrainingRows(dataset),
      hyper: capped ? { ...plan.hyper, maxSteps: cap } : plan.hyper,
      plannedSteps,
      notes,
    };
  }

  /** The inference plans of a context's test inputs (cached: they do not depend on the adapter). */
  inferencePlans(context: ArcContext): InferencePlan[] {
    let plans = this.plans.get(context.id);
    if (!plans) {
      const inference = this.settings.arc.inference;
      plans = context.tests.map((t) =>
        buildInferencePlan(t, {
          ...inference,
          maxTokens: Math.min(inference.maxTokens, this.model.contextLength),
          countTokens: this.model.countTokens,
          prompt: this.settings.prompts.solve,
        }),
      );
      this.plans.set(context.id, plans);
    }
    return plans;
  }

  /**
   * New tokens per answer: answerMaxNewTokens, else what the token limit leaves after the longest prompt (the
   * reference's rule), at most ARC_ANSWER_MAX_BYTES (a longer answer cannot be read as a grid, so the predictions are
   * the same; it keeps each sequence's KV cache ~3k tokens long instead of 8k).
   */
  private answerBudget(prompts: readonly (readonly ChatMessage[])[], model: ScoringModel): number {
    if (this.settings.answerMaxNewTokens !== null) return this.settings.answerMaxNewTokens;
    const limit = Math.min(this.settings.arc.inference.maxTokens, model.contextLength);
    const longest = Math.max(...prompts.map((p) => model.countTokens(p)));
    return Math.max(1, Math.min(limit - longest, ARC_ANSWER_MAX_BYTES));
  }

  async score(context: ArcContext, model: ScoringModel): Promise<DomainScore> {
    const plans = this.inferencePlans(context);
    const prompts = plans.flatMap((p) => p.queries.map((q) => q.messages));
    const texts =
      prompts.length === 0
        ? []
        : (
            await model.generate(prompts, {
              maxNewTokens: this.answerBudget(prompts, model),
              temperature: 0,
              stopStrings: [ANSWER_END],
            })
          ).map((g) => g.text);

    const attempts = new Map<string, readonly Grid[]>();
    const tests: TestOutcome[] = [];
    let offset = 0;
    context.tests.forEach((test, i) => {
      const plan = plans[i]!;
      if (!plan.valid) {
        tests.push({ id: test.name, correct: false, prediction: { attempts: null, reason: plan.reason } });
        return;
      }
      const outputs = texts.slice(offset, offset + plan.queries.length);
      offset += plan.queries.length;
      const { predictions, failures } = collectPredictions(plan, outputs);
      const v = vote(predictions);
      attempts.set(test.name, v.attempts);
      const correct = passAt2(v.attempts, test.testOutput!);
      tests.push({
        id: test.name,
        correct,
        prediction: {
          attempts: v.attempts,
          queries: plan.queries.length,
          readable: predictions.length,
          unreadable: failures.length,
          votes: tallyVotes(predictions),
          ...(v.fallback ? { reason: v.reason } : {}),
        },
      });
    });
    const solved = scoreTasks(context.tests, attempts).solved === 1;
    return { reward: solved ? 1 : 0, solved, tests };
  }
}
