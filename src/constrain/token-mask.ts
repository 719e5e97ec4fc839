/**
 * Token masks for JSON-schema constrained decoding: for a recognizer state, the bitmask of the vocabulary ids that may
 * come next (Uint32Array(ceil(vocabSize / 32)), bit j of word j >> 5 set = id j allowed), the layout the GPU sampling
 * ops take as `mask`.
 *
 * A token is allowed when the recognizer accepts all of its bytes from the state; EOS ids are allowed exactly when the
 * document is complete (then they are all that is allowed if nothing can follow). Ids without bytes (special and
 * added tokens, ids past the tokenizer's vocabulary up to the model's logits width) are never allowed otherwise.
 * After an EOS the state is finished: its mask allows only EOS, so a finished row of a batch can keep running.
 *
 * Masks are computed by walking the vocabulary's byte trie with the recognizer, pruning a subtree at the first refused
 * byte. Inside a string body, tokens that are plain string text (no quote, backslash or control byte, whole UTF-8
 * characters) are allowed in bulk by their length in code points, and only the other tokens are walked. Masks are
 * cached per state key (states repeat: an unbounded string's body, the same array slot).
 *
 * A state with no allowed token cannot be reached with a vocabulary that has a token for every byte (byte-level BPE
 * and SentencePiece with byte fallback do): every grammar state has a completion. Should it happen anyway (a
 * vocabulary missing byte tokens), mask() throws a NoAllowedTokenError instead of returning an empty mask.
 */
import type { TextTokenizer } from '../text/tokenizer.ts';
import type { Grammar } from './grammar.ts';
import { compileJsonSchema, type JsonSchemaOptions } from './json-schema.ts';
import { Recognizer, type RecognizerState } from './recognizer.ts';
import { tokenBytes, type TokenBytesOptions } from './token-bytes.ts';
import type { TokenTrie } from './token-trie.ts';
import { VocabularyIndex } from './vocabulary-index.ts';

export interface ConstraintVocabulary {
  /** bytes[id]: what id appends to the text; null (or empty) = never allowed inside the document. */
  bytes: readonly (Uint8Array | null)[];
  /** Ids that end generation (allowed once the document is complete). At least one. */
  eosIds: readonly number[];
  /** The vocabulary's index, when it was built already (shared by constraints on one vocabulary). */
  index?: VocabularyIndex;
}

export interface ConstraintOptions {
  /** Width of the model's logits (>= the tokenizer's vocabulary; Qwen2.5 pads to 151936). Default bytes.length. */
  vocabSize?: number;
  /** How many masks to keep cached (by state); default 256. */
  maskCacheSize?: number;
}

export interface JsonSchemaConstraintOptions extends ConstraintOptions, JsonSchemaOptions, Pick<TokenBytesOptions, 'tokenizerJson'> {}

/** Where a sequence is in its document; immutable. */
export interface ConstraintState {
  /** The recognizer's state, or null once EOS has been emitted (finished). */
  readonly recognizer: RecognizerState | null;
}

export class NoAllowedTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAllowedTokenError';
  }
}

const FINISHED: ConstraintState = Object.freeze({ recognizer: null });
const indexes = new WeakMap<TextTokenizer, VocabularyIndex>();

export class JsonSchemaConstraint {
  readonly recognizer: Recognizer;
  /** Mask width in tokens (the logits width). */
  readonly vocabSize: number;
  /** u32 words per mask: ceil(vocabSize / 32). */
  readonly maskWords: number;
  readonly eosIds: readonly number[];
  readonly start: ConstraintState;

  private readonly index: VocabularyIndex;
  private readonly isEos: Uint8Array;
  private readonly cache = new Map<string, Uint32Array>();
  private readonly cacheSize: number;
  private readonly keys = new WeakMap<ConstraintState, string>();
  private readonly eosMask: Uint32Array;

  /**
   * A constraint for `schema` over a tokenizer's vocabulary (see token-bytes.ts for the byte mapping). The vocabulary's
   * byte table and tries are built once per tokenizer and reused by later constraints.
   */
  static fromTokenizer(schema: unknown, tokenizer: TextTokenizer, options: JsonSchemaConstraintOptions = {}): JsonSchemaConstraint {
    const grammar = compileJsonSchema(schema, options);
    let index = indexes.get(tokenizer);
    if (!index) {
      index = new VocabularyIndex(tokenBytes(tokenizer, { tokenizerJson: options.tokenizerJson }).bytes);
      indexes.set(tokenizer, index);
    }
    return new JsonSchemaConstraint(grammar, { bytes: index.bytes, eosIds: tokenizer.eosIds, index }, options);
  }

  constructor(grammar: Grammar | Recognizer, vocabulary: ConstraintVocabulary, options: ConstraintOptions = {}) {
    this.recognizer = grammar instanceof Recognizer ? grammar : new Recognizer(grammar);
    const vocabSize = options.vocabSize ?? vocabulary.bytes.length;
    if (!Number.isInteger(vocabSize) || vocabSize < vocabulary.bytes.length) {
      throw new RangeError(`JsonSchemaConstraint: vocabSize ${vocabSize} is smaller than the vocabulary (${vocabulary.bytes.length} ids)`);
    }
    this.vocabSize = vocabSize;
    this.maskWords = Math.ceil(vocabSize / 32);
    this.eosIds = [...new Set(vocabulary.eosIds)];
    if (this.eosIds.length === 0) throw new RangeError('JsonSchemaConstraint: the vocabulary has no EOS id, so a document could never end');
    for (const id of this.eosIds)
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`JsonSchemaConstraint: EOS id ${id} outside [0, ${vocabSize})`);
    this.isEos = new Uint8Array(vocabSize);
    for (const id of this.eosIds) this.isEos[id] = 1;
    this.index = vocabulary.index ?? new VocabularyIndex(vocabulary.bytes);
    if (this.index.bytes !== vocabulary.bytes) throw new RangeError('JsonSchemaConstraint: the vocabulary index was built for other bytes');
    this.cacheSize = options.maskCacheSize ?? 256;
    this.eosMask = new Uint32Array(this.maskWords);
    for (const id of this.eosIds) setBit(this.eosMask, id);
    this.start = { recognizer: this.recognizer.start };
  }

  /** Whether the document is complete (EOS allowed). */
  isComplete(state: ConstraintState): boolean {
    return state.recognizer === null || this.recognizer.isComplete(state.recognizer);
  }

  /** Whether an EOS id has been emitted. */
  isFinished(state: ConstraintState): boolean {
    return state.recognizer === null;
  }

  /** The ids allowed next. Cached and shared: do not modify it. */
  mask(state: ConstraintState): Uint32Array {
    if (state.recognizer === null) return this.eosMask;
    const key = this.key(state);
    let mask = this.cache.get(key);
    if (mask) return mask;
    mask = this.computeMask(state.recognizer);
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!); // oldest first
    this.cache.set(key, mask);
    return mask;
  }

  isAllowed(state: ConstraintState, id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return false;
    return (this.mask(state)[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  /** The state after token `id`; throws when the mask does not allow it. */
  advance(state: ConstraintState, id: number): ConstraintState {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new RangeError(`JsonSchemaConstraint.advance: token id ${id} outside [0, ${this.vocabSize})`);
    if (this.isEos[id]) {
      if (!this.isComplete(state)) throw new RangeError(`JsonSchemaConstraint.advance: EOS id ${id} before the document is complete`);
      return FINISHED;
    }
    if (state.recognizer === null) throw new RangeError(`JsonSchemaConstraint.advance: token ${id} after EOS (only EOS may follow)`);
    const bytes = this.index.bytes[id];
    const next = bytes?.length ? this.recognizer.advanceBytes(state.recognizer, bytes) : null;
    if (!next) throw new RangeError(`JsonSchemaConstraint.advance: token ${id} (${describe(bytes)}) cannot continue the document here`);
    return { recognizer: next };
  }

  /** A tracker for one sequence, starting at the beginning of the document. */
  sequence(): ConstrainedSequence {
    return new ConstrainedSequence(this);
  }

  /** Copies the masks of `states` into rows of `out` ([states.length, maskWords] u32), e.g. for upload to the GPU. */
  writeMasks(states: readonly ConstraintState[], out: Uint32Array): void {
    if (out.length < states.length * this.maskWords) throw new RangeError(`writeMasks: out holds ${out.length} words, need ${states.length * this.maskWords}`);
    states.forEach((s, row) => {
      out.set(this.mask(s), row * this.maskWords);
    });
  }

  private key(state: ConstraintState): string {
    let key = this.keys.get(state);
    if (key === undefined) {
      key = this.recognizer.stateKey(state.recognizer!);
      this.keys.set(state, key);
    }
    return key;
  }

  private computeMask(state: RecognizerState): Uint32Array {
    const mask = new Uint32Array(this.maskWords);
    const { strings, room, others } = this.recognizer.splitStringBodies(state);
    if (strings) {
      // Plain string text keeps a thread in its string body: such a token fits when its length fits.
      const upTo = this.index.plainMasks(this.maskWords);
      if (room > 0) mask.set(upTo[Math.min(room, upTo.length - 1)]!);
      this.walk(this.index.nonPlainTrie, strings, mask);
    }
    if (others) this.walk(this.index.trie, others, mask);
    // EOS ids by completeness only, whatever bytes a vocabulary gives them.
    const complete = this.recognizer.isComplete(state);
    for (const id of this.eosIds) {
      if (complete) setBit(mask, id);
      else mask[id >>> 5]! &= ~(1 << (id & 31));
    }
    if (!complete && mask.every((w) => w === 0)) {
      throw new NoAllowedTokenError(
        `no token can continue the document after state ${this.recognizer.stateKey(state)}: the vocabulary has no token for any byte the schema allows here (it needs single-byte tokens)`,
      );
    }
    return mask;
  }

  /** Sets the bits of every token of `trie` whose bytes the recognizer accepts from `state`. */
  private walk(trie: TokenTrie, state: RecognizerState, mask: Uint32Array): void {
    const { firstChild, nextSibling, byte, tokenStart, tokenEnd, tokens } = trie;
    const recognizer = this.recognizer;
    const visit = (node: number, s: RecognizerState) => {
      for (let k = tokenStart[node]!; k < tokenEnd[node]!; k++) setBit(mask, tokens[k]!);
      for (let c = firstChild[node]!; c >= 0; c = nextSibling[c]!) {
        const next = recognizer.advance(s, byte[c]!);
        if (next) visit(c, next);
      }
    };
    visit(0, state);
  }
}

function setBit(mask: Uint32Array, id: number): void {
  mask[id >>> 5]! |= 1 << (id & 31);
}

function describe(bytes: Uint8Array | null | undefined): string {
  if (!bytes || bytes.length === 0) return 'no bytes: a special or added token';
  return JSON.stringify(new TextDecoder().decode(bytes));
}

/**
 * One sequence's way through a constraint, in the shape generation loops take: allowed() is the mask for the next
 * token, accept(id) takes the token that was chosen.
 */
export class ConstrainedSequence {
  private current: ConstraintState;

  constructor(readonly constraint: JsonSchemaConstraint) {
    this.current = constraint.start;
  }

  get state(): ConstraintState {
    return this.current;
  }

  /** Mask of the ids allowed next (shared: do not modify). */
  allowed(): Uint32Array {
    return this.constraint.mask(this.current);
  }

  /** Takes the chosen token; throws when the mask did not allow it. */
  accept(id: number): void {
    this.current = this.constraint.advance(this.current, id);
  }

  /** Whether the document is complete (EOS allowed). */
  isComplete(): boolean {
    return this.constraint.isComplete(this.current);
  }
}
