/**
 * `npm run bench -- arc`: one ARC candidate end to end, as `seal arc` runs it, on a random-weight bf16 model at the
 * Llama-3.2-1B shape (nothing downloaded) with the real Llama-3.2 tokenizer and chat template and a real ARC task:
 * the self-edit's TTT dataset is built (augmentations, token filter, cap), K candidates are trained together
 * (GpuSealEngine.trainCandidates: LoRA r=128 on q, v, gate, up, down, batch 2, cosine) and scored together
 * (augmented inference: leave-one-out demos, permutations, 5 geometric transforms, greedy decoding of every query
 * under each candidate's adapter, inverse transforms, voting). The reference takes 44-65 s per candidate on one H100.
 *
 * Random weights never stop an answer early, so each answer is decoded to a fixed length: by default the length of
 * the task's true answer (what a model that solves it writes), so decoding costs what it would for a real model.
 *
 * The split (wall clock, from GpuSealEngine's onTiming):
 *   training   the trainer's passes, optimizer steps included;
 *   inference  the generation batches of scoring (prompt encoding included);
 *   overhead   everything else: TTT dataset and inference plans (augmentations, token counting), TTT tokenization,
 *              adapter initialisation, voting.
 * A warm-up candidate (1 step, 2 answer tokens) compiles every pipeline first, so shader compilation is not counted.
 */
import type { TrainingPrecision } from '../src/train/lora-linear.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { answerText, loadArcDataset, parseSelfEdit, resolveArcSettings, type SelfEdit } from '../src/domains/arc/index.ts';
import { ARC_ORACLE_SELF_EDIT, ArcSealDomain, type ArcContext, type ArcSealSettings } from '../src/domains/arc/seal-domain.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { parseModelConfig } from '../src/model/config.ts';
import { readChatTemplate } from '../src/inference/load-model.ts';
import { syntheticCheckpoint } from '../src/model/synthetic-checkpoint.ts';
import { Transformer } from '../src/inference/transformer.ts';
import { loadWeights } from '../src/model/weights.ts';
import { GpuSealEngine, type EngineTimingPhase } from '../src/seal/gpu-engine.ts';
import type { ChatMessage } from '../src/text/chat-template.ts';
import { loadModelTokenizer, modelDirFiles } from '../runtime-node/model-dir.ts';
import { HF_CONFIGS } from './shapes.ts';
import { now } from './timing.ts';

/**
 * The default task: among the SEAL 1B evaluation tasks, the one whose oracle TTT examples have the median mean length
 * (1311 tokens with the Llama-3.2 template; 250 examples, 250 steps; 11 queries of ~755 tokens; a 40-character answer).
 */
export const ARC_BENCH_TASK = 'af24b4cc';

export interface ArcBenchOptions {
  model: string;
  /** Decoder layers to build (default: the model's). */
  layers?: number;
  /** HF config overrides (a smaller model of the same architecture, for CPU adapters). */
  shape?: Record<string, number>;
  /** A directory with tokenizer.json and tokenizer_config.json (with the chat template). */
  tokenizer: string;
  /** A Kaggle-format challenges file; its solutions file beside it. */
  challenges: string;
  task: string;
  /** Candidates trained and scored together, one case each. */
  ks: number[];
  /** The self-edit every candidate trains with (default: the oracle's: all augmentations, 2 epochs). */
  selfEdit: SelfEdit;
  /** Cut every TTT run to this many steps (null: the self-edit's full plan). */
  tttMaxSteps: number | null;
  /** New tokens per answer (null: the true answer's length). */
  answerTokens: number | null;
  /** How TTT runs the base's matmuls (seal arc --precision). */
  precision: TrainingPrecision;
  /** Called with the results so far after each case (the caller saves them: a run cut short keeps its finished cases). */
  onProgress?: (results: ArcBenchResult) => void;
  log: (line: string) => void;
}

export interface ArcCaseResult {
  k: number;
  /** Wall-clock seconds of the whole case (K candidates), and its split. */
  seconds: { total: number; training: number; inference: number; overhead: number };
  /** The same per candidate (total / K): the figure the H100 goal is about (<= 5 s alone, <= 10 s for five together). */
  secondsPerCandidate: { total: number; training: number; inference: number; overhead: number };
  /** Tokens run through training (forward and backward) per second over all K candidates. */
  trainTokensPerSecond: number;
  /** Answer tokens decoded per second over all K candidates' queries. */
  answerTokensPerSecond: number;
  /** Most bytes the buffer pool held during the case (weights excluded). */
  peakGpuBytes: number;
}

export interface ArcBenchResult {
  model: string;
  layers: number;
  task: string;
  tests: number;
  selfEdit: SelfEdit;
  /** TTT examples of a candidate (and their mean length), its optimizer steps, and the tokens its steps ran. */
  examples: number;
  meanExampleTokens: number;
  steps: number;
  trainTokensPerCandidate: number;
  /** Queries a candidate decodes (all test inputs), their mean prompt tokens, and the answer tokens of each. */
  queries: number;
  meanQueryTokens: number;
  answerTokens: number;
  precision: TrainingPrecision;
  cases: ArcCaseResult[];
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** Reads the task (with its solutions) and the self-edit's plan; fails with what is wrong before the GPU is used. */
function loadTask(o: ArcBenchOptions) {
  const solutions = join(dirname(o.challenges), o.challenges.split('/').pop()!.replace('challenges', 'solutions'));
  for (const f of [o.challenges, solutions])
    if (!existsSync(f)) throw new Error(`bench arc: ${f} does not exist (pass --tasks CHALLENGES.json with its *_solutions* file beside it)`);
  const dataset = loadArcDataset({
    challenges: readFileSync(o.challenges, 'utf8'),
    solutions: readFileSync(solutions, 'utf8'),
    taskIds: [o.task],
    challengesSource: o.challenges,
    solutionsSource: solutions,
  });
  if (dataset.excluded.length > 0) throw new Error(`bench arc: task ${o.task} cannot be used: ${dataset.excluded[0]!.reason}`);
  return dataset;
}

export async function arcBench(ctx: GpuContext, o: ArcBenchOptions): Promise<ArcBenchResult> {
  const hf = HF_CONFIGS[o.model];
  if (!hf) throw new Error(`bench arc: unknown model '${o.model}' (available: ${Object.keys(HF_CONFIGS).join(', ')})`);
  const config = parseModelConfig({ ...hf, ...o.shape, num_hidden_layers: o.layers ?? hf.num_hidden_layers });
  const dataset = loadTask(o);
  const tokenizer = await loadModelTokenizer(o.tokenizer);
  if (tokenizer.vocabSize > config.vocabSize)
    throw new Error(`bench arc: the tokenizer in ${o.tokenizer} has ${tokenizer.vocabSize} tokens, more than ${o.model}'s ${config.vocabSize}`);
  const chatTemplate = await readChatTemplate(modelDirFiles(o.tokenizer), tokenizer);
  if (!chatTemplate) throw new Error(`bench arc: ${o.tokenizer} has no chat template (use the Llama-3.2-1B-Instruct tokenizer files)`);

  const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
  const weights = await loadWeights(ctx, config, source, header);
  const transformer = new Transformer(ctx, config, weights);
  const spent: Record<EngineTimingPhase, number> = { tokenize: 0, train: 0, generate: 0 };
  const engine = new GpuSealEngine(
    { ctx, config, weights, transformer, tokenizer, chatTemplate },
    { onTiming: (phase, seconds) => (spent[phase] += seconds), sft: { precision: o.precision } },
  );
  const countTokens = (m: readonly ChatMessage[]) => engine.encode(m).length;
  const answerTokens =
    o.answerTokens ?? Math.max(...dataset.tasks.map((t) => tokenizer.encode(answerText(t.testOutput!), { addSpecialTokens: false }).length + 1));
  const settings = (tttMaxSteps: number | null, answerMaxNewTokens: number): ArcSealSettings => ({
    arc: resolveArcSettings(),
    tttMaxSteps,
    answerMaxNewTokens,
    prompts: { selfEdit: {}, solve: {} },
  });
  // A fresh domain per run: its TTT dataset and inference plans are built (and timed) again.
  const domainFor = (s: ArcSealSettings) => new ArcSealDomain(dataset, s, { contextLength: config.maxPositionEmbeddings, countTokens });

  /** Trains and scores k candidates of the task together; returns the wall-clock split. */
  const runCase = async (k: number, s: ArcSealSettings, progress: boolean) => {
    for (const key of Object.keys(spent) as EngineTimingPhase[]) spent[key] = 0;
    const t0 = now();
    const domain = domainFor(s);
    const context: ArcContext = domain.contexts()[0]!;
    const plans = Array.from({ length: k }, () => domain.trainingPlan(context, o.selfEdit));
    if (plans[0]!.skip !== null) throw new Error(`bench arc: the self-edit trains nothing on task ${o.task}: ${plans[0]!.skip}`);
    domain.inferencePlans(context);
    let lastShown = 0;
    let inputTokens = 0;
    const trained = await engine.trainCandidates(plans, (step) => {
      inputTokens += step.inputTokens;
      if (!progress || step.job !== 0) return;
      if (step.step === step.totalSteps || step.step === 1 || now() - lastShown > 10_000) {
        lastShown = now();
        o.log(
          `  K=${k}: step ${step.step}/${step.totalSteps} (${step.inputTokens} tokens), loss ${step.loss.toFixed(3)}, ${((now() - t0) / 1e3).toFixed(1)} s`,
        );
      }
    });
    try {
      await engine.withScoringModels(trained, (model) => domain.score(context, model));
    } finally {
      engine.release(trained);
    }
    const total = (now() - t0) / 1e3;
    return { total, training: spent.train, inference: spent.generate, overhead: total - spent.train - spent.generate, inputTokens };
  };

  o.log(`${o.model}: ${config.numLayers} layers (random bf16 weights); task ${o.task}; self-edit ${JSON.stringify(o.selfEdit)}; TTT precision ${o.precision}`);
  o.log('  warm-up (compiles every pipeline: 1 TTT step, 2 answer tokens) ...');
  const warm = await runCase(1, settings(1, 2), false);
  o.log(`  warm-up took ${warm.total.toFixed(1)} s`);

  const s = settings(o.tttMaxSteps, answerTokens);
  const probe = domainFor(s);
  const context = probe.contexts()[0]!;
  const plan = probe.trainingPlan(context, o.selfEdit);
  const queries = probe.inferencePlans(context).flatMap((p) => p.queries);
  const rowTokens = plan.rows.map((r) => (r.kind === 'messages' ? countTokens(r.messages) : 0));
  const result: ArcBenchResult = {
    model: o.model,
    layers: config.numLayers,
    task: o.task,
    tests: context.tests.length,
    selfEdit: o.selfEdit,
    examples: plan.rows.length,
    meanExampleTokens: Math.round(rowTokens.reduce((a, b) => a + b, 0) / Math.max(1, rowTokens.length)),
    steps: plan.plannedSteps,
    trainTokensPerCandidate: 0,
    queries: queries.length,
    meanQueryTokens: Math.round(queries.reduce((n, q) => n + countTokens(q.messages), 0) / Math.max(1, queries.length)),
    answerTokens,
    precision: o.precision,
    cases: [],
  };
  o.log(
    `  per candidate: ${result.examples} TTT examples of ~${result.meanExampleTokens} tokens, ${result.steps} steps; ${result.queries} queries of ~${result.meanQueryTokens} tokens, ${answerTokens} answer tokens each`,
  );
  try {
    for (const k of o.ks) {
      ctx.pool.trim();
      const base = ctx.pool.allocatedBytes;
      ctx.pool.peakBytes = base;
      const r = await runCase(k, s, true);
      const per = (x: number) => round(x / k);
      result.trainTokensPerCandidate = Math.round(r.inputTokens / k);
      const c: ArcCaseResult = {
        k,
        seconds: { total: round(r.total), training: round(r.training), inference: round(r.inference), overhead: round(r.overhead) },
        secondsPerCandidate: { total: per(r.total), training: per(r.training), inference: per(r.inference), overhead: per(r.overhead) },
        trainTokensPerSecond: Math.round(r.inputTokens / r.training),
        answerTokensPerSecond: Math.round((k * result.queries * answerTokens) / r.inference),
        peakGpuBytes: ctx.pool.peakBytes - base,
      };
      result.cases.push(c);
      o.onProgress?.(result);
      o.log(
        `  K=${k}: ${c.seconds.total.toFixed(1)} s = training ${c.seconds.training.toFixed(1)} + inference ${c.seconds.inference.toFixed(1)} + overhead ${c.seconds.overhead.toFixed(1)}; ` +
          `${c.secondsPerCandidate.total.toFixed(2)} s per candidate; ${c.trainTokensPerSecond} train tok/s, ${c.answerTokensPerSecond} answer tok/s; peak ${(c.peakGpuBytes / 2 ** 30).toFixed(2)} GiB`,
      );
    }
  } finally {
    engine.dispose();
    transformer.dispose();
    weights.dispose();
    ctx.pool.trim();
  }
  return result;
}

/** `--self-edit JSON` → a validated self-edit (clamped values are an error here: the bench runs what it is given). */
export function benchSelfEdit(text: string | undefined): SelfEdit {
  if (text === undefined) return ARC_ORACLE_SELF_EDIT;
  const parsed = parseSelfEdit(text);
  if (!parsed.ok) throw new Error(`--self-edit: ${parsed.reason}`);
  if (parsed.adjustments.length > 0) throw new Error(`--self-edit: ${parsed.adjustments.map((a) => `${a.field}: ${a.reason}`).join('; ')}`);
  return parsed.edit;
}
