/**
 * The text side of one generated sequence: decodes ids as they arrive, cuts at stop strings, and streams only
 * text that can no longer turn out to be part of a stop string.
 */
import type { StreamDecoder, TextTokenizer } from '../text/tokenizer.ts';

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

export class SequenceText {
  readonly ids: number[] = [];
  private text = '';
  private emitted = 0;
  private readonly decoder: StreamDecoder;
  /** Set once the sequence has ended. */
  result: GeneratedText | null = null;

  constructor(
    tokenizer: TextTokenizer,
    promptIds: readonly number[],
    private readonly stopIds: readonly number[],
    private readonly stopStrings: readonly string[],
    private readonly onText?: (piece: string) => void,
  ) {
    // The prompt primes the decoder (its text is dropped) so the first new token decodes in context:
    // SentencePiece would strip the leading space of "▁Max" at the start of a text.
    this.decoder = tokenizer.streamDecoder();
    this.decoder.pushAll(promptIds);
  }

  /** Takes the next generated id; returns the result when the sequence ends with it (a stop id or stop string). */
  push(id: number): GeneratedText | null {
    this.ids.push(id);
    if (this.stopIds.includes(id)) return this.finish('stop');
    if (this.append(this.decoder.push(id))) return this.end('stop-string');
    return null;
  }

  /** Ends the sequence (token budget spent, or a stop id): whatever the decoder held back still counts for the stop strings. */
  finish(reason: FinishReason): GeneratedText {
    if (this.append(this.decoder.flush())) return this.end('stop-string');
    this.emitUpTo(this.text.length);
    return this.end(reason);
  }

  private end(finishReason: FinishReason): GeneratedText {
    this.result = { ids: this.ids, text: this.text, finishReason };
    return this.result;
  }

  private emitUpTo(end: number): void {
    if (end > this.emitted) {
      this.onText?.(this.text.slice(this.emitted, end));
      this.emitted = end;
    }
  }

  /** Appends decoded text; true when a stop string now appears (the text is then cut before it). */
  private append(piece: string): boolean {
    this.text += piece;
    const found = this.stopStrings.map((s) => this.text.indexOf(s)).filter((i) => i >= 0);
    if (found.length) {
      this.text = this.text.slice(0, Math.min(...found));
      this.emitUpTo(this.text.length);
      return true;
    }
    this.emitUpTo(this.text.length - partialStopLength(this.text, this.stopStrings));
    return false;
  }
}
