/**
 * The exact UTF-8 bytes each vocabulary id appends to the generated text, so a byte-level grammar can judge tokens.
 *
 * Two vocabulary schemes are recognised:
 *  - byte-level BPE (GPT-2, Llama 3, Qwen2): each vocabulary string spells bytes through GPT-2's byte-to-unicode
 *    table ("Ġ" = 0x20, "Ċ" = 0x0A, ...);
 *  - SentencePiece (Llama 2 style, stories260K): "▁" is a space, `<0xAB>` byte-fallback tokens are one raw byte,
 *    every other character is its own UTF-8.
 * Added tokens (BOS, EOS, chat markers, tool-call markers; special or not) get no bytes: they are matched atomically by
 * the tokenizer, so they never spell JSON. SentencePiece's decoder drops the space of "▁" at the very start of a text;
 * these are the bytes a token appends after other text, which is what a continuation of a prompt produces.
 *
 * The scheme comes from tokenizer.json's decoder when it is given, else from the vocabulary's characters, and is then
 * checked against the tokenizer's own decode() on a spread of tokens: a tokenizer that is neither scheme fails loudly.
 */
import type { TextTokenizer } from '../text/tokenizer.ts';

export type VocabularyScheme = 'byte-level' | 'sentencepiece';

/** Thrown when a tokenizer's vocabulary is not one of the schemes above, or does not decode the way its scheme says. */
export class UnsupportedTokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTokenizerError';
  }
}

export interface TokenBytes {
  scheme: VocabularyScheme;
  /** bytes[id]: what token `id` appends to the text; null for added/special tokens and ids without a vocabulary entry. */
  bytes: (Uint8Array | null)[];
}

export interface TokenBytesOptions {
  /** Parsed tokenizer.json (default: the tokenizer's own): its decoder decides the scheme, else the vocabulary does. */
  tokenizerJson?: unknown;
  /** How many tokens to check against tokenizer.decode() (spread over the vocabulary); default 512. 0 = none. */
  verifySample?: number;
}

/** GPT-2's bytes_to_unicode() inverted: char code of a byte-level vocabulary character -> its byte, -1 for others. */
function gpt2ByteDecoder(): Int16Array {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const decoder = new Int16Array(0x200).fill(-1);
  for (const b of printable) decoder[b] = b;
  let n = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) decoder[256 + n++] = b;
  return decoder;
}

const BYTE_DECODER = gpt2ByteDecoder();
const byteOfChar = (code: number) => (code < BYTE_DECODER.length ? BYTE_DECODER[code]! : -1);
const utf8 = new TextEncoder();

function byteLevelBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = byteOfChar(token.charCodeAt(i));
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const BYTE_FALLBACK = /^<0x([0-9A-Fa-f]{2})>$/;

function sentencePieceBytes(token: string): Uint8Array {
  const m = BYTE_FALLBACK.exec(token);
  if (m) return Uint8Array.of(parseInt(m[1]!, 16));
  return utf8.encode(token.replaceAll('\u2581', ' '));
}

/** Ids of added tokens: the special ones, plus every entry of tokenizer_config.json's added_tokens_decoder. */
function addedTokenIds(tokenizer: TextTokenizer, tokenizerJson: unknown): Set<number> {
  const ids = new Set(tokenizer.specialTokens.map((t) => t.id));
  const decoder = tokenizer.config.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') for (const key of Object.keys(decoder)) ids.add(Number(key));
  const added = (tokenizerJson as { added_tokens?: unknown } | undefined)?.added_tokens;
  if (Array.isArray(added)) for (const t of added) if (Number.isInteger((t as { id?: unknown }).id)) ids.add((t as { id: number }).id);
  return ids;
}

/** The scheme tokenizer.json's decoder names, or null when it names neither. */
function schemeFromJson(tokenizerJson: unknown): VocabularyScheme | null {
  const decoder = (tokenizerJson as { decoder?: unknown } | null)?.decoder as { type?: string; decoders?: { type?: string }[] } | null | undefined;
  if (!decoder) return null;
  const types = decoder.type === 'Sequence' ? (decoder.decoders ?? []).map((d) => d.type) : [decoder.type];
  if (types.includes('ByteLevel')) return 'byte-level';
  if (types.includes('ByteFallback') || types.includes('Metaspace')) return 'sentencepiece';
  return null;
}

/** The scheme the vocabulary's characters imply: "▁" means SentencePiece; only GPT-2 byte characters mean byte-level. */
function schemeFromVocabulary(strings: (string | undefined)[]): VocabularyScheme | null {
  let allByteLevel = true;
  for (const s of strings) {
    if (s === undefined) continue;
    if (s.includes('\u2581')) return 'sentencepiece';
    for (let i = 0; allByteLevel && i < s.length; i++) allByteLevel = byteOfChar(s.charCodeAt(i)) >= 0;
  }
  return allByteLevel ? 'byte-level' : null;
}

/** The bytes every id of `tokenizer` appends to the text. Throws UnsupportedTokenizerError for other kinds of tokenizer. */
export function tokenBytes(tokenizer: TextTokenizer, options: TokenBytesOptions = {}): TokenBytes {
  const json = options.tokenizerJson ?? tokenizer.tokenizerJson;
  const added = addedTokenIds(tokenizer, json);
  const strings: (string | undefined)[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) strings.push(added.has(id) ? undefined : tokenizer.idToToken(id));
  const scheme = schemeFromJson(json) ?? schemeFromVocabulary(strings);
  if (!scheme) {
    throw new UnsupportedTokenizerError(
      'unrecognised tokenizer: its vocabulary is neither byte-level BPE (GPT-2 byte characters) nor SentencePiece ("▁" for spaces, <0xAB> byte tokens); constrained decoding cannot map its tokens to bytes',
    );
  }
  const bytes = strings.map((s, id) => {
    if (s === undefined) return null;
    if (scheme === 'sentencepiece') return sentencePieceBytes(s);
    const b = byteLevelBytes(s);
    if (!b) throw new UnsupportedTokenizerError(`byte-level tokenizer: token ${id} (${JSON.stringify(s)}) has a character outside GPT-2's byte alphabet`);
    return b;
  });
  verifyAgainstDecode(tokenizer, scheme, bytes, options.verifySample ?? 512);
  return { scheme, bytes };
}

/**
 * Checks the byte table against the tokenizer's own decoder: for a spread of tokens whose bytes are complete UTF-8,
 * decode([anchor, id]) must be decode([anchor]) followed by exactly those bytes. The anchor (a one-letter token) keeps
 * the SentencePiece start-of-text space rule out of the comparison.
 */
function verifyAgainstDecode(tokenizer: TextTokenizer, scheme: VocabularyScheme, bytes: (Uint8Array | null)[], sample: number): void {
  if (sample <= 0) return;
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // a BOM token is text too
  const anchor = bytes.findIndex((b) => b !== null && b.length === 1 && b[0]! >= 0x61 && b[0]! <= 0x7a);
  if (anchor < 0) throw new UnsupportedTokenizerError(`${scheme} tokenizer: no one-letter token to check the byte table with`);
  const anchorText = tokenizer.decode([anchor]);
  const stride = Math.max(1, Math.floor(bytes.length / sample));
  for (let id = 0; id < bytes.length; id += stride) {
    const b = bytes[id];
    if (!b || b.length === 0) continue;
    let text: string;
    try {
      text = strict.decode(b);
    } catch {
      continue; // part of a multi-byte character: decode() would show U+FFFD
    }
    const got = tokenizer.decode([anchor, id]);
    if (got !== anchorText + text) {
      throw new UnsupportedTokenizerError(
        `unrecognised tokenizer: token ${id} (${JSON.stringify(tokenizer.idToToken(id))}) decodes to ${JSON.stringify(got.slice(anchorText.length))}, but the ${scheme} byte mapping gives ${JSON.stringify(text)}`,
      );
    }
  }
}
