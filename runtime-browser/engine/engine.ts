/**
 * The SEAL engine of a page, meant to run in a dedicated Web Worker (worker.ts exposes it with comlink; the page
 * talks to it through client.ts). It runs the real pieces, as `seal arc` does (runtime-node/arc-run.ts), without
 * the Node parts: models through load-model.ts (hub models kept in OPFS by hub.ts, URL and picked files as Blobs),
 * the ARC domain (tasks, the self-edit schema, TTT plans, augmented inference and voting), and the SEAL core
 * (GpuSealEngine, runSealLoop, ReST-EM) recording into an in-memory run (src/seal/memory-run.ts) whose log exports
 * as the JSONL of a CLI run directory.
 *
 * Long calls run one at a time (a second waits for the first) under an opId; cancel(opId) aborts one (queued or
 * running) and it rejects with an AbortError, the engine usable afterwards. A lost device rejects every pending
 * call with the loss's message and tells the onDeviceLost callbacks; a reload (a new worker) starts afresh.
 */
import { ArcDataError } from '../../src/domains/arc/tasks.ts';
import { answerText } from '../../src/domains/arc/prompts.ts';
import { ARC_ORACLE_SELF_EDIT, ARC_REST_EM_DEFAULTS, ArcSealDomain, type ArcSealSettings } from '../../src/domains/arc/seal-domain.ts';
import { fitSelfEditToModel } from '../../src/domains/arc/self-edit-fit.ts';
import { selfEditJson } from '../../src/domains/arc/self-edit.ts';
import { resolveArcSettings } from '../../src/domains/arc/settings.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import type { DeviceLostError } from '../../src/gpu/errors.ts';
import { loadModel, readModelConfig, type LoadedModel } from '../../src/inference/load-model.ts';
import { Transformer } from '../../src/inference/transformer.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import type { LoraHostWeights } from '../../src/lora/host-weights.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, parsePeftAdapter, serializePeftAdapter } from '../../src/lora/peft-format.ts';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { LLAMA_3_2_1B_CONFIG } from '../../src/model/reference-configs.ts';
import { syntheticCheckpoint } from '../../src/model/synthetic-checkpoint.ts';
import { loadWeights } from '../../src/model/weights.ts';
import type { SftOptions } from '../../src/train/sft.ts';
import type { RunEvent } from '../../src/seal/events.ts';
import { GpuSealEngine, type EngineTimingPhase } from '../../src/seal/gpu-engine.ts';
import { runSealLoop } from '../../src/seal/loop.ts';
import { MemoryAdapterStore, MemoryRun } from '../../src/seal/memory-run.ts';
import { fingerprintModel } from '../../src/seal/model-identity.ts';
import { chatTemplateOrPlain } from '../../src/seal/plain-chat-template.ts';
import type { RestEmSettings } from '../../src/seal/rest-em.ts';
import type { RunConfig } from '../../src/seal/run-config.ts';
import { roundSeed, sampleStream } from '../../src/seal/streams.ts';
import type { ChatMessage, ChatTemplate } from '../../src/text/chat-template.ts';
import type { TextTokenizer } from '../../src/text/tokenizer.ts';
import { createBrowserContext } from '../device.ts';
import { deleteStoredModels, listStoredModels } from '../model-store.ts';
import type {
  ArcTaskView,
  CandidateResult,
  EngineInfo,
  GridJson,
  LoadProgress,
  MemoryPlan,
  ModelInspection,
  ModelSource,
  ModelSummary,
  RestEmRequest,
  RestEmResult,
  RunCandidatesRequest,
  RunEventLike,
  RunResult,
  SampleRequest,
  SealEngineApi,
  SelfEditJson,
  SelfEditPlan,
  SelfEditSample,
  TimingRequest,
  TimingResult,
  TttOverrides,
  TttStepEvent,
} from './api.ts';
import { datasetOf, loadTaskViews, parseTaskJson, selfEditOf, selfEditView } from './arc-views.ts';
import { checkFit, likelyDeviceMemory, parameterCount, type DeviceFacts } from './memory-plan.ts';
import { openModelSource, outlineModelSource } from './model-source.ts';

/** A model that cannot run on this device (before any weight is fetched). */
export class ModelFitError extends Error {
  override name = 'ModelFitError';
}

interface Loaded {
  model: LoadedModel;
  chatTemplate: ChatTemplate;
  seal: GpuSealEngine;
  summary: ModelSummary;
  plan: MemoryPlan;
  identity: RunConfig['model'];
}

/** The trainer's options of a memory plan. */
function sftOptions(plan: MemoryPlan): SftOptions {
  return {
    recompute: plan.recompute.value,
    precision: plan.precision.value,
    ...(plan.maxPassTokens.value !== null ? { maxPassTokens: plan.maxPassTokens.value } : {}),
  };
}

const SAFETENSORS = /\.safetensors$/;

export class SealWorkerEngine implements SealEngineApi {
  private ctx: Promise<GpuContext> | null = null;
  private loaded: Loaded | null = null;
  /** The policy adapter that samples self-edits (null: the model itself). */
  private policy: LoraHostWeights | null = null;
  private lastRun: MemoryRun | null = null;
  private lastTask: ArcTaskView | null = null;
  private readonly ops = new Map<string, AbortController>();
  /** The tail of the queue of long calls (each starts when the previous one settled). */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly lostCallbacks: ((message: string) => void)[] = [];
  private lost: Error | null = null;
  private disposed = false;
  /** Ids of the internal queued calls (logits). */
  private internalOps = 0;
  private rejectLost: ((e: Error) => void) | null = null;
  private readonly lostPromise: Promise<never>;
  private readonly spent: Record<EngineTimingPhase, number> = { tokenize: 0, train: 0, generate: 0 };

  constructor(private readonly options: { deviceMemoryBytes?: number } = {}) {
    this.lostPromise = new Promise<never>((_, reject) => {
      this.rejectLost = reject;
    });
    this.lostPromise.catch(() => {}); // observed by each pending call's race
  }

  private context(): Promise<GpuContext> {
    if (this.lost) return Promise.reject(this.lost);
    if (!this.ctx) {
      this.ctx = createBrowserContext().then((ctx) => {
        void ctx.lost.then((e) => this.deviceLost(e));
        return ctx;
      });
      this.ctx.catch(() => {
        this.ctx = null;
      });
    }
    return this.ctx;
  }

  private deviceLost(e: DeviceLostError): void {
    if (this.lost || this.disposed) return;
    const lost = new Error(
      `${e.message.replace(/ Create a new context; buffers of the lost device are gone\.$/, '')} Reload the page to start again on a fresh device.`,
    );
    lost.name = 'DeviceLostError';
    this.lost = lost;
    this.loaded = null;
    for (const op of this.ops.values()) op.abort(lost);
    this.rejectLost?.(lost);
    for (const cb of this.lostCallbacks) {
      try {
        cb(lost.message);
      } catch {
        // a page's callback that throws must not keep the others from hearing it
      }
    }
  }

  /** Runs a long call: queued behind the others, abortable by cancel(opId), failing at once if the device is lost. */
  private op<T>(opId: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (typeof opId !== 'string' || opId === '') return Promise.reject(new TypeError('every long call needs an opId (a non-empty string)'));
    if (this.ops.has(opId)) return Promise.reject(new Error(`operation "${opId}" is already running: give each call its own opId`));
    const controller = new AbortController();
    this.ops.set(opId, controller);
    const run = this.queue.then(async () => {
      try {
        if (this.lost) throw this.lost;
        controller.signal.throwIfAborted();
        return await Promise.race([body(controller.signal), this.lostPromise]);
      } finally {
        this.ops.delete(opId);
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private model(): Loaded {
    if (this.lost) throw this.lost;
    if (!this.loaded) throw new Error('no model is loaded: call loadModel first');
    return this.loaded;
  }

  private async deviceFacts(): Promise<DeviceFacts> {
    const ctx = await this.context();
    return {
      maxBufferSize: ctx.limits.maxBufferSize ?? 256 * 2 ** 20,
      maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20,
      shaderF16: ctx.features.shaderF16,
      memoryBytes: this.options.deviceMemoryBytes ?? likelyDeviceMemory(),
    };
  }

  async info(): Promise<EngineInfo> {
    const ctx = await this.context();
    const a = ctx.caps.adapter;
    return {
      inWorker: isWorker(),
      adapter: { vendor: a.vendor, architecture: a.architecture, description: a.description },
      features: { shaderF16: ctx.features.shaderF16, subgroups: ctx.features.subgroups },
      limits: { maxBufferSize: ctx.limits.maxBufferSize ?? 0, maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize ?? 0 },
      model: this.loaded?.summary ?? null,
      memoryPlan: this.loaded?.plan ?? null,
    };
  }

  async inspectModel(src: ModelSource, opts: { token?: string } = {}): Promise<ModelInspection> {
    const outline = await outlineModelSource(src, opts);
    let config: ModelConfig;
    try {
      config = parseModelConfig(JSON.parse(outline.configText));
    } catch (e) {
      throw new Error(`${outline.name}/config.json: ${(e as Error).message}`);
    }
    const bytes = Object.values(outline.files).reduce((a, b) => a + b, 0);
    const weightBytes = Object.entries(outline.files).reduce((n, [name, size]) => n + (SAFETENSORS.test(name) ? size : 0), 0);
    const verdict = checkFit(config, weightBytes, await this.deviceFacts());
    return {
      name: outline.name,
      architecture: config.architecture,
      params: verdict.params,
      bytes,
      estimatedGpuBytes: verdict.estimatedGpuBytes,
      fits: verdict.fits,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      memoryPlan: verdict.plan,
    };
  }

  loadModel(src: ModelSource, opts: { token?: string }, onProgress: ((p: LoadProgress) => void) | null, opId: string): Promise<ModelSummary> {
    return this.op(opId, async (signal) => {
      const ctx = await this.context();
      const opened = await openModelSource(src, { ...(opts?.token ? { token: opts.token } : {}), signal, ...(onProgress ? { onProgress } : {}) });
      signal.throwIfAborted();
      const config = await readModelConfig(opened.files);
      const verdict = checkFit(config, opened.weightBytes, await this.deviceFacts());
      if (!verdict.fits) throw new ModelFitError(`${opened.name}: ${verdict.reason}`);
      const identity = await fingerprintModel(opened.files, {
        source: opened.commit ? { hub: { repo: opened.name.split('@')[0]!, revision: opened.name.split('@')[1] ?? 'main', commit: opened.commit } } : {},
      });
      signal.throwIfAborted();
      this.unload();
      const model = await loadModel(ctx, opened.files, { matmul: verdict.plan.matmul.value });
      const chat = chatTemplateOrPlain(model.chatTemplate, model.tokenizer.config);
      const plan = verdict.plan;
      const seal = new GpuSealEngine(
        { ctx, config: model.config, weights: model.weights, transformer: model.transformer, tokenizer: model.tokenizer, chatTemplate: chat.template },
        {
          sft: sftOptions(plan),
          onTiming: (phase, seconds) => {
            this.spent[phase] += seconds;
          },
        },
      );
      const summary: ModelSummary = {
        name: opened.name,
        architecture: model.config.architecture,
        params: verdict.params,
        weightBytes: opened.weightBytes,
        contextLength: model.config.maxPositionEmbeddings,
        vocabSize: model.config.vocabSize,
        hasChatTemplate: chat.kind === 'model',
        ...(opened.commit ? { commit: opened.commit } : {}),
        ...(opened.fromCache !== undefined ? { fromCache: opened.fromCache } : {}),
      };
      this.loaded = {
        model,
        chatTemplate: chat.template,
        seal,
        summary,
        plan,
        identity: { fingerprint: identity.fingerprint, method: identity.method, source: identity.source },
      };
      return summary;
    });
  }

  /** Frees the model and its policy. */
  private unload(): void {
    if (!this.loaded) return;
    this.loaded.seal.dispose();
    this.loaded.model.dispose();
    this.loaded = null;
    this.policy = null;
  }

  async cachedModels(): Promise<{ id: string; bytes: number }[]> {
    return (await listStoredModels()).map(({ id, bytes }) => ({ id, bytes }));
  }

  async deleteCachedModels(): Promise<void> {
    await deleteStoredModels();
  }

  async parseTask(json: string, id?: string): Promise<ArcTaskView> {
    return parseTaskJson(json, id);
  }

  async loadTasks(challenges: string, solutions: string | null, ids?: string[]): Promise<ArcTaskView[]> {
    return loadTaskViews(challenges, solutions, ids);
  }

  /** The ARC settings of a run: defaults, the memory plan, and the caller's overrides. */
  private settings(
    o: {
      tttMaxSteps: number | null;
      answerMaxTokens: number | null;
      ttt?: TttOverrides | undefined;
      maxNewTokens?: number | undefined;
      temperature?: number | undefined;
    },
    plan: MemoryPlan = this.model().plan,
  ): ArcSealSettings {
    const t = o.ttt ?? {};
    const arc = resolveArcSettings({
      ttt: {
        batchSize: t.batchSize ?? plan.tttBatchSize.value,
        ...(t.warmupSteps !== undefined ? { warmupSteps: t.warmupSteps } : {}),
        lora: { rank: t.rank ?? plan.tttRank.value, ...(t.alpha !== undefined ? { alpha: t.alpha } : {}) },
      },
      ...(t.maxExamples !== undefined ? { data: { maxExamples: t.maxExamples } } : {}),
      selfEdit: {
        sampling: {
          ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
          ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
        },
      },
    });
    return { arc, tttMaxSteps: o.tttMaxSteps, answerMaxNewTokens: o.answerMaxTokens, prompts: { selfEdit: {}, solve: {} } };
  }

  /** The ARC domain over `tasks`; `sampling` fits the self-edit prompt and budget to the model, as the CLI does. */
  private domain(tasks: readonly ArcTaskView[], settings: ArcSealSettings, sampling: { maxNewTokensGiven: boolean } | null): ArcSealDomain {
    const { model, seal } = this.model();
    const dataset = datasetOf(tasks);
    const countTokens = (m: readonly ChatMessage[]) => seal.encode(m).length;
    const context = model.config.maxPositionEmbeddings;
    const fitted = sampling
      ? fitSelfEditToModel(dataset, settings, { context, countTokens, given: { instruction: false, maxNewTokens: sampling.maxNewTokensGiven } }).settings
      : settings;
    this.lastTask = tasks[0] ?? this.lastTask;
    return new ArcSealDomain(dataset, fitted, { contextLength: context, countTokens });
  }

  sampleSelfEdits(req: SampleRequest, onToken: (candidate: number, textSoFar: string) => void, opId: string): Promise<SelfEditSample[]> {
    return this.op(opId, async (signal) => {
      checkCount(req.k, 'k');
      const settings = this.settings({ tttMaxSteps: null, answerMaxTokens: null, maxNewTokens: req.maxNewTokens, temperature: req.temperature });
      const domain = this.domain([req.task], settings, { maxNewTokensGiven: req.maxNewTokens !== undefined });
      return (await this.sampleFor(domain, req.k, req.seed, signal, onToken))[0]!;
    });
  }

  /**
   * K self-edits per context of `domain` from the current policy, drawn as round 0 of a CLI run with `seed` draws
   * its first attempts (the same seed and streams), constrained by the schema, streamed piece by piece.
   */
  private async sampleFor(
    domain: ArcSealDomain,
    k: number,
    seed: number,
    signal: AbortSignal,
    onToken?: (candidate: number, textSoFar: string) => void,
  ): Promise<SelfEditSample[][]> {
    const { seal } = this.model();
    await seal.setPolicy(this.policy, 'adapter');
    const contexts = domain.contexts();
    const prompts = contexts.flatMap((c) => Array.from({ length: k }, () => domain.selfEditPrompt(c)));
    const streams = contexts.flatMap((c) => Array.from({ length: k }, (_, i) => sampleStream(c.id, i, 0)));
    const texts = prompts.map(() => '');
    const sampling = domain.settings.arc.selfEdit.sampling;
    const samples = await seal.sample(prompts, {
      schema: domain.selfEditSchema(),
      maxNewTokens: sampling.maxNewTokens,
      temperature: sampling.temperature,
      topP: 1,
      seed: roundSeed(seed, 0),
      streams,
      signal,
      ...(onToken
        ? {
            onText: (i: number, piece: string) => {
              texts[i] += piece;
              onToken(i % k, texts[i]!);
            },
          }
        : {}),
    });
    return contexts.map((_, c) =>
      samples.slice(c * k, (c + 1) * k).map((s) => {
        const parsed = domain.parseSelfEdit(s.text);
        if (parsed.ok) return { text: s.text, selfEdit: selfEditView(parsed.edit) };
        const cut = s.finishReason === 'length' ? ` (cut at ${sampling.maxNewTokens} new tokens)` : '';
        return { text: s.text, selfEdit: null, error: `${parsed.reason}${cut}` };
      }),
    );
  }

  async planSelfEdit(task: ArcTaskView, selfEdit: SelfEditJson, opts: { tttMaxSteps: number; ttt?: TttOverrides }): Promise<SelfEditPlan> {
    const settings = this.settings({ tttMaxSteps: opts.tttMaxSteps, answerMaxTokens: null, ttt: opts.ttt });
    const domain = this.domain([task], settings, null);
    const plan = domain.trainingPlan(domain.contexts()[0]!, selfEditOf(selfEdit, settings.arc.selfEdit.limits));
    return {
      examples: plan.rows.length,
      steps: plan.plannedSteps,
      ...(plan.skip !== null ? { skipped: plan.skip } : {}),
      notes: [...plan.notes],
    };
  }

  /** A run over `tasks` in memory: its config as the CLI would write it, its events told to `onEvent`. */
  private startRun(command: string, tasks: readonly ArcTaskView[], k: number, seed: number, settings: unknown, onEvent?: (e: RunEvent) => void): MemoryRun {
    const { identity, summary } = this.model();
    const config: RunConfig = {
      domain: 'arc',
      command,
      model: identity,
      tasks: { ids: tasks.map((t) => t.id), source: 'browser' },
      selfEditsPerTask: k,
      rounds: 1,
      seed,
      settings,
    };
    const software = { name: 'seal-webgpu', runtime: 'browser', ...(typeof navigator !== 'undefined' ? { userAgent: navigator.userAgent } : {}) };
    const run = MemoryRun.start(config, { software, device: summary.name }, onEvent ? { onEvent } : {});
    this.lastRun = run;
    return run;
  }

  /** Runs the loop over a run, recording how it ended (finished, failed, or cancelled as the CLI records Ctrl-C). */
  private async loop(run: MemoryRun, body: () => Promise<void>): Promise<void> {
    try {
      await body();
      run.finish();
    } catch (e) {
      run.fail(e);
      throw e;
    }
  }

  runCandidates(req: RunCandidatesRequest, onStep: (s: TttStepEvent) => void, opId: string): Promise<RunResult> {
    return this.op(opId, async (signal) => {
      const { seal } = this.model();
      const k = req.selfEdits.length;
      checkCount(k, 'selfEdits.length');
      const settings = this.settings({ tttMaxSteps: req.tttMaxSteps, answerMaxTokens: req.answerMaxTokens, ttt: req.ttt });
      const texts = req.selfEdits.map((e, i) => {
        try {
          return selfEditJson(selfEditOf(e, settings.arc.selfEdit.limits));
        } catch (err) {
          throw new Error(`self-edit ${i + 1}: ${(err as Error).message}`);
        }
      });
      const domain = this.domain([req.task], settings, null);
      const planned = new Map<number, number>();
      const run = this.startRun('eval', [req.task], k, req.seed, { ...settings, selfEdits: 'given' }, (e) => {
        if (e.type === 'candidate-started') planned.set(e.candidate, e.plannedSteps ?? 0);
        if (e.type === 'ttt-step') onStep({ candidate: e.candidate, step: e.step, totalSteps: planned.get(e.candidate) ?? e.step, loss: e.loss ?? Number.NaN });
      });
      this.spent.train = this.spent.generate = 0;
      await this.loop(run, () =>
        runSealLoop(run, new MemoryAdapterStore(), domain, seal, {
          mode: 'eval',
          sampling: { temperature: 0, topP: 1, maxNewTokens: 1, attemptsPerEdit: 1 },
          policyMode: 'adapter',
          policy: null,
          fixedSelfEdits: () => texts,
          signal,
        }),
      );
      const candidates = candidateResults(run, req.task.id, k);
      return { candidates, solved: candidates.some((c) => c.solved), trainSeconds: round3(this.spent.train), inferenceSeconds: round3(this.spent.generate) };
    });
  }

  restEmRound(req: RestEmRequest, onEvent: (e: RunEventLike) => void, opId: string): Promise<RestEmResult> {
    return this.op(opId, async (signal) => {
      const { seal } = this.model();
      checkCount(req.k, 'k');
      if (req.tasks.length === 0) throw new ArcDataError('a ReST-EM round needs at least one task');
      const settings = this.settings({ tttMaxSteps: req.tttMaxSteps, answerMaxTokens: req.answerMaxTokens, ttt: req.ttt });
      const domain = this.domain(req.tasks, settings, { maxNewTokensGiven: false });
      const d = ARC_REST_EM_DEFAULTS;
      const restEm: RestEmSettings = {
        winners: { kind: 'reward-above', threshold: req.winnerThreshold ?? 0 },
        lora: { ...d.lora, targets: [...d.lora.targets] },
        hyper: { ...d.hyper, ...(req.policyMaxSteps !== undefined ? { maxSteps: req.policyMaxSteps } : {}) },
        initSeed: d.initSeed,
        continuePolicy: true,
      };
      const store = new MemoryAdapterStore();
      const run = this.startRun('train', req.tasks, req.k, req.seed, { ...domain.settings, policyMode: 'adapter', restEm }, (e) =>
        onEvent(e as unknown as RunEventLike),
      );
      // Round 0 of `seal arc train`: self-edits sampled by the model itself, trained and scored, then the M-step.
      const sampling = domain.settings.arc.selfEdit.sampling;
      await this.loop(run, () =>
        runSealLoop(run, store, domain, seal, {
          mode: 'train',
          sampling: { temperature: sampling.temperature, topP: 1, maxNewTokens: sampling.maxNewTokens, attemptsPerEdit: sampling.attemptsPerEdit },
          policyMode: 'adapter',
          restEm,
          signal,
        }),
      );
      const round = run.state.rounds.get(0)!;
      if (!round.checkpoint) throw new Error('the ReST-EM round ended without a policy checkpoint');
      // The new policy samples from now on (and is what exportPolicy writes).
      this.policy = await store.load(round.checkpoint.path);
      const resampled = await this.sampleFor(domain, req.k, req.seed, signal);
      return {
        winners: round.checkpoint.examples,
        policyLoss: (round.sft?.steps ?? []).map((s) => s.loss ?? Number.NaN),
        resampled,
      };
    });
  }

  async exportPolicy(): Promise<Record<string, Uint8Array>> {
    const { summary } = this.model();
    if (!this.policy) throw new Error('there is no policy adapter yet: run a ReST-EM round or import one');
    const files = serializePeftAdapter(this.policy, { baseModel: summary.name });
    return { [PEFT_CONFIG_FILE]: new TextEncoder().encode(files.config), [PEFT_WEIGHTS_FILE]: files.weights };
  }

  async importPolicy(files: Record<string, Uint8Array>): Promise<void> {
    const { model } = this.model();
    const config = files[PEFT_CONFIG_FILE];
    const weights = files[PEFT_WEIGHTS_FILE];
    if (!config || !weights) throw new Error(`a PEFT adapter needs ${PEFT_CONFIG_FILE} and ${PEFT_WEIGHTS_FILE}`);
    this.policy = await parsePeftAdapter(model.config, { config: new TextDecoder().decode(config), weights });
  }

  logits(prompt: string, opts: { policy: boolean }): Promise<Float32Array> {
    return this.op(`logits ${++this.internalOps}`, () => this.lastLogits(prompt, opts.policy));
  }

  /** The logits at the prompt's last position, as `seal logits --ids` prints them (the prompt encoded with BOS). */
  private async lastLogits(prompt: string, policy: boolean): Promise<Float32Array> {
    const { model } = this.model();
    const ids = model.tokenizer.encode(prompt);
    // f32 matmuls, as `seal logits` computes them.
    const transformer = new Transformer(model.transformer.ctx, model.config, model.weights, { matmul: 'f32' });
    let adapter: LoraAdapter | null = null;
    try {
      if (policy) {
        if (!this.policy) throw new Error('there is no policy adapter yet: run a ReST-EM round or import one');
        adapter = LoraAdapter.upload(transformer.ctx, model.config, this.policy);
        transformer.setAdapter(adapter);
      }
      const rows = await transformer.logits({ ids });
      return rows.at(-1)!;
    } finally {
      adapter?.dispose();
      transformer.dispose();
    }
  }

  async exportSession(): Promise<string> {
    if (!this.lastRun) throw new Error('nothing has run yet: the session log is written by runCandidates and restEmRound');
    return this.lastRun.jsonl();
  }

  timeOneCandidate(opts: TimingRequest, opId: string): Promise<TimingResult> {
    return this.op(opId, async (signal) => {
      const { model, chatTemplate } = this.model();
      const task = opts.task ?? this.lastTask;
      if (!task) throw new Error('timeOneCandidate needs a task: pass one (opts.task) or sample or run one first');
      const ctx = model.transformer.ctx;
      const shaped = opts.shape === 'model' ? null : await syntheticModel(ctx, opts.layers, model.tokenizer);
      try {
        const config = shaped?.config ?? model.config;
        const plan = shaped ? checkFit(config, 2 * parameterCount(config), await this.deviceFacts()).plan : this.model().plan;
        const spent: Record<EngineTimingPhase, number> = { tokenize: 0, train: 0, generate: 0 };
        const engine = new GpuSealEngine(
          {
            ctx,
            config,
            weights: shaped?.weights ?? model.weights,
            transformer: shaped?.transformer ?? model.transformer,
            tokenizer: model.tokenizer,
            chatTemplate,
          },
          { sft: sftOptions(plan), onTiming: (phase, s) => (spent[phase] += s) },
        );
        const answerTokens =
          opts.answerTokens ??
          Math.max(...task.test.map((t) => (t.output ? model.tokenizer.encode(answerText(t.output), { addSpecialTokens: false }).length + 1 : 8)));
        const settings = (steps: number | null, tokens: number) => this.settings({ tttMaxSteps: steps, answerMaxTokens: tokens }, plan);
        const countTokens = (m: readonly ChatMessage[]) => engine.encode(m).length;
        const runOnce = async (s: ArcSealSettings) => {
          for (const key of Object.keys(spent) as EngineTimingPhase[]) spent[key] = 0;
          const domain = new ArcSealDomain(datasetOf([task]), s, { contextLength: config.maxPositionEmbeddings, countTokens });
          const context = domain.contexts()[0]!;
          const ttt = domain.trainingPlan(context, ARC_ORACLE_SELF_EDIT);
          if (ttt.skip !== null) throw new Error(`the oracle self-edit trains nothing on task ${task.id}: ${ttt.skip}`);
          const trained = await engine.trainCandidates([ttt], () => {}, signal);
          try {
            await engine.withScoringModels(trained, (m) => domain.score(context, m), signal);
          } finally {
            engine.release(trained);
          }
          return { steps: ttt.plannedSteps, examples: ttt.rows.length, queries: domain.inferencePlans(context).reduce((n, p) => n + p.queries.length, 0) };
        };
        try {
          await runOnce(settings(1, 2)); // warm-up: compiles every pipeline, so compilation is not counted
          const r = await runOnce(settings(opts.tttMaxSteps ?? null, answerTokens));
          return {
            shape: opts.shape === 'model' ? this.loaded!.summary.name : `Llama-3.2-1B (${config.numLayers} layers, random bf16 weights)`,
            trainSeconds: round3(spent.train),
            inferenceSeconds: round3(spent.generate),
            detail: `task ${task.id}, oracle self-edit: ${r.examples} TTT examples, ${r.steps} steps; ${r.queries} queries of ${answerTokens} answer tokens; tokenizer of ${this.loaded!.summary.name}`,
          };
        } finally {
          engine.dispose();
        }
      } finally {
        shaped?.dispose();
      }
    });
  }

  onDeviceLost(cb: (message: string) => void): void {
    this.lostCallbacks.push(cb);
    if (this.lost) cb(this.lost.message);
  }

  cancel(opId: string): void {
    this.ops.get(opId)?.abort();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const op of this.ops.values()) op.abort();
    await this.queue;
    this.unload();
    const ctx = await this.ctx?.catch(() => null);
    ctx?.dispose();
    this.ctx = null;
  }
}

/** A random-weight model at the Llama-3.2-1B shape (optionally fewer layers) for timing; the tokenizer must fit its vocabulary. */
async function syntheticModel(ctx: GpuContext, layers: number | undefined, tokenizer: TextTokenizer) {
  const config = parseModelConfig({ ...LLAMA_3_2_1B_CONFIG, ...(layers !== undefined ? { num_hidden_layers: layers } : {}) });
  if (tokenizer.vocabSize > config.vocabSize)
    throw new Error(`the loaded model's tokenizer has ${tokenizer.vocabSize} tokens, more than Llama-3.2-1B's ${config.vocabSize}`);
  const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
  const weights = await loadWeights(ctx, config, source, header);
  const transformer = new Transformer(ctx, config, weights);
  return {
    config,
    weights,
    transformer,
    dispose() {
      transformer.dispose();
      weights.dispose();
    },
  };
}

/** Each candidate's outcome, read from the run's state (as the report reads it). */
function candidateResults(run: MemoryRun, task: string, k: number): CandidateResult[] {
  const round = run.state.rounds.get(0)!;
  return Array.from({ length: k }, (_, i) => {
    const c = [...round.candidates.values()].find((x) => x.task === task && x.candidate === i);
    const score = c?.score;
    const tests = score?.tests ?? [];
    const prediction = (t: (typeof tests)[number]) => (t.prediction ?? {}) as { attempts?: GridJson[] | null; votes?: { grid: GridJson; count: number }[] };
    return {
      steps: c?.ttt.length ?? 0,
      ...(score?.skipped ? { skipped: score.skipped } : {}),
      predictions: tests.map((t) => prediction(t).attempts?.[0] ?? []),
      attempts: tests.map((t) => prediction(t).attempts ?? []),
      votes: tests.map((t) => prediction(t).votes ?? []),
      correct: tests.map((t) => t.correct),
      solved: score?.solved ?? false,
    };
  });
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new RangeError(`${what} must be a whole number from 1 to 64, got ${n}`);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** True inside a Web Worker (there is no document there). */
function isWorker(): boolean {
  return (
    typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined' &&
    typeof (globalThis as { document?: unknown }).document === 'undefined'
  );
}
