import { beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer, TokenizerLoadError, loadTextTokenizer } from '../../src/text/tokenizer.ts';
import { LLAMA_DIR, QWEN_DIR, STORIES_DIR, dirReader, loadDir, readJsonFile } from './load.ts';
import { rng } from '../harness/numerics.ts';

// Strings that exercise byte-level BPE and SentencePiece byte fallback: CJK, emoji (4-byte, ZWJ sequences, flags),
// combining marks, newlines, runs of spaces.
const AWKWARD = [
  'Hello world',
  'Once upon a time, there was a dog named Max.',
  '日本語のテキスト and 中文 mixed',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷!',
  'e\u0301 combining, naïve café',
  '  leading spaces\n\nand\ttabs  ',
  'code: for (let i = 0; i < 10; i++) { x += 1; }',
  "Hello , world . Don't stop",
];

const RANDOM_PIECES = [
  'a',
  'the',
  ' ',
  '  ',
  '\n',
  '日',
  '本',
  '語',
  '😀',
  '👍🏽',
  '‍',
  'é',
  'e\u0301',
  ',',
  '.',
  '!',
  '7',
  '42',
  'Ω',
  'ß',
  '𝔘',
  '中文',
  ' word',
];

function randomText(random: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += RANDOM_PIECES[Math.floor(random() * RANDOM_PIECES.length)];
  return text;
}

/** Push `ids` one at a time; returns the pieces (flush last). */
function stream(tokenizer: TextTokenizer, ids: number[], skipSpecialTokens: boolean): string[] {
  const decoder = tokenizer.streamDecoder({ skipSpecialTokens });
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  return pieces;
}

function expectStreamMatchesDecode(tokenizer: TextTokenizer, text: string, context = ''): void {
  const ids = tokenizer.encode(text);
  for (const skipSpecialTokens of [false, true]) {
    const pieces = stream(tokenizer, ids, skipSpecialTokens);
    const message = `${context} text=${JSON.stringify(text)} skipSpecialTokens=${skipSpecialTokens} pieces=${JSON.stringify(pieces)}`;
    expect(pieces.join(''), message).toBe(tokenizer.decode(ids, { skipSpecialTokens }));
    // Complete text only: a split character is held back, never emitted as U+FFFD.
    expect(
      pieces.some((piece) => piece.includes('\uFFFD')),
      message,
    ).toBe(false);
  }
}

describe('Llama 3.2 tokenizer', () => {
  let llama: TextTokenizer;
  let vocab: Map<string, number>;
  beforeAll(async () => {
    llama = await loadDir(LLAMA_DIR);
    vocab = new Map(Object.entries(((await readJsonFile(`${LLAMA_DIR}/tokenizer.json`)).model as { vocab: Record<string, number> }).vocab));
  });

  it('encodes "Hello world" with BOS exactly once', () => {
    expect(llama.encode('Hello world')).toEqual([128000, 9906, 1917]);
    expect([vocab.get('Hello'), vocab.get('Ġworld')]).toEqual([9906, 1917]);
    expect(llama.encode('Hello world', { addSpecialTokens: false })).toEqual([9906, 1917]);
    expect(llama.bosId).toBe(128000);
    expect(llama.bosToken).toBe('<|begin_of_text|>');
    expect(llama.addsBos).toBe(true);
  });

  it('does not double BOS when the text already starts with it (rendered chat prompts)', () => {
    expect(llama.encode('<|begin_of_text|>Hello world')).toEqual([128000, 9906, 1917]);
    // transformers' behaviour (and SEAL's reference code), kept available for parity checks.
    expect(llama.encode('<|begin_of_text|>Hello world', { keepDuplicateBos: true })).toEqual([128000, 128000, 9906, 1917]);
    expect(llama.encode('<|begin_of_text|>Hello world', { addSpecialTokens: false })).toEqual([128000, 9906, 1917]);
  });

  it('has eos ids from generation_config.json and tokenizer_config.json', () => {
    expect(llama.eosIds).toEqual([128001, 128008, 128009]);
    expect(llama.eosToken).toBe('<|eot_id|>');
    for (const id of [128001, 128008, 128009]) expect(llama.isEosId(id)).toBe(true);
    expect(llama.isEosId(128000)).toBe(false);
  });

  it('looks up ids, tokens and special tokens', () => {
    expect(llama.vocabSize).toBe(128256);
    expect(llama.tokenToId('<|eot_id|>')).toBe(128009);
    expect(llama.tokenToId('<|start_header_id|>')).toBe(128006);
    expect(llama.idToToken(128008)).toBe('<|eom_id|>');
    expect(llama.idToToken(1917)).toBe('Ġworld');
    expect(llama.tokenToId('no such token')).toBeUndefined();
    expect(llama.specialTokens.length).toBe(256);
    expect(llama.specialTokens[0]).toEqual({ id: 128000, content: '<|begin_of_text|>' });
    expect(llama.isSpecialId(128009)).toBe(true);
    expect(llama.isSpecialId(9906)).toBe(false);
    expect(llama.padId).toBeNull();
  });

  it('decodes back to the input text', () => {
    for (const text of AWKWARD) {
      const ids = llama.encode(text);
      expect(llama.decode(ids), text).toBe(`<|begin_of_text|>${text}`);
      expect(llama.decode(ids, { skipSpecialTokens: true }), text).toBe(text);
    }
    expect(llama.decode([])).toBe('');
  });

  it("applies transformers' lossy space clean-up only when asked", () => {
    const ids = llama.encode('Hello , world .', { addSpecialTokens: false });
    expect(llama.decode(ids)).toBe('Hello , world .');
    expect(llama.decode(ids, { cleanUpTokenizationSpaces: true })).toBe('Hello, world.');
  });

  it('streams exactly the full decode', () => {
    for (const text of AWKWARD) expectStreamMatchesDecode(llama, text);
    const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
    const random = rng(seed);
    for (let i = 0; i < 20; i++) expectStreamMatchesDecode(llama, randomText(random, 1 + Math.floor(random() * 30)), `seed=${seed}`);
  });

  it('holds back a character split across byte-level tokens', () => {
    // "😀" alone is one token in Llama 3; "🫠" (newer emoji) is split into byte tokens.
    const ids = llama.encode('🫠', { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(1);
    const pieces = stream(llama, ids, false);
    expect(pieces.slice(0, -2).every((piece) => piece === '')).toBe(true);
    expect(pieces.join('')).toBe('🫠');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => llama.decode([128256])).toThrow(/token id 128256 is not an integer in \[0, 128256\)/);
    expect(() => llama.decode([1.5])).toThrow(RangeError);
  });
});

describe('Qwen2.5 tokenizer', () => {
  let qwen: TextTokenizer;
  let vocab: Map<string, number>;
  beforeAll(async () => {
    qwen = await loadDir(QWEN_DIR);
    vocab = new Map(Object.entries(((await readJsonFile(`${QWEN_DIR}/tokenizer.json`)).model as { vocab: Record<string, number> }).vocab));
  });

  it('adds no BOS', () => {
    expect(qwen.bosId).toBeNull();
    expect(qwen.addsBos).toBe(false);
    expect(qwen.encode('Hello world')).toEqual([vocab.get('Hello'), vocab.get('Ġworld')]);
    expect(qwen.encode('Hello world')).toEqual(qwen.encode('Hello world', { addSpecialTokens: false }));
  });

  it('encodes the ChatML special tokens as single ids', () => {
    expect(qwen.tokenToId('<|im_start|>')).toBe(151644);
    expect(qwen.tokenToId('<|im_end|>')).toBe(151645);
    expect(qwen.encode('<|im_start|>user\nHi<|im_end|>')).toEqual([151644, vocab.get('user'), vocab.get('Ċ'), vocab.get('Hi'), 151645]);
    expect(qwen.encode(' 123 中文')).toEqual([vocab.get('Ġ'), vocab.get('1'), vocab.get('2'), vocab.get('3'), vocab.get('Ġä¸Ń'), vocab.get('æĸĩ')]);
  });

  it('knows its eos, pad and vocabulary size', () => {
    expect(qwen.eosIds).toEqual([151645, 151643]);
    expect(qwen.padId).toBe(151643);
    expect(qwen.vocabSize).toBe(151665);
    expect(qwen.isSpecialId(151644)).toBe(true);
  });

  it('round-trips and streams exactly the full decode', () => {
    for (const text of AWKWARD) {
      // Qwen's normalizer is NFC: "e\u0301" comes back as "é".
      expect(qwen.decode(qwen.encode(text)), text).toBe(text.normalize('NFC'));
      expectStreamMatchesDecode(qwen, text);
    }
    const chat = qwen.encode('<|im_start|>assistant\n你好 😀<|im_end|>');
    expect(stream(qwen, chat, true).join('')).toBe('assistant\n你好 😀');
  });
});

describe('stories260K tokenizer (SentencePiece BPE with byte fallback)', () => {
  let stories: TextTokenizer;
  beforeAll(async () => {
    stories = await loadDir(STORIES_DIR);
  });

  it('matches the README: 512 pieces, <unk>=0, <s>=1, </s>=2, BOS added, eos [2, 1]', async () => {
    expect(stories.vocabSize).toBe(512);
    expect([stories.tokenToId('<unk>'), stories.tokenToId('<s>'), stories.tokenToId('</s>')]).toEqual([0, 1, 2]);
    expect(stories.unkId).toBe(0);
    expect(stories.bosId).toBe(1);
    expect(stories.addsBos).toBe(true);
    expect(stories.eosIds).toEqual([2, 1]);
    const model = (await readJsonFile(`${STORIES_DIR}/tokenizer.json`)).model as { type: string; byte_fallback: boolean; merges: unknown[] };
    expect([model.type, model.byte_fallback, model.merges.length]).toEqual(['BPE', true, 165]);
  });

  it('adds BOS once and byte-falls-back on CJK and emoji', () => {
    const ids = stories.encode('Once upon a time 日');
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1).length).toBe(1);
    expect(ids.slice(1, 5).map((id) => stories.idToToken(id))).toEqual(['▁Once', '▁upon', '▁a', '▁time']);
    expect(ids.slice(-3).map((id) => stories.idToToken(id))).toEqual(['<0xE6>', '<0x97>', '<0xA5>']);
    expect(stories.encode('<s>Once')).toEqual(stories.encode('Once'));
  });

  it('round-trips and streams exactly the full decode', () => {
    for (const text of AWKWARD) {
      expect(stories.decode(stories.encode(text), { skipSpecialTokens: true }), text).toBe(text);
      expectStreamMatchesDecode(stories, text);
    }
    const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
    const random = rng(seed);
    for (let i = 0; i < 30; i++) expectStreamMatchesDecode(stories, randomText(random, 1 + Math.floor(random() * 30)), `seed=${seed}`);
  });

  it('holds back byte-fallback pieces until the character is complete, and flushes a cut-off one as U+FFFD', () => {
    const ids = stories.encode('日😀', { addSpecialTokens: false }); // ▁, 3 bytes, 4 bytes
    // The leading "▁" is the space SentencePiece prepends; decode strips it, so it streams as "".
    expect(stream(stories, ids, false)).toEqual(['', '', '', '日', '', '', '', '😀', '']);
    const cut = ids.slice(0, -1);
    const pieces = stream(stories, cut, false);
    expect(pieces.join('')).toBe(stories.decode(cut));
    expect(pieces.at(-1)).toMatch(/\uFFFD$/);
  });
});

describe('loading errors', () => {
  it('says which file is missing', async () => {
    await expect(loadTextTokenizer(dirReader('/nonexistent/model'), '/nonexistent/model')).rejects.toThrow(
      /tokenizer\.json is missing in \/nonexistent\/model/,
    );
    await expect(loadTextTokenizer(dirReader('/nonexistent/model'))).rejects.toThrow(TokenizerLoadError);
  });

  it('rejects invalid JSON and objects that are not tokenizer.json', async () => {
    await expect(loadTextTokenizer(async (name) => (name === 'tokenizer.json' ? '{"model": ' : null), 'mem')).rejects.toThrow(
      /tokenizer\.json in mem is not valid JSON/,
    );
    expect(() => new TextTokenizer({ tokenizer: undefined })).toThrow(/tokenizer\.json is missing/);
    expect(() => new TextTokenizer({ tokenizer: [] })).toThrow(/must be a JSON object, got an array/);
    expect(() => new TextTokenizer({ tokenizer: { version: '1.0' } })).toThrow(/no "model" with a "type" and a "vocab"/);
    const stories = await readJsonFile(`${STORIES_DIR}/tokenizer.json`);
    expect(() => new TextTokenizer({ tokenizer: stories, tokenizerConfig: 'x' })).toThrow(/tokenizer_config\.json must be a JSON object/);
    expect(() => new TextTokenizer({ tokenizer: stories, generationConfig: { eos_token_id: 'x' } })).toThrow(/eos_token_id/);
    expect(() => new TextTokenizer({ tokenizer: stories, tokenizerConfig: { bos_token: '<bos>' } })).toThrow(/bos_token "<bos>" is not in/);
  });

  it('works without tokenizer_config.json and generation_config.json', async () => {
    const stories = await readJsonFile(`${STORIES_DIR}/tokenizer.json`);
    const bare = new TextTokenizer({ tokenizer: stories });
    // The post-processor still adds <s>; with no config it is the BOS.
    expect(bare.bosId).toBe(1);
    expect(bare.encode('Once')[0]).toBe(1);
    expect(bare.eosIds).toEqual([]);
  });

  it('follows add_bos_token where the post-processor disagrees', async () => {
    const stories = await readJsonFile(`${STORIES_DIR}/tokenizer.json`);
    const noBos = new TextTokenizer({ tokenizer: stories, tokenizerConfig: { bos_token: '<s>', add_bos_token: false } });
    expect(noBos.addsBos).toBe(false);
    expect(noBos.encode('Once')).toEqual(noBos.encode('Once', { addSpecialTokens: false }));
    const noPostProcessor = { ...stories, post_processor: null };
    const bos = new TextTokenizer({ tokenizer: noPostProcessor, tokenizerConfig: { bos_token: '<s>', add_bos_token: true } });
    expect(bos.encode('Once')).toEqual([1, ...bos.encode('Once', { addSpecialTokens: false })]);
    expect(bos.encode('<s>Once')).toEqual(bos.encode('Once'));
  });
});
