import { beforeAll, describe, expect, it } from 'vitest';
import { tokenBytes, UnsupportedTokenizerError, type TokenBytes } from '../../src/constrain/token-bytes.ts';
import { TextTokenizer } from '../../src/text/tokenizer.ts';
import { LLAMA_DIR, loadDir, QWEN_DIR, readJsonFile, STORIES_DIR } from '../text/load.ts';

const TEXTS = [
  'Hello world',
  '{"name": "Max", "tags": ["a", "b"], "n": -1.5e3}',
  'naïve café, Ærøskøbing, e\u0301',
  '日本語のテキスト and 中文',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷!',
  '  spaces\n\nnewlines\ttabs \\ backslash "quotes"',
];

const utf8 = new TextEncoder();

function concat(parts: (Uint8Array | null)[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + (p?.length ?? 0), 0));
  let at = 0;
  for (const p of parts) {
    out.set(p!, at);
    at += p!.length;
  }
  return out;
}

// What each tokenizer's normalizer makes of a text before tokenizing it: Qwen2.5 applies NFC; SentencePiece writes a
// "▁" (a space) in front of the text, which decode() drops at the start.
const asIs = (t: string) => t;
describe.each([
  ['Llama 3.2', LLAMA_DIR, 'byte-level', 128256, asIs],
  ['Qwen2.5', QWEN_DIR, 'byte-level', 151665, (t: string) => t.normalize('NFC')],
  ['stories260K', STORIES_DIR, 'sentencepiece', 512, (t: string) => ` ${t}`],
] as const)('token bytes: %s', (_, dir, scheme, size, normalize) => {
  let tokenizer: TextTokenizer;
  let table: TokenBytes;
  beforeAll(async () => {
    tokenizer = await loadDir(dir);
    table = tokenBytes(tokenizer);
  });

  it(`is recognised as ${scheme}, also from tokenizer.json's decoder`, async () => {
    expect(table.scheme).toBe(scheme);
    expect(table.bytes.length).toBe(size);
    const fromJson = tokenBytes(tokenizer, { tokenizerJson: await readJsonFile(`${dir}/tokenizer.json`), verifySample: 0 });
    expect(fromJson.scheme).toBe(scheme);
    expect(fromJson.bytes).toEqual(table.bytes);
  });

  it('concatenating the bytes of encode(text) reproduces the text exactly (ASCII, accents, CJK, emoji)', () => {
    for (const text of TEXTS) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      const want = utf8.encode(normalize(text));
      expect(Array.from(concat(ids.map((id) => table.bytes[id]!))), JSON.stringify(text)).toEqual(Array.from(want));
    }
  });

  it("every token's bytes agree with the tokenizer's own decode() (all ids checked)", () => {
    expect(tokenBytes(tokenizer, { verifySample: Infinity }).bytes).toEqual(table.bytes);
  });

  it("special and added tokens (also non-special ones such as Qwen's <tool_call>) have no bytes; every single byte has a token", () => {
    for (const t of tokenizer.specialTokens) expect(table.bytes[t.id], t.content).toBeNull();
    const added = Object.keys((tokenizer.config.added_tokens_decoder ?? {}) as object).map(Number);
    expect(added.length).toBeGreaterThan(0);
    for (const id of added) expect(table.bytes[id], tokenizer.idToToken(id)).toBeNull();
    for (const id of tokenizer.eosIds) expect(table.bytes[id]).toBeNull();
    const single = new Set(table.bytes.filter((b) => b?.length === 1).map((b) => b![0]!));
    expect(single.size, 'tokens of one byte').toBe(256);
  });
});

describe('token bytes: other tokenizers', () => {
  /** A small WordPiece tokenizer (BERT style): neither scheme. */
  function wordPiece(vocab: string[]): TextTokenizer {
    return new TextTokenizer({
      tokenizer: {
        version: '1.0',
        added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
        normalizer: null,
        pre_tokenizer: { type: 'Whitespace' },
        post_processor: null,
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: {
          type: 'WordPiece',
          unk_token: '[UNK]',
          continuing_subword_prefix: '##',
          max_input_chars_per_word: 100,
          vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
        },
      },
    });
  }

  it('throws a clear error for a tokenizer of another kind', () => {
    // ASCII-only: looks byte-level by its characters, but WordPiece decodes "a" after "a" to " a" and "##ing" to "ing".
    expect(() => tokenBytes(wordPiece(['[UNK]', 'a', 'b', 'sing', '##ing', '##s']))).toThrow(UnsupportedTokenizerError);
    expect(() => tokenBytes(wordPiece(['[UNK]', 'a', 'b', 'sing', '##ing', '##s']))).toThrow(/unrecognised tokenizer: token \d+ \(.*\) decodes to/);
    // Characters outside GPT-2's byte alphabet and no "▁": neither scheme.
    expect(() => tokenBytes(wordPiece(['[UNK]', 'a', '日本', '##語']))).toThrow(/unrecognised tokenizer: its vocabulary is neither byte-level BPE/);
  });
});
