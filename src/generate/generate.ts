/**
 * Text generation with a KV cache, for many sequences at once: continuous batching over the cache's slots.
 * Every step runs each active sequence's new tokens (its prompt the first time, then the token chosen last step)
 * through Transformer.stepBatch and picks every next token on the GPU; a finished sequence frees its slot for
 * the next waiting prompt.
 *
 * Sampling is per sequence: sequence i draws from stream streams[i] (default i) at step = the index of the token
 * it is generating, so its output depends only on (seed, stream, prompt, settings), never on which other
 * sequences share the batch: generating prompts together equals generating them one at a time.
 * Greedy (temperature 0) takes the argmax. An optional constraint per sequence masks the vocabulary each step.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { KvCache } from '../model/kv-cache.ts';
import type { SequenceChunk, TokenChooser, Transformer } from '../inference/transformer.ts';
import { sample } from '../ops/sampling.ts';
import type { TextTokenizer } from '../text/tokenizer.ts';
import { SequenceText, type GeneratedText } from './sequence-text.ts';

export type { FinishReason, GeneratedText } from './sequence-text.ts';

/** Restricts what one sequence may generate (e.g. a JSON schema). */
export interface SequenceConstraint {
  /** Bitmask over the vocabulary of the tokens allowed next (bit j of word j >> 5 set = token j allowed). */
  allowed(): Uint32Array;
  /** Takes the token that was chosen. */
  accept(id: number): void;
}

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** 0 (default) = off. */
  topK?: number;
  /** 1 (default) = off; must be in (0, 1]. */
  topP?: number;
  /** u32 seed of the sampling streams; default 0. */
  seed?: number;
  /** Token ids that end a sequence (kept in `ids`, not in `text`); default the tokenizer's EOS ids. */
  stopIds?: readonly number[];
  /** Strings that end a sequence; its text is cut before the first one found. */
  stopStrings?: readonly string[];
  /** Stops generating between two steps: the call rejects with the signal's reason (an AbortError), its cache freed. */
  signal?: AbortSignal;
}

export interface GenerateBatchOptions extends SamplingOptions {
  /** The prompts, already tokenized (with BOS where the model wants it). */
  prompts: readonly (readonly number[])[];
  /** Sampling stream of each prompt (u32); default its index. */
  streams?: readonly number[];
  /** Most sequences in the KV cache at once; default min(prompts, 32). */
  maxBatch?: number;
  /** Called with each new piece of sequence `index`'s text as soon as it is final (never text past a stop string). */
  onText?: (index: number, piece: string) => void;
  /** Called when sequence `index` ends. */
  onDone?: (index: number, result: GeneratedText) => void;
  /** A fresh constraint for sequence `index`. */
  constraint?: (index: number) => SequenceConstraint;
  /** Per prompt: the index of the LoRA adapter it runs under (Transformer.setAdapters; -1: none); default the transformer's. */
  adapters?: readonly number[];
  /**
   * Pipelined decoding (default true): while the GPU runs a step, the next is recorded and submitted from its
   * tokens still on the GPU, so the CPU's recording and the read-back overlap the GPU's work. The outputs are
   * the same either way; false waits for every step's tokens before recording the next (for measurements).
   */
  pipeline?: boolean;
}

export interface GenerateTextOptions extends SamplingOptions {
  /** The prompt, already tokenized (with BOS where the model wants it). */
  promptIds: readonly number[];
  /** Sampling stream (u32); default 0. */
  stream?: number;
  /** LoRA adapter index (Transformer.setAdapters; -1: none); default the transformer's. */
  adapter?: number;
  /** Called with each new piece of text as soon as it is final. */
  onText?: (piece: string) => void;
  constraint?: SequenceConstraint;
}

const isU32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const DEFAULT_MAX_BATCH = 32;

function checkOptions(o: GenerateBatchOptions, vocab: number): void {
  const { maxNewTokens, temperature = 0, topK = 0, topP = 1, seed = 0 } = o;
  if (o.prompts.length < 1) throw new RangeError('generate: no prompts');
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new RangeError(`generate: maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new RangeError(`generate: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`generate: topK must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generate: topP must be in (0, 1] (1 = off), got ${topP}`);
  if (!isU32(seed)) throw new RangeError(`generate: seed must be an integer in [0, 2^32), got ${seed}`);
  if (o.maxBatch !== undefined && !(Number.isInteger(o.maxBatch) && o.maxBatch >= 1))
    throw new RangeError(`generate: maxBatch must be a positive integer, got ${o.maxBatch}`);
  if (o.adapters && (o.adapters.length !== o.prompts.length || !o.adapters.every((g) => Number.isInteger(g) && g >= -1))) {
    throw new RangeError(`generate: adapters must hold one adapter index (>= -1) per prompt (${o.prompts.length})`);
  }
  if (o.streams && (o.streams.length !== o.prompts.length || !o.streams.every(isU32))) {
    throw new RangeError(`generate: streams must hold one u32 per prompt (${o.prompts.length})`);
  }
  for (const s of o.stopStrings ?? []) if (typeof s !== 'string' || s.length === 0) throw new RangeError('generate: stop strings must be non-empty strings');
  o.prompts.forEach((ids, i) => {
    if (ids.length < 1) throw new RangeError(`generate: prompt ${i} has no tokens`);
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`generate: prompt ${i} token id ${id} outside [0, ${vocab})`);
  });
}

/** A sequence being generated in a cache slot. */
interface Active {
  index: number;
  slot: number;
  /** Tokens to run next: the prompt, then the last chosen token. */
  input: readonly number[];
  text: SequenceText;
  constraint?: SequenceConstraint;
}

/** Generates a continuation of every prompt; results in prompt order. */
export async function generateBatch(transformer: Transformer, tokenizer: TextTokenizer, options: GenerateBatchOptions): Promise<GeneratedText[]> {
  const vocab = transformer.config.vocabSize;
  checkOptions(options, vocab);
  options.signal?.throwIfAborted();
  const { prompts, maxNewTokens, temperature = 0, topK = 0, topP = 1, seed = 0 } = options;
  const stopIds = options.stopIds ?? tokenizer.eosIds;
  const stopStrings = options.stopStrings ?? [];
  const streams = options.streams ?? prompts.map((_, i) => i);
  const results: (GeneratedText | null)[] = prompts.map(() => null);
  const done = (index: number, result: GeneratedText) => {
    results[index] = result;
    options.onDone?.(index, result);
  };
  const newText = (index: number) =>
    new SequenceText(tokenizer, prompts[index]!, stopIds, stopStrings, options.onText && ((piece) => options.onText!(index, piece)));

  if (maxNewTokens === 0) {
    prompts.forEach((_, i) => {
      done(i, newText(i).finish('length'));
    });
    return results as GeneratedText[];
  }
  const maxT = Math.max(...prompts.map((p) => p.length)) + maxNewTokens;
  // As many slots as asked for, and as fit one buffer per layer (the rest wait for a free slot); at least one, whose
  // cache reports the limit if even that does not fit.
  const slots = Math.max(1, Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, prompts.length, KvCache.slotsThatFit(transformer.ctx, transformer.config, maxT)));
  const cache = transformer.createCache(maxT, slots);
  const ctx = transformer.ctx;
  const waiting = prompts.map((_, i) => i);
  const freeSlots = Array.from({ length: slots }, (_, s) => slots - 1 - s);
  const active: Active[] = [];
  const admit = () => {
    while (freeSlots.length && waiting.length) {
      const index = waiting.shift()!;
      const slot = freeSlots.pop()!;
      cache.reset(slot);
      active.push({ index, slot, input: prompts[index]!, text: newText(index), constraint: options.constraint?.(index) });
    }
  };
  const sampling = { vocab, temperature, topK, topP, seed, streams };
  /** A submitted step: its rows (the active sequences, in row order) and their chosen tokens on the GPU. */
  interface Launched {
    rows: Active[];
    tokens: Tensor;
    read: Promise<ArrayLike<number>>;
  }
  const launch = (rows: Active[], deviceIds?: Tensor): Launched => {
    // Tokens sampled now are index ids.length of each row, or one further when the previous step's are not pushed yet.
    const ahead = deviceIds ? 1 : 0;
    const entries: SequenceChunk[] = rows.map((a) => ({ slot: a.slot, ids: a.input, adapter: options.adapters?.[a.index] }));
    const { choose, free } = chooser(ctx, rows, ahead, sampling);
    let tokens: Tensor;
    try {
      tokens = transformer.launchStep(cache, entries, choose, deviceIds);
    } finally {
      free();
    }
    return { rows, tokens, read: ctx.read(tokens) };
  };
  /** Takes a step's tokens into its rows' texts; returns whether some row finished (and left `active`). */
  const take = (rows: readonly Active[], tokens: ArrayLike<number>): boolean => {
    let finished = false;
    rows.forEach((a, r) => {
      if (!active.includes(a)) return; // finished a step earlier: this token ran past its end
      const id = tokens[r]!;
      a.constraint?.accept(id);
      const result = a.text.push(id) ?? (a.text.ids.length === maxNewTokens ? a.text.finish('length') : null);
      if (result) {
        done(a.index, result);
        active.splice(active.indexOf(a), 1);
        freeSlots.push(a.slot);
        finished = true;
      } else {
        a.input = [id];
      }
    });
    return finished;
  };
  // The next step can be launched from this one's tokens still on the GPU when no row needs the host between the
  // two (a constraint masks each step from the tokens so far) and each row has room for one more token.
  const pipelineOff = options.pipeline === false;
  const canPipeline = (rows: readonly Active[]) => !pipelineOff && rows.every((a) => !a.constraint && a.text.ids.length + 2 <= maxNewTokens);
  let inflight: Launched | null = null;
  try {
    admit();
    while (active.length || inflight) {
      options.signal?.throwIfAborted();
      if (!inflight) {
        // Rows of one adapter side by side: each run of them costs two thin LoRA matmuls per projection.
        if (options.adapters) active.sort((x, y) => options.adapters![x.index]! - options.adapters![y.index]!);
        inflight = launch([...active]);
      }
      const current: Launched = inflight;
      inflight = null;
      let tokens: ArrayLike<number>;
      try {
        // While the GPU runs this step, record and submit the next one, fed by this step's tokens on the GPU.
        if (canPipeline(current.rows)) inflight = launch(current.rows, current.tokens);
        tokens = await current.read;
      } finally {
        ctx.free(current.tokens);
      }
      const next: Launched | null = inflight;
      if (!take(current.rows, tokens)) continue;
      // A row finished: the next step's rows no longer match `active`. Take its tokens for the rows still going,
      // then launch from the host again (with freed slots filled).
      inflight = null;
      if (next) {
        try {
          take(next.rows, await next.read);
        } finally {
          ctx.free(next.tokens);
        }
      }
      admit();
    }
  } finally {
    if (inflight) {
      const t = inflight.tokens;
      await inflight.read.catch(() => undefined);
      ctx.free(t);
    }
    cache.dispose();
  }
  return results as GeneratedText[];
}

/** One sequence (see generateBatch). */
export async function generateText(transformer: Transformer, tokenizer: TextTokenizer, options: GenerateTextOptions): Promise<GeneratedText> {
  const { promptIds, stream = 0, onText, constraint, adapter, ...sampling } = options;
  const [out] = await generateBatch(transformer, tokenizer, {
    ...sampling,
    prompts: [promptIds],
    streams: [stream],
    adapters: adapter === undefined ? undefined : [adapter],
    onText: onText && ((_, piece) => onText(piece)),
    constraint: constraint && (() => constraint),
  });
  return out!;
}

/**
 * Records the choice of every active sequence's next token: per-row streams and steps (the index of the token
 * each sequence generates now) keep each sequence's randomness its own; masks come from the constraints.
 */
function chooser(
  ctx: GpuContext,
  active: readonly Active[],
  /** Tokens of each row chosen but not yet pushed to its text (pipelined steps). */
  ahead: number,
  s: { vocab: number; temperature: number; topK: number; topP: number; seed: number; streams: readonly number[] },
): { choose: TokenChooser; free: () => void } {
  const owned: Tensor[] = [];
  const choose: TokenChooser = (rec, logits, tokens) => {
    const rows = active.length;
    const upload = (dtype: 'u32', shape: number[], data: ArrayLike<number>, label: string) => {
      const t = ctx.upload(dtype, shape, data, label);
      owned.push(t);
      return t;
    };
    const streamT = upload(
      'u32',
      [rows],
      active.map((a) => s.streams[a.index]!),
      'sample streams',
    );
    const stepT = upload(
      'u32',
      [rows],
      active.map((a) => a.text.ids.length + ahead),
      'sample steps',
    );
    let mask: Tensor | undefined;
    if (active.some((a) => a.constraint)) {
      const words = Math.ceil(s.vocab / 32);
      const bits = new Uint32Array(rows * words).fill(0xffffffff);
      active.forEach((a, r) => {
        if (a.constraint) bits.set(checkMask(a.constraint.allowed(), words, a.index), r * words);
      });
      mask = upload('u32', [rows, words], bits, 'token mask');
    }
    sample(rec, {
      logits,
      tokens,
      rows,
      vocab: s.vocab,
      temperature: s.temperature,
      topK: s.topK,
      topP: s.topP,
      seed: s.seed,
      streams: streamT,
      steps: stepT,
      mask,
    });
  };
  // Freed once the step is submitted: a pooled buffer reused earlier could be overwritten before the kernel reads it.
  return { choose, free: () => ctx.free(...owned) };
}

function checkMask(mask: Uint32Array, words: number, index: number): Uint32Array {
  if (mask.length !== words) throw new RangeError(`generate: the constraint of sequence ${index} gave a mask of ${mask.length} words, need ${words}`);
  if (!mask.some((w) => w !== 0)) throw new Error(`generate: the constraint of sequence ${index} allows no token`);
  return mask;
}
