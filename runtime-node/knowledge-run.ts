/**
 * `seal knowledge train | eval | baseline`: SEAL's knowledge incorporation on SQuAD passages in a run directory
 * (runtime-node/run-dir.ts: lock, append-only events.jsonl, resume after a kill, report.html), as `seal arc` runs:
 *
 *   train     N rounds of ReST-EM: K self-edits per passage from the policy, each trained (the inner loop) and
 *             scored by the judges; then the policy fine-tuned on the best self-edit of each passage and merged;
 *   eval      one round without the M-step: K self-edits per passage from --policy (or the base model);
 *   baseline  --kind base (the model alone), passage (trained on the passage only), synthetic (on the passage plus
 *             the completions of --synthetic-file), self-edits (the base model's own self-edits, no RL).
 *
 * Every run first scores the un-adapted model once per passage (the 'base' baseline): the gains are measured
 * against it. The judges' replies are cached in the run directory (judge-verdicts.json), so a resumed run does not
 * pay for a grader twice. summary.json holds, per passage, baseline_accuracy and adapted_accuracy, and their means.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KNOWLEDGE_BASELINES, PassageOnlyDomain, SyntheticCompletions } from '../src/domains/knowledge/baselines.ts';
import {
  DEFAULT_SELF_EDIT_PROMPT,
  KNOWLEDGE_DEFAULTS,
  SELF_EDIT_PROMPT_KINDS,
  selectPassages,
  selfEditPromptText,
  selfEditTokenBudget,
  type KnowledgeSettings,
  type SquadDataset,
} from '../src/domains/knowledge/index.ts';
import { type JudgeSpec, JudgeSpecError, parseJudgeList } from '../src/domains/knowledge/judges/index.ts';
import { KNOWLEDGE_REST_EM_DEFAULTS, knowledgeWinnerRule } from '../src/domains/knowledge/rest-em.ts';
import { type ComparedRun, knowledgeReportSections, knowledgeSummary, UNADAPTED_BASELINE } from '../src/domains/knowledge/run-report.ts';
import { KnowledgeSealDomain, type KnowledgeSealSettings } from '../src/domains/knowledge/seal-domain.ts';
import type { LoraHostWeights } from '../src/lora/host-weights.ts';
import { readModelConfig } from '../src/inference/load-model.ts';
import { POLICY_MODES, type PolicyMode } from '../src/seal/engine.ts';
import { parseEventLog, type PolicyRef } from '../src/seal/events.ts';
import { GpuSealEngine } from '../src/seal/gpu-engine.ts';
import { runInContextBaseline, runSealLoop } from '../src/seal/loop.ts';
import { promptTemplate } from '../src/seal/plain-chat-template.ts';
import { checkRestEmSettings, type RestEmSettings } from '../src/seal/rest-em.ts';
import type { RunConfig } from '../src/seal/run-config.ts';
import { foldEvents, whereRunStands, type RunState } from '../src/seal/run-state.ts';
import { TRAINING_PRECISIONS } from '../src/train/lora-linear.ts';
import { loadAdapterDir } from './adapter-files.ts';
import { adapterFingerprint, adapterStore } from './arc-run.ts';
import { createNodeContext } from './device.ts';
import { writeFileAtomic } from './durable-write.ts';
import { EXIT } from './exit-codes.ts';
import { numberFlag, oneOf, optionalNumberFlag, parseFlags, requireString, UsageError } from './flags.ts';
import { isHubId } from './hub.ts';
import { sealCommandLine, watchInterrupts } from './interrupt.ts';
import { loadKnowledgeData } from './knowledge-data.ts';
import { openJudges } from './knowledge-judges.ts';
import { checkModelFiles, checkModelWeights, loadModelDir, loadModelTokenizer, modelDirFiles, resolveModelWithProgress } from './model-dir.ts';
import { fingerprintModelDir, nodeSha256, RUN_FILES, RunDir } from './run-dir.ts';
import { FileVerdictCache, VERDICT_CACHE_FILE } from './verdict-cache.ts';

/** The run's per-passage accuracies and their means (knowledgeSummary), beside report.html. */
export const KNOWLEDGE_SUMMARY_FILE = 'summary.json';

export const KNOWLEDGE_RUN_USAGE = `  seal knowledge train|eval|baseline --model DIR --passages IDS --run RUN_DIR [--data FILE] [--self-edits K]
           [--rounds N] [--judge J[,J2]] [--seed S] [--prompt KIND] [--kind base|passage|synthetic|self-edits]
           [--synthetic-file F] [--policy ADAPTER_DIR] [--compare RUN_DIR,...] [more: seal knowledge train --help]
      SEAL on SQuAD passages, resumable in RUN_DIR (events.jsonl, report.html, summary.json, policy/round-R).`;

export const KNOWLEDGE_RUN_HELP = `Usage: seal knowledge train|eval|baseline --model DIR|ORG/NAME --passages IDS --run RUN_DIR [flags]
  train: N rounds of ReST-EM (K self-edits per passage, each trained and its questions answered and graded; then the
  policy fine-tuned on each passage's best self-edit and merged); eval: one scored round with the self-edits of
  --policy (or the base model); baseline --kind base (the model alone), passage (trained on the passage only),
  synthetic (the passage plus --synthetic-file's completions), self-edits (the base model's own, no RL). Every run
  scores the un-adapted model once per passage first; gains are measured against it.
  --data FILE            SQuAD data: a JSON list of {"title", "context", "questions": [{"question", "answer"}]}
                         (default: the 20 passages in the package's examples/data/squad)
  --passages IDS         (required) passage ids: 0,3,7 or 0-49, or eval (the paper's 200) / train (the others)
  --self-edits K         self-edits per passage (train 5; eval and baselines 1, as the paper evaluated)
  --rounds N             train only: rounds of ReST-EM (1)
  --judge J[,J2]         squad (default), squad:em, squad:f1=T, model:DIR|ORG/NAME, openai:MODEL; the first decides,
                         the others are recorded beside it (the report shows how often they agree)
  --seed S               sampling seed of the run (0)
  --prompt KIND          the self-edit prompt: ${SELF_EDIT_PROMPT_KINDS.join(', ')} (${DEFAULT_SELF_EDIT_PROMPT})
  --compat               training sequences by the reference's rules exactly (its self-QA defect included)
  --kind KIND            baseline only: ${KNOWLEDGE_BASELINES.join(' | ')}
  --synthetic-file F     --kind synthetic: passages with "completions" in the reference's format (e.g.
                         the reference's gpt4_1_synthetic_val.json), matched to --data's by title and context
  --policy DIR           eval: the policy adapter that writes the self-edits (default: the base model)
  --policy-mode MODE     merge (default, the reference: the policy is merged, and the merged model samples, trains,
                         is scored) | adapter (the policy only samples)
  --keep-only-gains      train: a passage's best self-edit is kept only if it beats the un-adapted model (the
                         reference keeps it even when it does not)
  --compare RUN_DIR,...  other knowledge runs whose results fill the paper's table in report.html beside this one
  Self-edits:  --max-new-tokens N (8192, lowered to what the model's context leaves after the longest prompt)
               --temperature T (1.0) --top-p P (0.95) --attempts A (3: samples per self-edit before it scores 0)
  Inner loop:  --ttt-epochs E (10) --ttt-lr LR (1e-3) --ttt-rank R (32) --ttt-alpha A (64)
               --answer-max-tokens N (64) --parallel P (candidates trained together; default K)
               --keep-adapters (save every candidate's adapter)
  Policy (train): --policy-rank R (64) --policy-alpha A (128) --policy-epochs E (2) --policy-lr LR (3e-4)
               --policy-grad-accum N (10: the effective batch)
  Run:         --precision f32|mixed --force-config --gpu-adapter NAME --backend B --disable-features f1,f2
  Ctrl-C (or SIGTERM) stops a run cleanly (exit 130); the same command resumes it; finished candidates are never
  redone.`;

/** A run that cannot work as asked (exit 1, one line): e.g. prompts that fill the model's context. */
export class KnowledgeRunError extends Error {}

const COMMANDS = ['train', 'eval', 'baseline'] as const;

function sha256Of(bytes: Uint8Array): string {
  const h = nodeSha256();
  h.update(bytes);
  return `sha256:${h.digestHex()}`;
}

/** The runs of --compare, folded from their event logs. */
function readComparedRuns(value: string | undefined): ComparedRun[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean)
    .map((dir) => {
      const log = join(dir, RUN_FILES.events);
      if (!existsSync(log)) throw new UsageError(`--compare: ${dir} is not a run directory (no ${RUN_FILES.events})`);
      const state = foldEvents(parseEventLog(new Uint8Array(readFileSync(log))).events);
      if (state.config?.domain !== 'knowledge') throw new UsageError(`--compare: ${dir} is not a knowledge run`);
      return { label: dir, state };
    });
}

async function writeSummary(dir: string, state: RunState): Promise<void> {
  await writeFileAtomic(join(dir, KNOWLEDGE_SUMMARY_FILE), `${JSON.stringify(knowledgeSummary(state), null, 2)}\n`);
}

/** `seal knowledge train|eval|baseline ARGS`; returns the exit code. */
export async function runKnowledgeRun(commandArg: string, argv: string[]): Promise<number> {
  const command = oneOf(commandArg, 'knowledge subcommand', COMMANDS)!;
  const v = parseFlags(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    passages: { type: 'string' },
    run: { type: 'string' },
    'self-edits': { type: 'string' },
    rounds: { type: 'string' },
    judge: { type: 'string' },
    seed: { type: 'string' },
    prompt: { type: 'string' },
    compat: { type: 'boolean', default: false },
    kind: { type: 'string' },
    'synthetic-file': { type: 'string' },
    policy: { type: 'string' },
    'policy-mode': { type: 'string' },
    'keep-only-gains': { type: 'boolean', default: false },
    compare: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    attempts: { type: 'string' },
    'ttt-epochs': { type: 'string' },
    'ttt-lr': { type: 'string' },
    'ttt-rank': { type: 'string' },
    'ttt-alpha': { type: 'string' },
    'answer-max-tokens': { type: 'string' },
    parallel: { type: 'string' },
    'keep-adapters': { type: 'boolean', default: false },
    'policy-rank': { type: 'string' },
    'policy-alpha': { type: 'string' },
    'policy-epochs': { type: 'string' },
    'policy-lr': { type: 'string' },
    'policy-grad-accum': { type: 'string' },
    'force-config': { type: 'boolean', default: false },
    precision: { type: 'string' },
    'gpu-adapter': { type: 'string' },
    backend: { type: 'string' },
    'disable-features': { type: 'string' },
  });
  const modelArg = requireString(v.model, '--model');
  const passagesArg = requireString(v.passages, '--passages');
  const runArg = requireString(v.run, '--run');
  const kind = oneOf(v.kind, '--kind', KNOWLEDGE_BASELINES);
  if (command === 'baseline' && !kind) throw new UsageError(`seal knowledge baseline needs --kind ${KNOWLEDGE_BASELINES.join('|')}`);
  if (command !== 'baseline' && kind) throw new UsageError('--kind is for seal knowledge baseline');
  if ((v['synthetic-file'] !== undefined) !== (kind === 'synthetic')) throw new UsageError('--synthetic-file goes with --kind synthetic, and only with it');
  if (v.policy !== undefined && command !== 'eval')
    throw new UsageError('--policy is for seal knowledge eval (train samples with its own policy; baselines with the base model)');
  if (v['keep-only-gains'] && command !== 'train') throw new UsageError('--keep-only-gains is for seal knowledge train (it chooses what the policy trains on)');
  const rounds = numberFlag(v.rounds, '--rounds', 1, { min: 1, max: 1000, integer: true });
  if (command !== 'train' && rounds !== 1) throw new UsageError('--rounds is for seal knowledge train (eval and baselines are one round)');
  const seed = numberFlag(v.seed, '--seed', 0, { min: 0, max: 0xffffffff, integer: true });
  const prompt = oneOf(v.prompt, '--prompt', SELF_EDIT_PROMPT_KINDS) ?? DEFAULT_SELF_EDIT_PROMPT;
  const policyMode: PolicyMode = oneOf(v['policy-mode'], '--policy-mode', POLICY_MODES) ?? 'merge';
  const precision = oneOf(v.precision, '--precision', TRAINING_PRECISIONS) ?? 'f32';
  let judgeSpecs: JudgeSpec[];
  try {
    judgeSpecs = parseJudgeList(v.judge ?? 'squad');
  } catch (e) {
    if (e instanceof JudgeSpecError) throw new UsageError(`--judge: ${e.message}`);
    throw e;
  }
  // One candidate per passage for the fixed-text baselines and the paper's evaluation; 5 per training passage.
  const fixedOne = kind === 'passage' || kind === 'base';
  const K = numberFlag(v['self-edits'], '--self-edits', command === 'train' ? KNOWLEDGE_DEFAULTS.selfEdit.perPassage : 1, {
    min: 1,
    max: 1000,
    integer: true,
  });
  if (fixedOne && K !== 1) throw new UsageError(`--kind ${kind} has one candidate per passage (--self-edits 1)`);
  const parallel = numberFlag(v.parallel, '--parallel', K, { min: 1, integer: true });
  const d = KNOWLEDGE_DEFAULTS;
  const requestedTokens = numberFlag(v['max-new-tokens'], '--max-new-tokens', d.selfEdit.maxNewTokens, { min: 1, integer: true });
  // maxNewTokens: fitted to the model's context once its tokenizer is read (below).
  const chosen: Omit<KnowledgeSettings, 'selfEdit'> & { selfEdit: Omit<KnowledgeSettings['selfEdit'], 'maxNewTokens'> } = {
    selfEdit: {
      ...d.selfEdit,
      perPassage: K,
      temperature: numberFlag(v.temperature, '--temperature', d.selfEdit.temperature, { min: 0, max: 100 }),
      topP: numberFlag(v['top-p'], '--top-p', d.selfEdit.topP, { min: 0, minOpen: true, max: 1 }),
    },
    answer: { maxNewTokens: numberFlag(v['answer-max-tokens'], '--answer-max-tokens', d.answer.maxNewTokens, { min: 1, max: 4096, integer: true }) },
    inner: {
      ...d.inner,
      lora: {
        ...d.inner.lora,
        targets: [...d.inner.lora.targets],
        rank: numberFlag(v['ttt-rank'], '--ttt-rank', d.inner.lora.rank, { min: 1, max: 65536, integer: true }),
        alpha: numberFlag(v['ttt-alpha'], '--ttt-alpha', d.inner.lora.alpha, { min: 0, minOpen: true }),
      },
      hyper: {
        ...d.inner.hyper,
        epochs: numberFlag(v['ttt-epochs'], '--ttt-epochs', d.inner.hyper.epochs ?? 10, { min: 1, max: 1000, integer: true }),
        lr: numberFlag(v['ttt-lr'], '--ttt-lr', d.inner.hyper.lr, { min: 0, minOpen: true, max: 10 }),
      },
    },
  };
  const attempts = numberFlag(v.attempts, '--attempts', 3, { min: 1, max: 1000, integer: true });
  const restEm = command === 'train' ? restEmFromFlags(v, v['keep-only-gains']) : null;

  // Every file a flag names is read before the model is fetched or the run directory touched.
  const policyDir = v.policy !== undefined ? resolve(v.policy) : null;
  const policyFingerprint = policyDir ? adapterFingerprint(policyDir) : null;
  const compared = readComparedRuns(v.compare);
  const dataset: SquadDataset = loadKnowledgeData(v.data);
  const ids = selectPassages(passagesArg, dataset);
  let synthetic: { completions: SyntheticCompletions; fingerprint: string } | null = null;
  if (v['synthetic-file'] !== undefined) {
    const file = resolve(v['synthetic-file']);
    const completions = new SyntheticCompletions(loadKnowledgeData(file, '--synthetic-file'));
    for (const id of ids) completions.of(dataset.passages[id]!, K); // every passage has its K completions
    synthetic = { completions, fingerprint: sha256Of(new Uint8Array(readFileSync(file))) };
  }

  const modelDir = await resolveModelWithProgress(modelArg);
  checkModelFiles(modelDir);
  const files = modelDirFiles(modelDir);
  const modelConfig = await readModelConfig(files);
  await checkModelWeights(modelDir, modelConfig);
  const tokenizer = await loadModelTokenizer(modelDir);
  // Plain prompts (the reference's, no chat template): counted as the engine will tokenize them.
  const template = promptTemplate('plain', null, tokenizer.config).template;
  const countTokens = (text: string) => tokenizer.encode(template.render([{ role: 'user', content: text }]), { addSpecialTokens: true }).length;
  const contextLength = modelConfig.maxPositionEmbeddings;
  const longestPrompt = Math.max(...ids.map((id) => countTokens(selfEditPromptText(prompt, dataset.passages[id]!))));
  let maxNewTokens = requestedTokens;
  if (command !== 'baseline' || kind === 'self-edits') {
    const budget = selfEditTokenBudget(longestPrompt, contextLength, requestedTokens);
    if (budget.maxNewTokens === 0)
      throw new KnowledgeRunError(
        `the longest self-edit prompt (${longestPrompt} tokens) fills ${modelDir}'s context of ${contextLength} tokens: choose shorter passages or a model with a longer context`,
      );
    if (budget.reducedFrom !== null)
      console.error(
        `seal: note: self-edits are limited to ${budget.maxNewTokens} new tokens (not ${budget.reducedFrom}): the model's context is ${contextLength} tokens and the longest prompt ${longestPrompt}`,
      );
    maxNewTokens = budget.maxNewTokens;
  }
  const knowledge: KnowledgeSettings = { ...chosen, selfEdit: { ...chosen.selfEdit, maxNewTokens } };
  const identity = await fingerprintModelDir(modelDir, { spec: modelArg });
  const policyWeights = policyDir ? await loadAdapterDir(policyDir, modelConfig) : null;

  const config: RunConfig = {
    domain: 'knowledge',
    command: kind ? `baseline-${kind}` : command,
    model: { fingerprint: identity.fingerprint, method: identity.method, source: identity.source },
    tasks: { ids: ids.map(String), source: dataset.source },
    selfEditsPerTask: K,
    rounds,
    seed,
    settings: {
      knowledge,
      prompt,
      compat: v.compat,
      judges: judgeSpecs.map((s) => s.name),
      attemptsPerEdit: attempts,
      policyMode,
      policy: policyFingerprint,
      restEm,
      synthetic: synthetic?.fingerprint ?? null,
      ...(precision !== 'f32' ? { precision } : {}),
    },
  };
  const domainSections = (state: RunState) => knowledgeReportSections(state, compared);
  const run = await RunDir.open(runArg, {
    config,
    forceConfig: v['force-config'],
    progress: process.stderr,
    onWarning: (m) => console.error(`seal: warning: ${m}`),
    report: { domainSections },
  });
  const interrupts = watchInterrupts(async (signal) => {
    run.append({ type: 'interrupted', signal });
    run.close();
    await run.writeReport();
    await writeSummary(run.dir, run.state);
    console.error(`seal: interrupted by ${signal}: ${whereRunStands(run.state)}; recorded in ${run.dir}`);
    console.error(`seal: to resume, run the same command: ${sealCommandLine()}`);
  });
  try {
    if (run.resumed) console.error(`seal: resuming ${run.dir}: ${run.resumeSummary()}`);
    const ctx = await createNodeContext({ adapter: v['gpu-adapter'], backend: v.backend, disableFeatures: v['disable-features']?.split(',').filter(Boolean) });
    const cache = FileVerdictCache.open(join(run.dir, VERDICT_CACHE_FILE));
    try {
      const opened = await openJudges(judgeSpecs, { cache, context: ctx });
      const model = await loadModelDir(ctx, modelDir);
      const chatTemplate = promptTemplate('plain', model.chatTemplate, model.tokenizer.config).template;
      const engine = new GpuSealEngine(
        { ctx, config: model.config, weights: model.weights, transformer: model.transformer, tokenizer: model.tokenizer, chatTemplate },
        { sft: { precision } },
      );
      try {
        const settings: KnowledgeSealSettings = { knowledge, prompt, compat: v.compat, judges: opened.judges };
        const domain = kind === 'passage' ? new PassageOnlyDomain(dataset, ids, settings) : new KnowledgeSealDomain(dataset, ids, settings);
        // The un-adapted model, once per passage: every run's reference for its gains.
        await runInContextBaseline(run, domain, engine, UNADAPTED_BASELINE);
        if (kind !== 'base') {
          const baseModel = isHubId(modelArg) && !existsSync(resolve(modelArg)) ? modelArg : modelDir;
          let policy: { ref: PolicyRef; weights: LoraHostWeights } | null = null;
          if (policyDir) {
            const m = /round-(\d+)$/.exec(policyDir);
            policy = { ref: { kind: 'checkpoint', round: m ? Number(m[1]) : -1, path: policyDir, fingerprint: policyFingerprint! }, weights: policyWeights! };
          }
          const fixedSelfEdits = kind === 'passage' ? () => [''] : synthetic ? synthetic.completions.fixedSelfEdits(K) : undefined;
          const s = knowledge.selfEdit;
          await runSealLoop(run, adapterStore(run, model.config, baseModel), domain, engine, {
            mode: command === 'train' ? 'train' : 'eval',
            sampling: { temperature: s.temperature, topP: s.topP, maxNewTokens: s.maxNewTokens, attemptsPerEdit: attempts },
            policyMode,
            ...(restEm ? { restEm } : {}),
            policy,
            maxParallel: parallel,
            keepAdapters: v['keep-adapters'],
            ...(fixedSelfEdits ? { fixedSelfEdits } : {}),
          });
        }
      } finally {
        engine.dispose();
        model.dispose();
        opened.close();
      }
    } finally {
      await cache.flush();
      ctx.dispose();
    }
  } catch (e) {
    if (interrupts.signal !== null) return await interrupts.stopped;
    interrupts.dispose();
    await run.fail(e).catch(() => run.close());
    await writeSummary(run.dir, run.state).catch(() => {});
    throw e;
  }
  try {
    await run.finish();
    await writeSummary(run.dir, run.state);
  } catch (e) {
    if (interrupts.signal !== null) return await interrupts.stopped;
    throw e;
  } finally {
    interrupts.dispose();
  }
  console.log(run.summary());
  const summary = knowledgeSummary(run.state);
  console.log(
    `knowledge: un-adapted ${percent(summary.baseline_accuracy)}, adapted ${percent(summary.adapted_accuracy)}, gain ${summary.gain === null ? '–' : `${(summary.gain * 100).toFixed(1)} points`} over ${summary.passages.length} passage(s)`,
  );
  console.log(`report: ${join(run.dir, RUN_FILES.report)}`);
  console.log(`summary: ${join(run.dir, KNOWLEDGE_SUMMARY_FILE)}`);
  return EXIT.ok;
}

const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);

function restEmFromFlags(v: Record<string, string | boolean | undefined>, keepOnlyGains: boolean): RestEmSettings {
  const d = KNOWLEDGE_REST_EM_DEFAULTS;
  const str = (k: string) => v[k] as string | undefined;
  const s: RestEmSettings = {
    winners: knowledgeWinnerRule(keepOnlyGains),
    lora: {
      ...d.lora,
      targets: [...d.lora.targets],
      rank: numberFlag(str('policy-rank'), '--policy-rank', d.lora.rank, { min: 1, max: 65536, integer: true }),
      alpha: numberFlag(str('policy-alpha'), '--policy-alpha', d.lora.alpha, { min: 0, minOpen: true }),
    },
    hyper: {
      ...d.hyper,
      epochs: numberFlag(str('policy-epochs'), '--policy-epochs', d.hyper.epochs ?? 2, { min: 1, max: 1000, integer: true }),
      lr: numberFlag(str('policy-lr'), '--policy-lr', d.hyper.lr, { min: 0, minOpen: true, max: 10 }),
      gradAccum: optionalNumberFlag(str('policy-grad-accum'), '--policy-grad-accum', { min: 1, max: 10000, integer: true }) ?? d.hyper.gradAccum,
    },
    initSeed: d.initSeed,
    continuePolicy: d.continuePolicy,
  };
  try {
    checkRestEmSettings(s);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return s;
}
