/**
 * `seal arc train | eval | baseline`: SEAL runs on ARC tasks in a run directory (runtime-node/run-dir.ts), resumable.
 *
 *   train     N rounds of ReST-EM: each round samples K self-edits per task from the policy, trains and scores each
 *             candidate, then fine-tunes the policy on the winners (policy/round-R: the next round's policy).
 *   eval      one round without the M-step: K self-edits per task from --policy (a PEFT adapter, e.g. a train run's
 *             policy/round-R) or from the base model, each trained and scored.
 *   baseline  --baseline in-context (the model alone, no TTT), base-self-edits (eval with the base model's
 *             self-edits), oracle (every task trained with one fixed, hand-chosen self-edit).
 *
 * Everything that decides results goes into the run's config (and its hash): a killed run resumes with the same
 * command, redoing nothing that was scored. The run's progress line (round, task, candidate, TTT step) is drawn on
 * stderr; report.html is rewritten at the end of every round.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ArcDataError,
  loadArcDataset,
  resolveArcSettings,
  SEAL_1B_EVAL_TASK_IDS,
  SEAL_1B_REFERENCE_SCORED_EVAL_TASK_IDS,
  SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS,
  SEAL_1B_TRAINING_TASK_IDS,
  type ArcDataset,
  type ArcSettingsOverrides,
} from '../src/domains/arc/index.ts';
import { ARC_REST_EM_DEFAULTS, ArcSealDomain, type ArcSealSettings } from '../src/domains/arc/seal-domain.ts';
import { fitSelfEditToModel, SelfEditFitError } from '../src/domains/arc/self-edit-fit.ts';
import { LORA_TARGETS, type LoraTarget } from '../src/lora/config.ts';
import type { LoraHostWeights } from '../src/lora/host-weights.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { readModelConfig } from '../src/inference/load-model.ts';
import { POLICY_MODES, type PolicyMode } from '../src/seal/engine.ts';
import type { PolicyRef } from '../src/seal/events.ts';
import { GpuSealEngine } from '../src/seal/gpu-engine.ts';
import { runInContextBaseline, runSealLoop } from '../src/seal/loop.ts';
import { checkRestEmSettings, type RestEmSettings, type WinnerRule } from '../src/seal/rest-em.ts';
import { whereRunStands } from '../src/seal/run-state.ts';
import type { RunConfig } from '../src/seal/run-config.ts';
import type { AdapterStore } from '../src/seal/run-recorder.ts';
import { TRAINING_PRECISIONS } from '../src/train/lora-linear.ts';
import { scheduleWarnings } from '../src/train/schedule-warnings.ts';
import { resolveSftHyperparameters } from '../src/train/sft.ts';
import { loadAdapterDir, saveAdapterDir } from './adapter-files.ts';
import { readChatTemplateFlag, chooseChatTemplate } from './chat-template-flag.ts';
import { createNodeContext } from './device.ts';
import { sealCommandLine, watchInterrupts } from './interrupt.ts';
import { embeddedArcSubset } from './examples.ts';
import { oneOf, parseFlags, requireString, SHORT_LORA_TARGETS, UsageError } from './flags.ts';
import { isHubId } from './hub.ts';
import { checkModelFiles, checkModelWeights, loadModelDir, loadModelTokenizer, modelDirFiles, resolveModelWithProgress } from './model-dir.ts';
import { fingerprintModelDir, nodeSha256, RUN_FILES, RunDir } from './run-dir.ts';

export const ARC_RUN_USAGE = `  seal arc train|eval|baseline --model DIR --tasks CHALLENGES.json[:ID,ID,...|:IDS_FILE] --run RUN_DIR
           [--self-edits K] [--rounds N] [--seed S] [--baseline in-context|base-self-edits|oracle] [--policy ADAPTER_DIR]
           [--policy-mode adapter|merge] [--force-config] [more flags: seal arc train --help]
      SEAL on ARC tasks, resumable in RUN_DIR (events.jsonl, report.html, policy/round-R). train: N rounds of ReST-EM
      (K self-edits per task, each trained and scored, then the policy fine-tuned on the solved ones); eval: one
      scored round with the self-edits of --policy (or the base model); baseline: in-context (no TTT), base-self-edits,
      oracle (one fixed self-edit). The solutions file is read beside the challenges file.`;

export const ARC_RUN_HELP = `Usage: seal arc train|eval|baseline --model DIR|ORG/NAME --tasks FILE[:IDS] --run RUN_DIR [flags]
  --tasks FILE[:SPEC]    a Kaggle-format challenges file (its *_solutions* file beside it); SPEC is a comma list of
                         task ids, a file of ids (whitespace, commas or a JSON list), or a named list: seal-1b-training,
                         seal-1b-eval (the paper's 12 / 10 tasks), seal-1b-training-scored, seal-1b-eval-scored (the
                         10 / 8 its reference code really scored: the paper's table is over those 8 x 5 self-edits);
                         a named list alone (--tasks seal-1b-eval) reads the 1B subsets shipped in examples/data/arc
  --self-edits K         self-edits per task per round (train 15, eval 5, baseline base-self-edits 5; oracle and
                         in-context 1)
  --rounds N             train only: rounds of ReST-EM (1)
  --seed S               sampling seed of the run (0)
  --baseline NAME        baseline only: in-context | base-self-edits | oracle
  --policy DIR           eval: the policy adapter that writes the self-edits (default: the base model)
  --policy-mode MODE     adapter (default: the policy adapter only samples; TTT and scoring on the base model) |
                         merge (the reference: the policy is merged and the merged model samples, trains, is scored)
  Self-edits:  --max-new-tokens N (128) --temperature T (0.8) --attempts A (4: samples per self-edit before it
               scores 0) --self-edit-instruction FILE / --solve-instruction FILE (prompt wording)
               --chat-template FILE (a Jinja chat template instead of the model's; a model without one: a plain one)
  TTT:         --ttt-max-epochs E (the self-edit's epochs are clamped to E; 100) --ttt-max-steps N (cap per
               candidate) --ttt-max-examples N (250) --ttt-rank R (128) --ttt-alpha A (16) --ttt-targets q,v,gate,up,down
               --ttt-batch-size B (2) --ttt-warmup N (11) --ttt-budget N (step budget, 375)
               --answer-max-tokens N (new tokens per answer when scoring; default what the context leaves)
               --parallel P (candidates trained together; default K) --keep-adapters (save every candidate's adapter)
  Policy (train): --policy-rank R (16) --policy-alpha A (16) --policy-epochs E (8) --policy-lr LR (5e-5)
               --policy-batch-size B (5) --policy-max-steps N --winners solved|best (solved: every pair with reward
               above the threshold, the paper; best: the best such candidate per task) --winner-threshold T (0; -1:
               every valid self-edit wins, e.g. to exercise the M-step) --policy-restart (each round afresh)
  Run:         --precision f32|mixed (the base's matmuls in TTT and policy training: f32 exact, the default; mixed:
               16-bit operands on the fastest kernel, e.g. tensor cores) --force-config (continue a run under a
               changed configuration) --gpu-adapter NAME --backend B --disable-features f1,f2
  Ctrl-C (or SIGTERM) stops a run cleanly (exit 130): the event log says so, the lock is released, and the same command
  resumes it; finished candidates are never redone.`;

/** A bad flag or flag value (exit 2, with the usage). */
export class ArcRunUsageError extends UsageError {}

/** A run that cannot work as asked (exit 1, one line): e.g. prompts that do not fit the model's context. */
export class ArcRunError extends Error {}

const COMMANDS = ['train', 'eval', 'baseline'] as const;
const BASELINES = ['in-context', 'base-self-edits', 'oracle'] as const;

function targetsFlag(value: string | undefined, flag: string): LoraTarget[] | undefined {
  if (value === undefined) return undefined;
  const out = value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      if ((LORA_TARGETS as readonly string[]).includes(t)) return t as LoraTarget;
      if (SHORT_LORA_TARGETS[t]) return SHORT_LORA_TARGETS[t];
      throw new ArcRunUsageError(`${flag}: unknown projection '${t}'; use ${Object.keys(SHORT_LORA_TARGETS).join(',')}`);
    });
  if (out.length === 0) throw new ArcRunUsageError(`${flag} must name at least one projection`);
  return out;
}

function numberFlag(value: string | undefined, flag: string, range: { min: number; max?: number; integer?: boolean; minOpen?: boolean }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { min, max = Number.MAX_SAFE_INTEGER, integer = false, minOpen = false } = range;
  if (value.trim() === '' || !Number.isFinite(n) || (minOpen ? !(n > min) : n < min) || n > max || (integer && !Number.isInteger(n))) {
    throw new ArcRunUsageError(
      `${flag} must be ${integer ? 'an integer' : 'a number'} ${minOpen ? '>' : '>='} ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}, got '${value}'`,
    );
  }
  return n;
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ArcRunUsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Named task lists of --tasks FILE:NAME: the SEAL paper's 1B lists, and the tasks its reference really scored. */
const TASK_LISTS: Record<string, readonly string[]> = {
  'seal-1b-training': SEAL_1B_TRAINING_TASK_IDS,
  'seal-1b-eval': SEAL_1B_EVAL_TASK_IDS,
  'seal-1b-training-scored': SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS,
  'seal-1b-eval-scored': SEAL_1B_REFERENCE_SCORED_EVAL_TASK_IDS,
};

/** --tasks NAME alone: the embedded 1B subset file that holds the list. */
function embeddedTasksFile(name: string): string | null {
  if (!Object.hasOwn(TASK_LISTS, name)) return null;
  return embeddedArcSubset(name.startsWith('seal-1b-training') ? 'training' : 'evaluation');
}

/** --tasks FILE[:SPEC] → the challenges file, its solutions file and the task ids (null: every task in the file). */
export function parseTasksFlag(value: string): { challenges: string; solutions: string; ids: string[] | null } {
  let file = value;
  let spec: string | null = null;
  const embedded = existsSync(value) ? null : embeddedTasksFile(value);
  if (embedded !== null) {
    file = embedded;
    spec = value;
  } else if (!existsSync(value)) {
    const colon = value.lastIndexOf(':');
    if (colon > 0) {
      file = value.slice(0, colon);
      spec = value.slice(colon + 1);
    }
  }
  if (!existsSync(file) || !statSync(file).isFile()) throw new ArcRunUsageError(`--tasks: the challenges file ${file} does not exist`);
  const name = basename(file);
  if (!name.includes('challenges'))
    throw new ArcRunUsageError(`--tasks: ${file} is not named like a challenges file (*challenges*.json), so its solutions file cannot be found beside it`);
  const solutions = join(dirname(file), name.replace('challenges', 'solutions'));
  if (!existsSync(solutions)) throw new ArcRunUsageError(`--tasks: no solutions file ${solutions} beside ${file} (scoring needs the solutions)`);
  let ids: string[] | null = null;
  if (spec !== null) {
    const list = TASK_LISTS[spec];
    if (list) ids = [...list];
    else if (spec !== '' && existsSync(spec) && statSync(spec).isFile()) {
      const text = readText(spec, '--tasks').trim();
      ids = text.startsWith('[') ? (JSON.parse(text) as unknown[]).map(String) : text.split(/[\s,]+/).filter(Boolean);
    } else {
      ids = spec
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }
    if (ids.length === 0) throw new ArcRunUsageError(`--tasks: '${spec}' lists no task ids`);
  }
  return { challenges: resolve(file), solutions: resolve(solutions), ids };
}

function loadTasks(spec: { challenges: string; solutions: string; ids: string[] | null }): ArcDataset {
  const dataset = loadArcDataset({
    challenges: readFileSync(spec.challenges, 'utf8'),
    solutions: readFileSync(spec.solutions, 'utf8'),
    ...(spec.ids ? { taskIds: spec.ids } : {}),
    challengesSource: spec.challenges,
    solutionsSource: spec.solutions,
  });
  if (dataset.excluded.length > 0) {
    throw new ArcDataError(`${dataset.excluded.length} task(s) cannot be used: ${dataset.excluded.map((e) => `${e.taskId} (${e.reason})`).join('; ')}`);
  }
  if (dataset.taskIds.length === 0) throw new ArcDataError(`${spec.challenges} holds no task`);
  return dataset;
}

/** The run's adapters as PEFT folders: paths relative to the run directory (or absolute). */
export function adapterStore(run: RunDir, config: ModelConfig, baseModel: string): AdapterStore {
  return {
    save: async (path: string, weights: LoraHostWeights) => {
      await saveAdapterDir(resolve(run.dir, path), weights, { baseModel });
    },
    load: (path: string) => loadAdapterDir(resolve(run.dir, path), config),
  };
}

/** sha256 of a PEFT folder's two files (what decides the policy's outputs). */
export function adapterFingerprint(dir: string): string {
  const h = nodeSha256();
  for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
    const path = join(dir, name);
    if (!existsSync(path)) throw new ArcRunUsageError(`--policy: ${dir} is not a PEFT adapter folder (no ${name})`);
    h.update(new Uint8Array(readFileSync(path)));
  }
  return `sha256:${h.digestHex()}`;
}

/**
 * `seal arc train|eval|baseline ARGS`; returns the exit code. Errors (a bad flag, a locked run directory, bad data)
 * are reported by the CLI's one handler (cli-errors.ts), --help by help.ts.
 */
export async function runArcRun(commandArg: string, argv: string[]): Promise<number> {
  const command = oneOf(commandArg, 'arc subcommand', COMMANDS)!;
  const v = parseFlags(argv, {
    model: { type: 'string' },
    tasks: { type: 'string' },
    run: { type: 'string' },
    'self-edits': { type: 'string' },
    rounds: { type: 'string' },
    seed: { type: 'string' },
    baseline: { type: 'string' },
    policy: { type: 'string' },
    'policy-mode': { type: 'string' },
    'max-new-tokens': { type: 'string' },
    temperature: { type: 'string' },
    attempts: { type: 'string' },
    'self-edit-instruction': { type: 'string' },
    'solve-instruction': { type: 'string' },
    'chat-template': { type: 'string' },
    'ttt-max-epochs': { type: 'string' },
    'ttt-max-steps': { type: 'string' },
    'ttt-max-examples': { type: 'string' },
    'ttt-rank': { type: 'string' },
    'ttt-alpha': { type: 'string' },
    'ttt-targets': { type: 'string' },
    'ttt-batch-size': { type: 'string' },
    'ttt-warmup': { type: 'string' },
    'ttt-budget': { type: 'string' },
    'answer-max-tokens': { type: 'string' },
    parallel: { type: 'string' },
    'keep-adapters': { type: 'boolean', default: false },
    'policy-rank': { type: 'string' },
    'policy-alpha': { type: 'string' },
    'policy-epochs': { type: 'string' },
    'policy-lr': { type: 'string' },
    'policy-batch-size': { type: 'string' },
    'policy-max-steps': { type: 'string' },
    winners: { type: 'string' },
    'winner-threshold': { type: 'string' },
    'policy-restart': { type: 'boolean', default: false },
    'force-config': { type: 'boolean', default: false },
    precision: { type: 'string' },
    'gpu-adapter': { type: 'string' },
    backend: { type: 'string' },
    'disable-features': { type: 'string' },
  });
  const modelArg = requireString(v.model, '--model');
  const tasksArg = requireString(v.tasks, '--tasks');
  const runArg = requireString(v.run, '--run');
  const baseline = oneOf(v.baseline, '--baseline', BASELINES);
  if (command === 'baseline' && !baseline) throw new ArcRunUsageError(`seal arc baseline needs --baseline ${BASELINES.join('|')}`);
  if (command !== 'baseline' && baseline) throw new ArcRunUsageError('--baseline is for seal arc baseline');
  if (v.policy !== undefined && command !== 'eval')
    throw new ArcRunUsageError('--policy is for seal arc eval (train samples with its own policy; baselines with the base model)');
  const rounds = numberFlag(v.rounds, '--rounds', { min: 1, integer: true, max: 1000 }) ?? 1;
  if (command !== 'train' && rounds !== 1) throw new ArcRunUsageError('--rounds is for seal arc train (eval and baselines are one round)');
  const seed = numberFlag(v.seed, '--seed', { min: 0, integer: true, max: 0xffffffff }) ?? 0;
  const policyMode: PolicyMode = oneOf(v['policy-mode'], '--policy-mode', POLICY_MODES) ?? 'adapter';
  const precision = oneOf(v.precision, '--precision', TRAINING_PRECISIONS) ?? 'f32';

  // The ARC settings: defaults, with the flags' overrides (validated by resolveArcSettings).
  const overrides: ArcSettingsOverrides = {
    ttt: {
      ...(v['ttt-batch-size'] !== undefined ? { batchSize: numberFlag(v['ttt-batch-size'], '--ttt-batch-size', { min: 1, integer: true }) } : {}),
      ...(v['ttt-warmup'] !== undefined ? { warmupSteps: numberFlag(v['ttt-warmup'], '--ttt-warmup', { min: 0, integer: true }) } : {}),
      ...(v['ttt-budget'] !== undefined ? { stepBudget: numberFlag(v['ttt-budget'], '--ttt-budget', { min: 0, integer: true }) } : {}),
      lora: {
        ...(v['ttt-rank'] !== undefined ? { rank: numberFlag(v['ttt-rank'], '--ttt-rank', { min: 1, integer: true, max: 65536 }) } : {}),
        ...(v['ttt-alpha'] !== undefined ? { alpha: numberFlag(v['ttt-alpha'], '--ttt-alpha', { min: 0, minOpen: true }) } : {}),
        ...(v['ttt-targets'] !== undefined ? { targets: targetsFlag(v['ttt-targets'], '--ttt-targets') } : {}),
      },
    },
    data: v['ttt-max-examples'] !== undefined ? { maxExamples: numberFlag(v['ttt-max-examples'], '--ttt-max-examples', { min: 1, integer: true }) } : {},
    selfEdit: {
      limits:
        v['ttt-max-epochs'] !== undefined ? { epochs: { min: 1, max: numberFlag(v['ttt-max-epochs'], '--ttt-max-epochs', { min: 1, integer: true })! } } : {},
      sampling: {
        ...(v['max-new-tokens'] !== undefined ? { maxNewTokens: numberFlag(v['max-new-tokens'], '--max-new-tokens', { min: 1, integer: true }) } : {}),
        ...(v.temperature !== undefined ? { temperature: numberFlag(v.temperature, '--temperature', { min: 0 }) } : {}),
        ...(v.attempts !== undefined ? { attemptsPerEdit: numberFlag(v.attempts, '--attempts', { min: 1, integer: true, max: 1000 }) } : {}),
      },
    },
  };
  let arc: ReturnType<typeof resolveArcSettings>;
  try {
    arc = resolveArcSettings(overrides);
  } catch (e) {
    throw new ArcRunUsageError((e as Error).message);
  }
  let domainSettings: ArcSealSettings = {
    arc,
    tttMaxSteps: numberFlag(v['ttt-max-steps'], '--ttt-max-steps', { min: 1, integer: true }) ?? null,
    answerMaxNewTokens: numberFlag(v['answer-max-tokens'], '--answer-max-tokens', { min: 1, integer: true }) ?? null,
    prompts: {
      selfEdit: v['self-edit-instruction'] !== undefined ? { instruction: readText(v['self-edit-instruction'], '--self-edit-instruction').trim() } : {},
      solve: v['solve-instruction'] !== undefined ? { instruction: readText(v['solve-instruction'], '--solve-instruction').trim() } : {},
    },
  };
  const defaultK =
    baseline === 'oracle' || baseline === 'in-context' ? 1 : command === 'train' ? arc.selfEdit.sampling.perTrainingTask : arc.selfEdit.sampling.perEvalTask;
  const K = numberFlag(v['self-edits'], '--self-edits', { min: 1, integer: true, max: 100000 }) ?? defaultK;
  if ((baseline === 'oracle' || baseline === 'in-context') && K !== 1)
    throw new ArcRunUsageError(`--baseline ${baseline} has one candidate per task (--self-edits 1)`);
  const restEm: RestEmSettings | null = command === 'train' ? restEmFromFlags(v) : null;
  const parallel = numberFlag(v.parallel, '--parallel', { min: 1, integer: true }) ?? K;
  // Every file or directory a flag names is checked here, before the model is fetched or the run directory touched.
  const chatTemplateFlag = readChatTemplateFlag(v['chat-template']);
  const policyDir = v.policy !== undefined ? resolve(v.policy) : null;
  const policyFingerprint = policyDir ? adapterFingerprint(policyDir) : null;

  // Tasks and model, before anything runs on the GPU: a wrong path fails at once.
  const taskSpec = parseTasksFlag(tasksArg);
  const dataset = loadTasks(taskSpec);
  const modelDir = await resolveModelWithProgress(modelArg);
  checkModelFiles(modelDir);
  const files = modelDirFiles(modelDir);
  const modelConfig = await readModelConfig(files);
  await checkModelWeights(modelDir, modelConfig); // a broken checkpoint fails before anything is written
  const tokenizer = await loadModelTokenizer(modelDir);
  const chat = (await chooseChatTemplate(files, tokenizer, chatTemplateFlag, 'plain'))!;
  if (chat.kind === 'plain') console.error(`seal: note: ${modelDir} has no chat template; prompts are rendered with a plain one (system, user, answer + EOS)`);
  if (baseline !== 'in-context' && baseline !== 'oracle') {
    try {
      const fit = fitSelfEditToModel(dataset, domainSettings, {
        context: modelConfig.maxPositionEmbeddings,
        countTokens: (m) => tokenizer.encode(chat.template.render(m), { addSpecialTokens: true }).length,
        given: { instruction: v['self-edit-instruction'] !== undefined, maxNewTokens: v['max-new-tokens'] !== undefined },
      });
      for (const note of fit.notes) console.error(`seal: note: ${note}`);
      for (const warning of fit.warnings) console.error(`seal: warning: ${warning}`);
      domainSettings = fit.settings;
    } catch (e) {
      throw e instanceof SelfEditFitError ? new ArcRunError(e.message) : e;
    }
  }
  for (const w of noOpTrainingWarnings(domainSettings, restEm)) console.error(`seal: warning: ${w}`);
  const identity = await fingerprintModelDir(modelDir, { spec: modelArg });
  // The policy adapter is read now (on the host): a broken one fails before the run directory is touched.
  const policyWeights = policyDir ? await loadAdapterDir(policyDir, modelConfig) : null;

  const config: RunConfig = {
    domain: 'arc',
    command: baseline ? `baseline-${baseline}` : command,
    model: { fingerprint: identity.fingerprint, method: identity.method, source: identity.source },
    tasks: { ids: [...dataset.taskIds], source: taskSpec.challenges },
    selfEditsPerTask: K,
    rounds,
    seed,
    settings: {
      ...domainSettings,
      // A template file decides the prompts: its hash is part of the configuration.
      chatTemplate: chatTemplateFlag ? `file ${textSha256(chatTemplateFlag.text)}` : chat.kind,
      policyMode,
      policy: policyFingerprint,
      restEm,
      // Only when not the default, so runs made before the flag existed resume under the same configuration.
      ...(precision !== 'f32' ? { precision } : {}),
    },
  };
  const run = await RunDir.open(runArg, {
    config,
    forceConfig: v['force-config'],
    progress: process.stderr,
    onWarning: (m) => console.error(`seal: warning: ${m}`),
  });
  // Ctrl-C / SIGTERM: record it, release the lock, rewrite the report, say how to resume; then exit 130.
  const interrupts = watchInterrupts(async (signal) => {
    run.append({ type: 'interrupted', signal });
    run.close();
    await run.writeReport();
    console.error(`seal: interrupted by ${signal}: ${whereRunStands(run.state)}; recorded in ${run.dir}`);
    console.error(`seal: to resume, run the same command: ${sealCommandLine()}`);
  });
  try {
    if (run.resumed) console.error(`seal: resuming ${run.dir}: ${run.resumeSummary()}`);
    const ctx = await createNodeContext({ adapter: v['gpu-adapter'], backend: v.backend, disableFeatures: v['disable-features']?.split(',').filter(Boolean) });
    try {
      const model = await loadModelDir(ctx, modelDir);
      const engine = new GpuSealEngine(
        { ctx, config: model.config, weights: model.weights, transformer: model.transformer, tokenizer: model.tokenizer, chatTemplate: chat.template },
        { sft: { precision } },
      );
      try {
        const domain = new ArcSealDomain(dataset, domainSettings, {
          contextLength: model.config.maxPositionEmbeddings,
          countTokens: (m) => engine.encode(m).length,
        });
        const baseModel = isHubId(modelArg) && !existsSync(resolve(modelArg)) ? modelArg : modelDir;
        const store = adapterStore(run, model.config, baseModel);
        if (baseline === 'in-context') {
          await runInContextBaseline(run, domain, engine);
        } else {
          let policy: { ref: PolicyRef; weights: LoraHostWeights } | null = null;
          if (policyDir) {
            const m = /round-(\d+)$/.exec(policyDir);
            policy = {
              ref: { kind: 'checkpoint', round: m ? Number(m[1]) : -1, path: policyDir, fingerprint: policyFingerprint! },
              weights: policyWeights!,
            };
          }
          const sampling = domainSettings.arc.selfEdit.sampling; // as fitted to the model
          await runSealLoop(run, store, domain, engine, {
            mode: command === 'train' ? 'train' : 'eval',
            sampling: { temperature: sampling.temperature, topP: 1, maxNewTokens: sampling.maxNewTokens, attemptsPerEdit: sampling.attemptsPerEdit },
            policyMode,
            ...(restEm ? { restEm } : {}),
            policy,
            maxParallel: parallel,
            keepAdapters: v['keep-adapters'],
            ...(baseline === 'oracle' ? { fixedSelfEdits: () => [domain.oracleSelfEdit()] } : {}),
          });
        }
      } finally {
        engine.dispose();
        model.dispose();
      }
    } finally {
      ctx.dispose();
    }
  } catch (e) {
    // Interrupted: the work in flight fails on the closed run, and the interrupt handler exits with its code.
    if (interrupts.signal !== null) return await interrupts.stopped;
    interrupts.dispose();
    await run.fail(e).catch(() => run.close());
    throw e;
  }
  try {
    await run.finish();
  } catch (e) {
    if (interrupts.signal !== null) return await interrupts.stopped;
    throw e;
  } finally {
    interrupts.dispose();
  }
  console.log(run.summary());
  console.log(`report: ${join(run.dir, RUN_FILES.report)}`);
  return 0;
}

/**
 * Fixed settings that keep training from doing what it is asked, with the numbers: TTT capped at --ttt-max-steps N
 * under a warmup >= N (each self-edit's learning rate, 1 below, never arrives), and the policy's --policy-max-steps.
 * A self-edit's own no-op schedule is a per-candidate note in the report instead.
 */
function noOpTrainingWarnings(s: ArcSealSettings, restEm: RestEmSettings | null): string[] {
  const out: string[] = [];
  const t = s.arc.ttt;
  if (s.tttMaxSteps !== null) {
    for (const w of scheduleWarnings({ schedule: t.schedule, lr: 1, warmupSteps: t.warmupSteps, totalSteps: s.tttMaxSteps }))
      out.push(
        `TTT of ${s.tttMaxSteps} steps (--ttt-max-steps) after ${t.warmupSteps} warmup steps (--ttt-warmup), in units of each self-edit's learning rate: ${w}`,
      );
  }
  const h = restEm ? resolveSftHyperparameters(restEm.hyper) : null;
  if (h?.maxSteps != null) {
    for (const w of scheduleWarnings({ schedule: h.schedule, lr: h.lr, warmupSteps: h.warmupSteps, totalSteps: h.maxSteps }))
      out.push(`policy training of ${h.maxSteps} steps (--policy-max-steps): ${w}`);
  }
  return out;
}

function textSha256(text: string): string {
  const h = nodeSha256();
  h.update(new TextEncoder().encode(text));
  return `sha256:${h.digestHex()}`;
}

function restEmFromFlags(v: Record<string, string | boolean | undefined>): RestEmSettings {
  const d = ARC_REST_EM_DEFAULTS;
  const str = (k: string) => v[k] as string | undefined;
  const rank = numberFlag(str('policy-rank'), '--policy-rank', { min: 1, integer: true, max: 65536 }) ?? d.lora.rank;
  const threshold = numberFlag(str('winner-threshold'), '--winner-threshold', { min: -Number.MAX_VALUE }) ?? 0;
  const winners: WinnerRule =
    (oneOf(str('winners'), '--winners', ['solved', 'best'] as const) ?? 'solved') === 'solved'
      ? { kind: 'reward-above', threshold }
      : { kind: 'best-per-context', threshold };
  const maxSteps = numberFlag(str('policy-max-steps'), '--policy-max-steps', { min: 1, integer: true });
  const s: RestEmSettings = {
    winners,
    lora: {
      ...d.lora,
      targets: [...d.lora.targets],
      rank,
      alpha: numberFlag(str('policy-alpha'), '--policy-alpha', { min: 0, minOpen: true }) ?? d.lora.alpha,
    },
    hyper: {
      ...d.hyper,
      epochs: numberFlag(str('policy-epochs'), '--policy-epochs', { min: 1, integer: true }) ?? d.hyper.epochs,
      lr: numberFlag(str('policy-lr'), '--policy-lr', { min: 0, minOpen: true, max: 10 }) ?? d.hyper.lr,
      batchSize: numberFlag(str('policy-batch-size'), '--policy-batch-size', { min: 1, integer: true }) ?? d.hyper.batchSize,
      ...(maxSteps !== undefined ? { maxSteps } : {}),
    },
    initSeed: d.initSeed,
    continuePolicy: v['policy-restart'] !== true,
  };
  try {
    checkRestEmSettings(s);
  } catch (e) {
    throw new ArcRunUsageError((e as Error).message);
  }
  return s;
}
