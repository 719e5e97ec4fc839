/**
 * TextTokenizer: a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json + generation_config.json) with the
 * model-facing facts a generation loop needs: BOS added exactly once, every EOS id, special ids, streaming decode.
 *
 * It receives parsed JSON objects (or a file reader, see loadTextTokenizer), so it runs unchanged in Node, Deno and the
 * browser. Encoding and decoding themselves are @huggingface/tokenizers.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { isJsonObject, specialTokenText, tokenIdList, TokenizerLoadError, type JsonObject } from './special-tokens.ts';

export { TokenizerLoadError } from './special-tokens.ts';

export interface TokenizerFiles {
  /** Parsed tokenizer.json (required). */
  tokenizer: unknown;
  /** Parsed tokenizer_config.json (special tokens, add_bos_token, chat_template). Optional: {} when absent. */
  tokenizerConfig?: unknown;
  /** Parsed generation_config.json (eos_token_id may be a number or a list). Optional. */
  generationConfig?: unknown;
}

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (BOS for Llama-style tokenizers). Default true. */
  addSpecialTokens?: boolean;
  /**
   * When the text itself already starts with the BOS token (a rendered chat template such as Llama 3's does), the
   * post-processor would add a second one; by default that duplicate is dropped. Set true to keep it (what
   * transformers' `tokenizer(prompt)` does; only useful for parity checks).
   */
  keepDuplicateBos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (<|eot_id|>, <s>, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Apply transformers' legacy "clean up tokenization spaces" (" ." → ".", " 's" → "'s", ...). Default false, even
   * when tokenizer_config.json asks for it (Llama 3 does), because it is lossy: "a , b" would not round-trip and a
   * streamed text could not match the full decode. vLLM does not apply it to generated text either.
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** A token string with its id, as listed in tokenizer.json's added_tokens with "special": true. */
export interface SpecialToken {
  id: number;
  content: string;
}

/** Parse files read by `read` into a TextTokenizer; `read` returns the file's text, or null/undefined when it is missing. */
export async function loadTextTokenizer(read: (fileName: string) => Promise<string | null | undefined>, where = 'the model directory'): Promise<TextTokenizer> {
  const tokenizer = await readJson(read, 'tokenizer.json', where);
  if (tokenizer === undefined) throw new TokenizerLoadError(`tokenizer.json is missing in ${where}: it is required to tokenize text`);
  const tokenizerConfig = await readJson(read, 'tokenizer_config.json', where);
  const generationConfig = await readJson(read, 'generation_config.json', where);
  return new TextTokenizer({ tokenizer, tokenizerConfig, generationConfig });
}

async function readJson(read: (fileName: string) => Promise<string | null | undefined>, fileName: string, where: string): Promise<unknown> {
  const text = await read(fileName);
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TokenizerLoadError(`${fileName} in ${where} is not valid JSON: ${(error as Error).message}`);
  }
}

export class TextTokenizer {
  /** The tokenizer_config.json object (chat_template, bos_token, ...), {} when none was given. */
  readonly config: JsonObject;
  /** tokenizer.json as parsed (its model, decoder and added tokens: what constrained decoding maps ids to bytes from). */
  readonly tokenizerJson: JsonObject;
  /** Number of token ids the tokenizer can produce: max id + 1 over the vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** Id of the BOS token, or null when the tokenizer has none (Qwen2.5). */
  readonly bosId: number | null;
  readonly bosToken: string | null;
  /** Whether encode() with special tokens starts the ids with BOS (add_bos_token, else what the post-processor does). */
  readonly addsBos: boolean;
  /** Ids that end generation: generation_config.json's eos_token_id (number or list), then tokenizer_config's eos_token. */
  readonly eosIds: readonly number[];
  readonly eosToken: string | null;
  readonly padId: number | null;
  readonly unkId: number | null;
  /** Added tokens flagged special in tokenizer.json, in id order. */
  readonly specialTokens: readonly SpecialToken[];

  private readonly hf: Tokenizer;
  private readonly specialIds: ReadonlySet<number>;
  /** Whether tokenizer.json's post-processor itself puts BOS in front (it may disagree with add_bos_token). */
  private readonly postProcessorAddsBos: boolean;

  constructor(files: TokenizerFiles) {
    const tokenizerJson = checkTokenizerJson(files.tokenizer);
    this.tokenizerJson = tokenizerJson;
    this.config = optionalObject(files.tokenizerConfig, 'tokenizer_config.json');
    const generationConfig = optionalObject(files.generationConfig, 'generation_config.json');
    try {
      this.hf = new Tokenizer(tokenizerJson, this.config);
    } catch (error) {
      throw new TokenizerLoadError(`tokenizer.json could not be loaded: ${(error as Error).message}`);
    }

    let maxId = -1;
    for (const id of this.hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const addedTokens = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [];
    this.specialTokens = addedTokens
      .filter((t): t is { id: number; content: string; special: true } => isJsonObject(t) && t.special === true)
      .map((t) => ({ id: t.id, content: t.content }))
      .sort((a, b) => a.id - b.id);
    this.specialIds = new Set(this.specialTokens.map((t) => t.id));

    // BOS: the configured token, else whatever the post-processor puts in front of the text.
    const withSpecials = this.hf.encode('a', { add_special_tokens: true }).ids;
    const without = this.hf.encode('a', { add_special_tokens: false }).ids;
    const postProcessorBos = withSpecials.length > without.length && withSpecials[0] !== without[0] ? (withSpecials[0] ?? null) : null;
    this.bosToken = specialTokenText(this.config, 'bos_token');
    this.bosId = this.bosToken !== null ? this.requireId(this.bosToken, 'bos_token') : postProcessorBos;
    const addBosSetting = this.config.add_bos_token;
    this.addsBos = this.bosId !== null && (typeof addBosSetting === 'boolean' ? addBosSetting : postProcessorBos === this.bosId);
    this.postProcessorAddsBos = postProcessorBos !== null && postProcessorBos === this.bosId;

    this.eosToken = specialTokenText(this.config, 'eos_token');
    const eosIds = tokenIdList(generationConfig, 'eos_token_id');
    if (this.eosToken !== null) eosIds.push(this.requireId(this.eosToken, 'eos_token'));
    for (const id of eosIds) this.checkId(id, 'eos_token_id');
    this.eosIds = [...new Set(eosIds)];

    const pad = specialTokenText(this.config, 'pad_token');
    this.padId = pad !== null ? this.requireId(pad, 'pad_token') : null;
    const unk = specialTokenText(this.config, 'unk_token');
    this.unkId = unk !== null ? (this.hf.token_to_id(unk) ?? null) : null;
  }

  /** Token ids of `text`. BOS is added at most once, see EncodeOptions. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode: text must be a string, got ${typeof text}`);
    const addSpecialTokens = options.addSpecialTokens ?? true;
    const ids = this.hf.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    if (!addSpecialTokens || this.bosId === null) return ids;
    // Make the BOS follow add_bos_token even where the post-processor disagrees with it.
    if (this.postProcessorAddsBos && !this.addsBos) ids.shift();
    if (!this.postProcessorAddsBos && this.addsBos) ids.unshift(this.bosId);
    if (this.addsBos && !options.keepDuplicateBos && ids.length >= 2 && ids[1] === this.bosId) ids.shift();
    return ids;
  }

  /** Text of `ids`. An empty list decodes to "". */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.checkId(id, 'decode');
    return this.hf.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? false,
    });
  }

  /** A decoder that turns ids into text as they arrive (for streaming generation). */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, options);
  }

  /** The vocabulary string of `id` (byte-level / SentencePiece form, e.g. "Ġworld", "▁Once", "<0xE6>"), or undefined. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** The id of a vocabulary string or added token, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  isEosId(id: number): boolean {
    return this.eosIds.includes(id);
  }

  private requireId(token: string, field: string): number {
    const id = this.hf.token_to_id(token);
    if (id === undefined) throw new TokenizerLoadError(`tokenizer_config.json: ${field} "${token}" is not in tokenizer.json's vocabulary`);
    return id;
  }

  private checkId(id: number, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`${what}: token id ${id} is not an integer in [0, ${this.vocabSize})`);
    }
  }
}

/**
 * Incremental detokenizer. Each push() returns only the new text. Text is decoded in a sliding window of the tokens
 * since the last emitted piece, so the cost per token is constant, and a piece is held back while it ends in U+FFFD:
 * a multi-byte character split across tokens (byte-level BPE, SentencePiece byte fallback) comes out whole once its
 * last byte arrives. Concatenating every push() and a final flush() gives exactly tokenizer.decode(allIds, options).
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  /** Start of the context window: tokens already emitted, kept so that leading-space rules decode them the same way. */
  private prefixOffset = 0;
  /** End of what has been emitted. */
  private readOffset = 0;

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly options: DecodeOptions = {},
  ) {}

  /** Append one id; returns the text it completes ("" while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const text = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    if (text.length <= prefixText.length || text.endsWith('\uFFFD') || !text.startsWith(prefixText)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return text.slice(prefixText.length);
  }

  /** Append several ids; returns the text they complete. */
  pushAll(ids: readonly number[]): string {
    let text = '';
    for (const id of ids) text += this.push(id);
    return text;
  }

  /** Everything still held back (an incomplete character decodes to U+FFFD, as in decode()). Ends the stream. */
  flush(): string {
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const text = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    this.prefixOffset = this.readOffset = this.ids.length;
    return text.startsWith(prefixText) ? text.slice(prefixText.length) : text;
  }

  /** All ids pushed so far. */
  get tokenIds(): readonly number[] {
    return this.ids;
  }
}

function checkTokenizerJson(value: unknown): JsonObject & { model: JsonObject } {
  if (value === undefined || value === null) throw new TokenizerLoadError('tokenizer.json is missing: it is required to tokenize text');
  if (!isJsonObject(value)) throw new TokenizerLoadError(`tokenizer.json must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  const model = value.model;
  if (!isJsonObject(model) || typeof model.type !== 'string' || model.vocab === undefined) {
    throw new TokenizerLoadError('tokenizer.json has no "model" with a "type" and a "vocab": is this a Hugging Face tokenizer.json?');
  }
  return value as JsonObject & { model: JsonObject };
}

function optionalObject(value: unknown, fileName: string): JsonObject {
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value)) throw new TokenizerLoadError(`${fileName} must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  return value;
}
