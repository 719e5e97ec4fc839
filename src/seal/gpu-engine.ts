/**
 * The SEAL engine on the GPU (SealEngine over one loaded model): self-edits sampled with generateBatch under a
 * JSON-schema constraint per sequence, K candidate adapters trained together by trainSft (one job each, all from
 * the same initialisation), K candidates scored together (their generate calls batched by a GenerationBarrier, each
 * sequence under its candidate's adapter, applied unmerged through Transformer.setAdapters), and the policy adapter
 * trained by trainSft on the base weights.
 *
 * The policy (PolicyMode): 'adapter' applies it (unmerged) only while sampling; 'merge' builds W + s·B·A once per
 * policy (mergeAdapterWeights, f32) and a Transformer over it, which then samples, is TTT-trained and is scored.
 * Prompts are rendered with the model's chat template (a pinned date; BOS once) and encoded as the SFT data path
 * does, so a counted, trained and generated conversation are the same tokens.
 */
import { JsonSchemaConstraint } from '../constrain/index.ts';
import { generateBatch, type GeneratedText } from '../generate/generate.ts';
import type { GpuContext } from '../gpu/context.ts';
import { LoraAdapter } from '../lora/adapter.ts';
import { resolveLoraConfig, type LoraConfig } from '../lora/config.ts';
import { initLoraWeights, type LoraHostWeights } from '../lora/host-weights.ts';
import { mergeAdapterWeights } from '../lora/merge.ts';
import type { ModelConfig } from '../model/config.ts';
import { Transformer } from '../inference/transformer.ts';
import type { ModelWeights } from '../model/weights.ts';
import { encodeChat, type ChatMessage, type ChatTemplate } from '../text/chat-template.ts';
import type { TextTokenizer } from '../text/tokenizer.ts';
import { tokenizeSftRows, type LossMode, type SftDataRow } from '../train/sft-data.ts';
import { trainSft, type SftOptions, type SftStepInfo } from '../train/sft.ts';
import type { GenerateOptions, GeneratedSample, InnerTrainingPlan, ScoringModel } from './domain.ts';
import { runBehindBarrier } from './generation-barrier.ts';
import type { PolicyMode, PolicyTrainingJob, SampleOptions, SealEngine, TrainedCandidate, TrainingStep } from './engine.ts';

export interface GpuEngineModel {
  ctx: GpuContext;
  config: ModelConfig;
  weights: ModelWeights;
  transformer: Transformer;
  tokenizer: TextTokenizer;
  /** The model's chat template, or a stand-in for a model without one (src/seal/plain-chat-template.ts). */
  chatTemplate: ChatTemplate;
}

export interface GpuEngineOptions {
  /** Trainer options (maxPassTokens, recompute, headChunkBytes) for TTT and the policy. */
  sft?: Omit<SftOptions, 'onStep'>;
  /** Most sequences generated at once (default: generateBatch's). */
  maxBatch?: number;
  /**
   * Told the wall-clock seconds of each piece of GPU work as it ends: 'tokenize' (TTT data to ids), 'train' (the
   * trainer, TTT or policy), 'generate' (a generation batch: sampling or scoring). For benchmarks and run timings.
   */
  onTiming?: (phase: EngineTimingPhase, seconds: number) => void;
}

export type EngineTimingPhase = 'tokenize' | 'train' | 'generate';

const sampleOf = (g: GeneratedText): GeneratedSample => ({ text: g.text, tokens: g.ids.length, finishReason: g.finishReason });

/** A candidate adapter on the GPU. */
class GpuCandidate implements TrainedCandidate {
  constructor(
    readonly adapter: LoraAdapter,
    readonly steps: number,
  ) {}
  download(): Promise<LoraHostWeights> {
    return this.adapter.download();
  }
}

/** A scoring model: counts tokens as the engine encodes, generates through its candidate's barrier. */
class GenerationModel implements ScoringModel {
  constructor(
    private readonly engine: GpuSealEngine,
    readonly generate: (prompts: readonly (readonly ChatMessage[])[], options: GenerateOptions) => Promise<GeneratedSample[]>,
  ) {}

  get contextLength(): number {
    return this.engine.model.config.maxPositionEmbeddings;
  }

  countTokens(messages: readonly ChatMessage[]): number {
    return this.engine.encode(messages).length;
  }
}

export class GpuSealEngine implements SealEngine {
  private policyAdapter: LoraAdapter | null = null;
  private merged: { weights: ModelWeights; transformer: Transformer } | null = null;
  private policyWeights: LoraHostWeights | null = null;
  private policyMode: PolicyMode = 'adapter';
  private readonly inits = new Map<string, LoraHostWeights>();
  private readonly constraints = new Map<string, JsonSchemaConstraint>();

  constructor(
    readonly model: GpuEngineModel,
    private readonly options: GpuEngineOptions = {},
  ) {}

  /** The Transformer that samples, trains and scores: the merged policy model, else the base. */
  private get active(): Transformer {
    return this.merged?.transformer ?? this.model.transformer;
  }

  /** The token ids of a conversation: a generation prompt unless it ends with the assistant's turn. */
  encode(messages: readonly ChatMessage[]): number[] {
    const addGenerationPrompt = messages[messages.length - 1]?.role !== 'assistant';
    return encodeChat(this.model.tokenizer, messages, { template: this.model.chatTemplate, addGenerationPrompt });
  }

  async setPolicy(policy: LoraHostWeights | null, mode: PolicyMode): Promise<void> {
    if (policy === this.policyWeights && mode === this.policyMode) return;
    this.disposePolicy();
    this.policyWeights = policy;
    this.policyMode = mode;
    if (policy === null) return;
    const { ctx, config, weights } = this.model;
    const adapter = LoraAdapter.upload(ctx, config, policy);
    if (mode === 'adapter') {
      this.policyAdapter = adapter;
      return;
    }
    try {
      const mergedWeights = mergeAdapterWeights(ctx, config, weights, adapter);
      this.merged = { weights: mergedWeights, transformer: new Transformer(ctx, config, mergedWeights, this.model.transformer.options) };
    } finally {
      adapter.dispose(); // the merge is queued: later writes to its buffers run after it
    }
  }

  async sample(prompts: readonly (readonly ChatMessage[])[], options: SampleOptions): Promise<GeneratedSample[]> {
    const { schema, onSample, onText, signal, ...generate } = options;
    const constraint = schema === null || schema === undefined ? null : this.constraintFor(schema);
    const transformer = this.active;
    transformer.setAdapter(this.policyAdapter);
    try {
      return await this.generate(transformer, prompts, generate, constraint, onSample, undefined, { onText, signal });
    } finally {
      transformer.setAdapter(null);
    }
  }

  private constraintFor(schema: unknown): JsonSchemaConstraint {
    const key = JSON.stringify(schema);
    let c = this.constraints.get(key);
    if (!c) {
      c = JsonSchemaConstraint.fromTokenizer(schema, this.model.tokenizer, { vocabSize: this.model.config.vocabSize });
      this.constraints.set(key, c);
    }
    return c;
  }

  /** Generates after every prompt with `transformer` as it is (adapter included). */
  async generate(
    transformer: Transformer,
    prompts: readonly (readonly ChatMessage[])[],
    options: GenerateOptions,
    constraint: JsonSchemaConstraint | null = null,
    onSample?: (index: number, sample: GeneratedSample) => void,
    adapters?: readonly number[],
    run: { onText?: (index: number, piece: string) => void; signal?: AbortSignal | undefined } = {},
  ): Promise<GeneratedSample[]> {
    if (prompts.length === 0) return [];
    const t0 = performance.now();
    const ids = prompts.map((p) => this.encode(p));
    const context = this.model.config.maxPositionEmbeddings;
    const longest = Math.max(...ids.map((p) => p.length));
    if (longest >= context) throw new RangeError(`a prompt of ${longest} tokens does not leave room to generate in the model's ${context}-token context`);
    const maxNewTokens = Math.min(options.maxNewTokens, context - longest);
    const out = await generateBatch(transformer, this.model.tokenizer, {
      prompts: ids,
      maxNewTokens,
      temperature: options.temperature ?? 0,
      topP: options.topP ?? 1,
      seed: options.seed ?? 0,
      ...(options.streams ? { streams: options.streams } : {}),
      ...(options.stopStrings ? { stopStrings: options.stopStrings } : {}),
      ...(adapters ? { adapters } : {}),
      ...(this.options.maxBatch ? { maxBatch: this.options.maxBatch } : {}),
      ...(constraint ? { constraint: () => constraint.sequence() } : {}),
      ...(onSample ? { onDone: (i: number, g: GeneratedText) => onSample(i, sampleOf(g)) } : {}),
      ...(run.onText ? { onText: run.onText } : {}),
      ...(run.signal ? { signal: run.signal } : {}),
    });
    this.options.onTiming?.('generate', (performance.now() - t0) / 1000);
    return out.map(sampleOf);
  }

  /** Host weights of a fresh adapter (cached: every candidate starts from the same initialisation). */
  private initWeights(lora: LoraConfig, seed: number): LoraHostWeights {
    const resolved = resolveLoraConfig(lora);
    const key = JSON.stringify([resolved, seed]);
    let w = this.inits.get(key);
    if (!w) {
      w = initLoraWeights(this.model.config, resolved, { seed });
      this.inits.set(key, w);
    }
    return w;
  }

  private tokenize(rows: readonly SftDataRow[], lossMode: LossMode, source: string) {
    return tokenizeSftRows(rows, {
      tokenizer: this.model.tokenizer,
      chatTemplate: this.model.chatTemplate,
      lossMode,
      source,
      maxLength: this.model.config.maxPositionEmbeddings,
      maxLengthReason: "the model's context",
    });
  }

  async trainCandidates(
    plans: readonly InnerTrainingPlan[],
    onStep: (step: TrainingStep) => void | Promise<void>,
    signal?: AbortSignal,
  ): Promise<TrainedCandidate[]> {
    const { ctx, config } = this.model;
    const t0 = performance.now();
    const examples = plans.map((p, i) => {
      if (p.skip !== null) throw new Error(`trainCandidates: plan ${i} is a skip (${p.skip})`);
      return this.tokenize(p.rows, p.lossMode, `TTT data of candidate ${i}`);
    });
    this.options.onTiming?.('tokenize', (performance.now() - t0) / 1000);
    const adapters: LoraAdapter[] = [];
    try {
      for (const p of plans) adapters.push(LoraAdapter.upload(ctx, config, this.initWeights(p.lora, p.loraInitSeed)));
      const t1 = performance.now();
      const results = await trainSft(
        ctx,
        config,
        this.merged?.weights ?? this.model.weights,
        plans.map((p, i) => ({ adapter: adapters[i]!, examples: examples[i]!, hyper: p.hyper })),
        {
          ...this.options.sft,
          onStep: (s) => onStep(trainingStep(s, s.job)),
          ...(signal ? { signal } : {}),
        },
      );
      this.options.onTiming?.('train', (performance.now() - t1) / 1000);
      return adapters.map((a, i) => new GpuCandidate(a, results[i]!.steps));
    } catch (e) {
      for (const a of adapters) a.dispose();
      throw e;
    }
  }

  async withScoringModels<T>(
    candidates: readonly (TrainedCandidate | null)[],
    body: (model: ScoringModel, index: number) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T[]> {
    const transformer = this.active;
    const adapters: LoraAdapter[] = [];
    // Per candidate: the index of its adapter in the transformer's list (-1: none).
    const adapterOf = candidates.map((c) => {
      if (c === null) return -1;
      if (!(c instanceof GpuCandidate)) throw new TypeError('withScoringModels: not a candidate of this engine');
      const known = adapters.indexOf(c.adapter);
      return known >= 0 ? known : adapters.push(c.adapter) - 1;
    });
    transformer.setAdapters(adapters);
    try {
      return await runBehindBarrier(
        candidates.length,
        (batch) =>
          this.generate(
            transformer,
            batch.prompts,
            batch.options,
            null,
            undefined,
            batch.participants.map((p) => adapterOf[p]!),
            { signal },
          ),
        (_, generate) => new GenerationModel(this, generate),
        body,
      );
    } finally {
      transformer.setAdapters([]);
    }
  }

  release(candidates: readonly TrainedCandidate[]): void {
    for (const c of candidates) if (c instanceof GpuCandidate) c.adapter.dispose();
  }

  async trainPolicy(job: PolicyTrainingJob, onStep: (step: TrainingStep) => void | Promise<void>, signal?: AbortSignal): Promise<LoraHostWeights> {
    const { ctx, config, weights } = this.model;
    const init = 'weights' in job.init ? job.init.weights : this.initWeights(job.lora, job.init.seed);
    const want = resolveLoraConfig(job.lora);
    const have = init.config;
    if (want.rank !== have.rank || want.alpha !== have.alpha || want.rsLora !== have.rsLora || want.targets.join(',') !== have.targets.join(',')) {
      throw new Error(
        `policy SFT: the previous policy adapter (r=${have.rank}, alpha=${have.alpha}, ${have.targets.join(',')}) is not the configured policy LoRA (r=${want.rank}, alpha=${want.alpha}, ${want.targets.join(',')}); continue with the same LoRA settings or start the policy afresh`,
      );
    }
    if (job.rows.length === 0) return init;
    const examples = this.tokenize(job.rows, job.lossMode, 'policy SFT data');
    const adapter = LoraAdapter.upload(ctx, config, init);
    try {
      const t0 = performance.now();
      await trainSft(ctx, config, weights, [{ adapter, examples, hyper: job.hyper }], {
        ...this.options.sft,
        onStep: (s) => onStep(trainingStep(s, 0)),
        ...(signal ? { signal } : {}),
      });
      this.options.onTiming?.('train', (performance.now() - t0) / 1000);
      return await adapter.download();
    } finally {
      adapter.dispose();
    }
  }

  private disposePolicy(): void {
    this.policyAdapter?.dispose();
    this.policyAdapter = null;
    if (this.merged) {
      this.merged.transformer.dispose();
      this.merged.weights.dispose();
      this.merged = null;
    }
    this.policyWeights = null;
  }

  /** Frees the policy (the base model stays the caller's). */
  dispose(): void {
    this.disposePolicy();
  }
}

/** An SFT step as the SEAL core records it (`job`: the candidate's index in its group; 0 for the policy). */
function trainingStep(s: SftStepInfo, job: number): TrainingStep {
  return {
    job,
    step: s.step,
    totalSteps: s.totalSteps,
    loss: s.loss,
    lr: s.lr,
    tokens: s.trainedTokens,
    inputTokens: s.tokens,
    epoch: s.epoch,
    gradNorm: s.gradNorm,
  };
}
