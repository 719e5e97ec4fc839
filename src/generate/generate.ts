/**
 * Text generation for ONE sequence with a KV cache: prefill the prompt, then one decode step per new token.
 * Greedy (temperature 0) picks the argmax of the logits; otherwise the GPU `sample` op draws the token with
 * step = index of the generated token, so the same seed gives the same output.
 * The token is chosen on the GPU from the logits in place (Transformer.step): one u32 comes back per step.
 */
import type { Transformer, TokenChooser } from '../model/transformer.ts';
import { sample } from '../ops/sampling.ts';
import type { TextTokenizer } from '../text/tokenizer.ts';

export interface GenerateTextOptions {
  /** The prompt, already tokenized (with BOS where the model wants it). */
  promptIds: readonly number[];
  maxNewTokens: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** 0 (default) = off. */
  topK?: number;
  /** 1 (default) = off; must be in (0, 1]. */
  topP?: number;
  /** u32 seed of the sampling stream; default 0. */
  seed?: number;
  /** Token ids that end generation (kept in `ids`, not in `text`); default the tokenizer's EOS ids. */
  stopIds?: readonly number[];
  /** Strings that end generation; the text is cut before the first one found. */
  stopStrings?: readonly string[];
  /** Called with each new piece of text as soon as it is complete (never text past a stop string). */
  onText?: (piece: string) => void;
}

export type FinishReason = 'stop' | 'length' | 'stop-string';

export interface GeneratedText {
  /** The generated ids (without the prompt), including the stop id when one ended generation. */
  ids: number[];
  /** The generated text (without the prompt, the stop id's text or a stop string). */
  text: string;
  finishReason: FinishReason;
}

/** Length of the longest suffix of `text` that is a proper prefix of one of the stop strings (held back while streaming). */
function partialStopLength(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

function checkOptions(o: GenerateTextOptions, vocab: number): void {
  const { maxNewTokens, temperature = 0, topK = 0, topP = 1, seed = 0 } = o;
  if (o.promptIds.length < 1) throw new RangeError('generateText: the prompt has no tokens');
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new RangeError(`generateText: maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new RangeError(`generateText: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`generateText: topK must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generateText: topP must be in (0, 1] (1 = off), got ${topP}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`generateText: seed must be an integer in [0, 2^32), got ${seed}`);
  for (const s of o.stopStrings ?? []) if (typeof s !== 'string' || s.length === 0) throw new RangeError('generateText: stop strings must be non-empty strings');
  for (const id of o.promptIds) if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`generateText: prompt token id ${id} outside [0, ${vocab})`);
}

export async function generateText(transformer: Transformer, tokenizer: TextTokenizer, options: GenerateTextOptions): Promise<GeneratedText> {
  const vocab = transformer.config.vocabSize;
  checkOptions(options, vocab);
  const { promptIds, maxNewTokens, temperature = 0, topK = 0, topP = 1, seed = 0, onText } = options;
  const stopIds = options.stopIds ?? tokenizer.eosIds;
  const stopStrings = options.stopStrings ?? [];

  // The prompt primes the decoder (its text is dropped) so the first new token decodes in context: SentencePiece
  // would strip the leading space of "▁Max" at the start of a text.
  const decoder = tokenizer.streamDecoder();
  decoder.pushAll(promptIds);
  const ids: number[] = [];
  let text = '';
  let emitted = 0;
  const emitUpTo = (end: number) => {
    if (end > emitted) {
      onText?.(text.slice(emitted, end));
      emitted = end;
    }
  };

  /** Records the choice of generated token number `step` (sample() is argmax at temperature 0). */
  const chooser = (step: number): TokenChooser => (rec, logits, tokens) =>
    sample(rec, { logits, tokens, rows: 1, vocab, temperature, topK, topP, seed, step });

  /** Appends decoded text; true when a stop string now appears (the text is then cut before it). */
  const append = (piece: string): boolean => {
    text += piece;
    const found = stopStrings.map((s) => text.indexOf(s)).filter((i) => i >= 0);
    if (found.length) {
      text = text.slice(0, Math.min(...found));
      emitUpTo(text.length);
      return true;
    }
    emitUpTo(text.length - partialStopLength(text, stopStrings));
    return false;
  };
  /** Ends the stream: whatever the decoder held back still counts for the stop strings. */
  const finish = (reason: FinishReason): GeneratedText => {
    if (append(decoder.flush())) return { ids, text, finishReason: 'stop-string' };
    emitUpTo(text.length);
    return { ids, text, finishReason: reason };
  };

  if (maxNewTokens === 0) return finish('length');
  const cache = transformer.createCache(promptIds.length + maxNewTokens);
  try {
    let input: readonly number[] = promptIds;
    for (let step = 0; step < maxNewTokens; step++) {
      const next = await transformer.step(cache, input, chooser(step));
      ids.push(next);
      if (stopIds.includes(next)) return finish('stop');
      if (append(decoder.push(next))) return { ids, text, finishReason: 'stop-string' };
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  return finish('length');
}
