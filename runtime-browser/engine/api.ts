/**
 * The worker engine's contract: what a page (demo/, any web app) sends to and gets back from the SEAL engine that
 * runs in a dedicated Web Worker (runtime-browser/engine/worker.ts), through comlink (client.ts). Types only.
 *
 * Rules of the boundary:
 *   - plain data only (structured clone): no class instances; callbacks are passed wrapped in Comlink.proxy(fn);
 *   - every long call takes an `opId`; cancel(opId) aborts it: the call rejects with an error whose `name` is
 *     'AbortError' and the engine stays usable (its model loaded, its policy unchanged);
 *   - a bad input (a task, a self-edit, a model that does not fit) rejects with one clear message (`Error.message`),
 *     worded as the CLI words the same error;
 *   - a lost GPU device rejects every pending call and calls the onDeviceLost callback with what happened and that
 *     a reload (a new worker) is the way back.
 */

/** An ARC grid: rows of colours 0-9. */
export type GridJson = number[][];

/** Where a model comes from. */
export type ModelSource =
  /** The files of a model directory served over HTTP (the demo's bundled stories260K: its URL and file names). */
  | { kind: 'url'; url: string; files?: string[] }
  /** A Hugging Face Hub model, downloaded into OPFS (resumable) or found there; `endpoint` defaults to huggingface.co. */
  | { kind: 'hub'; id: string; revision?: string; endpoint?: string }
  /** Files the user picked or dropped (a model folder's config.json, tokenizer files and safetensors). */
  | { kind: 'files'; files: File[] };

export interface ModelSummary {
  /** What was loaded, for display: the URL, the hub id@revision, or the folder's name. */
  name: string;
  architecture: string;
  /** Parameters of the checkpoint (from the tensor shapes). */
  params: number;
  /** Bytes of the weights on the GPU. */
  weightBytes: number;
  contextLength: number;
  vocabSize: number;
  hasChatTemplate: boolean;
  /** Hub models: the commit the files are from, and whether they came from the browser's cache without a request. */
  commit?: string;
  fromCache?: boolean;
}

export interface DeviceInfo {
  vendor: string;
  architecture: string;
  description: string;
}

export interface EngineInfo {
  /** True when the engine runs inside a Web Worker (never on the page's thread). */
  inWorker: boolean;
  adapter: DeviceInfo;
  features: { shaderF16: boolean; subgroups: boolean };
  /** The device's limits that decide what fits (bytes). */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  model: ModelSummary | null;
  /** The memory plan in use for the loaded model (null without a model). */
  memoryPlan: MemoryPlan | null;
}

/** One memory-saving choice, with why it was made. */
export interface PlanChoice<T> {
  value: T;
  reason: string;
}

/** The memory-saving settings the engine runs TTT and inference with, chosen from the device's limits and features. */
export interface MemoryPlan {
  /** Activation recomputation in training (less memory, about a third more compute). */
  recompute: PlanChoice<boolean>;
  /** How the frozen base's products run in training: 'mixed' (16-bit operands) needs shader-f16; else 'f32'. */
  precision: PlanChoice<'f32' | 'mixed'>;
  /** Inference matmuls: 'auto' may round activations to f16 on shader-f16 devices; 'f32' keeps them f32. */
  matmul: PlanChoice<'auto' | 'f32'>;
  /** Examples per TTT optimizer step. */
  tttBatchSize: PlanChoice<number>;
  /** The TTT LoRA rank (the reference's 128, capped where memory is short). */
  tttRank: PlanChoice<number>;
  /** Most tokens of one training pass (longer micro-batches run as several passes; same result). */
  maxPassTokens: PlanChoice<number | null>;
}

export interface ModelInspection {
  name: string;
  architecture: string;
  params: number;
  /** Bytes of every file the model needs (what a download fetches). */
  bytes: number;
  /** Estimated GPU bytes for the loop: weights, LoRA and optimizer state, activations, KV cache. */
  estimatedGpuBytes: number;
  /** Whether the model fits this device; when not, `reason` names the limit and by how much it is exceeded. */
  fits: boolean;
  reason?: string;
  memoryPlan: MemoryPlan;
}

/** One ARC task as the page shows and sends it back (every test input with its solution when known). */
export interface ArcTaskView {
  id: string;
  train: { input: GridJson; output: GridJson }[];
  test: { input: GridJson; output: GridJson | null }[];
}

/** A self-edit in the schema's field names (what the policy writes, and what a card edits). */
export interface SelfEditJson {
  data_generation: {
    use_basic_augmentations: boolean;
    use_size_augmentations: boolean;
    use_chain_augmentations: boolean;
    use_repeat_augmentations: boolean;
  };
  training: {
    strategy: 'train_using_all_tokens' | 'train_using_output_tokens';
    learning_rate: number;
    num_train_epochs: number;
  };
}

export interface SelfEditSample {
  /** The generated text. */
  text: string;
  /** The parsed (and clamped) self-edit, or null when the text is not a valid one (then `error` says why). */
  selfEdit: SelfEditJson | null;
  error?: string;
}

export interface SampleRequest {
  task: ArcTaskView;
  k: number;
  seed: number;
  /** Default: the ARC default (128), raised for tokenizers whose self-edits take more tokens (as the CLI does). */
  maxNewTokens?: number;
  /** Default 0.8 (the reference's). */
  temperature?: number;
}

/** TTT settings a run may override (defaults: the ARC defaults within the memory plan). */
export interface TttOverrides {
  rank?: number;
  alpha?: number;
  batchSize?: number;
  warmupSteps?: number;
  maxExamples?: number;
}

export interface SelfEditPlan {
  /** TTT examples the self-edit's augmentations give this task, and the optimizer steps it trains. */
  examples: number;
  steps: number;
  /** Set when the candidate would not train (why). */
  skipped?: string;
  /** Why the plan differs from what the self-edit asks (a cap, a clamp). */
  notes: string[];
}

export interface RunCandidatesRequest {
  task: ArcTaskView;
  selfEdits: SelfEditJson[];
  /** Most TTT steps per candidate. */
  tttMaxSteps: number;
  /** New tokens per answer when scoring. */
  answerMaxTokens: number;
  seed: number;
  ttt?: TttOverrides;
}

export interface TttStepEvent {
  candidate: number;
  step: number;
  totalSteps: number;
  loss: number;
}

export interface VoteCount {
  grid: GridJson;
  count: number;
}

export interface CandidateResult {
  /** Optimizer steps it ran. */
  steps: number;
  /** Why it was not trained and scored, when it was not. */
  skipped?: string;
  /** Per test input: the voted first attempt ([] when there is none). */
  predictions: GridJson[];
  /** Per test input: the two attempts of the vote (pass@2). */
  attempts: GridJson[][];
  /** Per test input: every readable answer grid and how many queries gave it, most votes first. */
  votes: VoteCount[][];
  /** Per test input: whether one of the two attempts is the solution. */
  correct: boolean[];
  solved: boolean;
}

export interface RunResult {
  candidates: CandidateResult[];
  /** Whether some candidate solved the task. */
  solved: boolean;
  /** Wall-clock seconds of the trainer, and of the generation batches that scored. */
  trainSeconds: number;
  inferenceSeconds: number;
}

export interface RestEmRequest {
  tasks: ArcTaskView[];
  k: number;
  tttMaxSteps: number;
  answerMaxTokens: number;
  seed: number;
  /** Winners: candidates with a reward above this (default 0: solved ones, the paper; -1: every valid self-edit). */
  winnerThreshold?: number;
  /** Most policy SFT steps (default: the ARC default's 8 epochs). */
  policyMaxSteps?: number;
  ttt?: TttOverrides;
}

/** A record of the run's event log (src/seal/events.ts), as the CLI writes it to events.jsonl. */
export type RunEventLike = { type: string; seq: number; time: string } & Record<string, unknown>;

export interface RestEmResult {
  /** Winning (task, self-edit) pairs the policy was trained on. */
  winners: number;
  /** The policy SFT loss of each step. */
  policyLoss: number[];
  /** Per task: K self-edits sampled again from the new policy. */
  resampled: SelfEditSample[][];
}

export interface TimingRequest {
  /** 'llama-3.2-1b': random bf16 weights at the Llama-3.2-1B shape (with the loaded model's tokenizer); 'model': the loaded model. */
  shape: 'llama-3.2-1b' | 'model';
  /** Decoder layers of the 1B shape (default 16, the real model's). */
  layers?: number;
  /** The task (default: the one used last); trained with the oracle self-edit (all augmentations, 2 epochs). */
  task?: ArcTaskView;
  /** Cap on TTT steps (default: the self-edit's full plan). */
  tttMaxSteps?: number;
  /** Tokens decoded per answer (default: the true answer's length; random weights never stop early). */
  answerTokens?: number;
}

export interface TimingResult {
  shape: string;
  trainSeconds: number;
  inferenceSeconds: number;
  /** What was timed: steps, examples, queries, answer tokens, and the tokenizer used. */
  detail: string;
}

export interface LoadProgress {
  /** Bytes of all the model's files so far, out of their total (what a progress bar shows). */
  loaded: number;
  total: number;
  /** The file being fetched. */
  file: string;
}

/** The engine's methods as the page calls them (Comlink.Remote of SealWorkerEngine has this shape). */
export interface SealEngineApi {
  info(): Promise<EngineInfo>;
  inspectModel(src: ModelSource, opts?: { token?: string }): Promise<ModelInspection>;
  /** onProgress is its own argument (comlink proxies top-level arguments only: wrap it in Comlink.proxy, or pass null). */
  loadModel(src: ModelSource, opts: { token?: string }, onProgress: ((p: LoadProgress) => void) | null, opId: string): Promise<ModelSummary>;
  cachedModels(): Promise<{ id: string; bytes: number }[]>;
  deleteCachedModels(): Promise<void>;
  parseTask(json: string, id?: string): Promise<ArcTaskView>;
  loadTasks(challenges: string, solutions: string | null, ids?: string[]): Promise<ArcTaskView[]>;
  sampleSelfEdits(req: SampleRequest, onToken: (candidate: number, textSoFar: string) => void, opId: string): Promise<SelfEditSample[]>;
  planSelfEdit(task: ArcTaskView, selfEdit: SelfEditJson, opts: { tttMaxSteps: number; ttt?: TttOverrides }): Promise<SelfEditPlan>;
  runCandidates(req: RunCandidatesRequest, onStep: (s: TttStepEvent) => void, opId: string): Promise<RunResult>;
  restEmRound(req: RestEmRequest, onEvent: (e: RunEventLike) => void, opId: string): Promise<RestEmResult>;
  exportPolicy(): Promise<Record<string, Uint8Array>>;
  importPolicy(files: Record<string, Uint8Array>): Promise<void>;
  logits(prompt: string, opts: { policy: boolean }): Promise<Float32Array>;
  exportSession(): Promise<string>;
  timeOneCandidate(opts: TimingRequest, opId: string): Promise<TimingResult>;
  onDeviceLost(cb: (message: string) => void): void;
  cancel(opId: string): void;
  dispose(): Promise<void>;
}
