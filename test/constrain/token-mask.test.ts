import { beforeAll, describe, expect, it } from 'vitest';
import { compileJsonSchema } from '../../src/constrain/json-schema.ts';
import { tokenBytes } from '../../src/constrain/token-bytes.ts';
import { JsonSchemaConstraint, NoAllowedTokenError, type ConstraintState } from '../../src/constrain/token-mask.ts';
import type { TextTokenizer } from '../../src/text/tokenizer.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { LLAMA_DIR, loadDir, QWEN_DIR, STORIES_DIR } from '../text/load.ts';
import { DocumentGenerator } from './random-documents.ts';
import { referenceAccepts } from './reference.ts';
import { ALL_SCHEMAS, ANY_OF_SCHEMA, ENUM_SCHEMA, NESTED_SCHEMA, TAGS_SCHEMA } from './schemas.ts';

const utf8 = new TextEncoder();

function allowedIds(mask: Uint32Array): number[] {
  const ids: number[] = [];
  mask.forEach((w, k) => {
    for (let b = 0; b < 32; b++) if ((w >>> b) & 1) ids.push(k * 32 + b);
  });
  return ids;
}

/** The mask by definition: every id whose bytes the recognizer accepts from the state, EOS when complete. */
function bruteForce(c: JsonSchemaConstraint, bytes: (Uint8Array | null)[], state: ConstraintState): number[] {
  const ids: number[] = [];
  const rs = state.recognizer!;
  for (let id = 0; id < c.vocabSize; id++) {
    if (c.eosIds.includes(id)) {
      if (c.isComplete(state)) ids.push(id);
    } else if (bytes[id]?.length && c.recognizer.advanceBytes(rs, bytes[id]!)) ids.push(id);
  }
  return ids;
}

/** States at byte prefixes of random documents (inside strings, numbers, keys, between values). */
function prefixStates(c: JsonSchemaConstraint, schema: unknown, count: number, r: () => number): ConstraintState[] {
  const gen = new DocumentGenerator(schema, r, 0);
  return Array.from({ length: count }, () => {
    const doc = utf8.encode(gen.document());
    const cut = Math.floor(r() * (doc.length + 1));
    return { recognizer: c.recognizer.advanceBytes(c.recognizer.start, doc.subarray(0, cut))! };
  });
}

describe('token masks: stories260K (SentencePiece, 512 tokens)', () => {
  let tokenizer: TextTokenizer;
  let bytes: (Uint8Array | null)[];
  beforeAll(async () => {
    tokenizer = await loadDir(STORIES_DIR);
    bytes = tokenBytes(tokenizer).bytes;
  });

  it('every mask equals the brute-force check of each token, for every test schema', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (const [name, schema] of ALL_SCHEMAS) {
      const c = JsonSchemaConstraint.fromTokenizer(schema, tokenizer);
      for (const state of prefixStates(c, schema, 30, r)) {
        expect(allowedIds(c.mask(state)), `${name}, seed ${seed}, state ${c.recognizer.stateKey(state.recognizer!)}`).toEqual(bruteForce(c, bytes, state));
      }
    }
  });

  it('random token walks never meet an empty mask, and finished documents parse and validate', () => {
    const seed = freshSeed();
    const r = rng(seed);
    let finished = 0;
    for (const [name, schema] of ALL_SCHEMAS) {
      const c = JsonSchemaConstraint.fromTokenizer(schema, tokenizer, { maxWhitespace: 1 });
      for (let walk = 0; walk < 15; walk++) {
        const seq = c.sequence();
        const ids: number[] = [];
        for (let k = 0; k < 200 && !c.isFinished(seq.state); k++) {
          const allowed = allowedIds(seq.allowed());
          expect(allowed.length, `${name}, seed ${seed}`).toBeGreaterThan(0);
          // Favour EOS and short tokens so that walks end.
          const eos = allowed.filter((id) => c.eosIds.includes(id));
          const id = eos.length && r() < 0.5 ? eos[0]! : allowed[Math.floor(r() * allowed.length)]!;
          seq.accept(id);
          ids.push(id);
        }
        if (!c.isFinished(seq.state)) continue;
        finished++;
        const doc = concat(ids.slice(0, -1).map((id) => bytes[id]!));
        expect(referenceAccepts(schema, doc, 1), `${name}, seed ${seed}: ${new TextDecoder().decode(doc)}`).toBe(true);
      }
    }
    expect(finished, `seed ${seed}: walks that reached EOS`).toBeGreaterThan(10);
  });

  it('EOS is allowed exactly when the document is complete, and alone when nothing can follow', () => {
    const c = JsonSchemaConstraint.fromTokenizer(TAGS_SCHEMA, tokenizer);
    const at = (text: string): ConstraintState => ({ recognizer: c.recognizer.advanceBytes(c.recognizer.start, utf8.encode(text))! });
    const doc = '{"title":"x","tags":["a"]}';
    for (let n = 0; n < doc.length; n++) {
      const mask = c.mask(at(doc.slice(0, n)));
      for (const id of c.eosIds) expect(c.isAllowed(at(doc.slice(0, n)), id), doc.slice(0, n)).toBe(false);
      expect(allowedIds(mask).length).toBeGreaterThan(0);
    }
    expect(allowedIds(c.mask(at(doc)))).toEqual([...c.eosIds].sort((a, b) => a - b));
    // A top-level number is complete but may go on: EOS and digits.
    const n = JsonSchemaConstraint.fromTokenizer({ type: 'integer', minimum: 0, maximum: 125 }, tokenizer);
    const s12 = { recognizer: n.recognizer.advanceBytes(n.recognizer.start, utf8.encode('12'))! };
    const ids = allowedIds(n.mask(s12));
    for (const id of n.eosIds) expect(ids).toContain(id);
    const digit = (d: string) => bytes.findIndex((b) => b?.length === 1 && b[0] === d.charCodeAt(0));
    expect(ids).toContain(digit('5')); // 125
    expect(ids).not.toContain(digit('6')); // 126 > 125, and longer numbers only grow
  });

  it('advance checks tokens; after EOS only EOS is allowed', () => {
    const c = JsonSchemaConstraint.fromTokenizer({ type: 'array', items: { type: 'boolean' }, maxItems: 1 }, tokenizer);
    const id = (s: string) => bytes.findIndex((b) => b !== null && b.length === s.length && new TextDecoder().decode(b) === s);
    let s = c.advance(c.start, id('['));
    const empty = c.advance(s, id(']'));
    expect(() => c.advance(empty, id(','))).toThrow(/cannot continue the document here/);
    expect(() => c.advance(s, c.eosIds[0]!)).toThrow(/EOS id \d+ before the document is complete/);
    expect(() => c.advance(s, 99999)).toThrow(/outside \[0, 512\)/);
    for (const ch of ['t', 'r', 'u', 'e', ']']) s = c.advance(s, id(ch));
    expect(c.isComplete(s)).toBe(true);
    s = c.advance(s, c.eosIds[0]!);
    expect(c.isFinished(s)).toBe(true);
    expect(allowedIds(c.mask(s))).toEqual([...c.eosIds].sort((a, b) => a - b));
    expect(c.advance(s, c.eosIds[1]!)).toBe(s);
    expect(() => c.advance(s, id('a'))).toThrow(/after EOS/);
    const rows = new Uint32Array(2 * c.maskWords);
    c.writeMasks([c.start, s], rows);
    expect(allowedIds(rows.subarray(0, c.maskWords))).toEqual(allowedIds(c.mask(c.start)));
    expect(allowedIds(rows.subarray(c.maskWords))).toEqual([...c.eosIds].sort((a, b) => a - b));
  });

  it('a vocabulary without the bytes the schema needs gives NoAllowedTokenError, not an empty mask', () => {
    const vocab = ['{', '"', 'a', ':'].map((t) => utf8.encode(t)) as (Uint8Array | null)[];
    vocab.push(null); // EOS
    const c = new JsonSchemaConstraint(compileJsonSchema({ type: 'object', properties: {} }), { bytes: vocab, eosIds: [4] });
    const open = c.advance(c.start, 0);
    expect(() => c.mask(open)).toThrow(NoAllowedTokenError);
    expect(() => c.mask(open)).toThrow(/no token can continue the document/);
  });

  it('rejects bad vocabulary settings', () => {
    const grammar = compileJsonSchema({ type: 'null' });
    expect(() => new JsonSchemaConstraint(grammar, { bytes: [utf8.encode('n')], eosIds: [] })).toThrow(/no EOS id/);
    expect(() => new JsonSchemaConstraint(grammar, { bytes: [utf8.encode('n')], eosIds: [3] })).toThrow(/EOS id 3 outside/);
    expect(() => new JsonSchemaConstraint(grammar, { bytes: [utf8.encode('n'), null], eosIds: [1] }, { vocabSize: 1 })).toThrow(/smaller than the vocabulary/);
  });
});

describe('token masks: Llama 3.2 and Qwen2.5 (byte-level BPE)', () => {
  let llama: TextTokenizer;
  let qwen: TextTokenizer;
  beforeAll(async () => {
    llama = await loadDir(LLAMA_DIR);
    qwen = await loadDir(QWEN_DIR);
  });

  it('Llama 3.2: masks equal the brute-force check on states inside strings, numbers, keys and alternatives', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const bytes = tokenBytes(llama, { verifySample: 0 }).bytes;
    for (const schema of [TAGS_SCHEMA, NESTED_SCHEMA, ANY_OF_SCHEMA]) {
      const c = JsonSchemaConstraint.fromTokenizer(schema, llama);
      for (const state of prefixStates(c, schema, 3, r)) {
        expect(allowedIds(c.mask(state)), `seed ${seed}, state ${c.recognizer.stateKey(state.recognizer!)}`).toEqual(bruteForce(c, bytes, state));
      }
    }
  });

  it('Qwen2.5: masks span the model vocabulary (151936), padding and added ids never allowed inside the document', () => {
    const c = JsonSchemaConstraint.fromTokenizer(ENUM_SCHEMA, qwen, { vocabSize: 151936 });
    expect(c.maskWords).toBe(4748);
    const inString = { recognizer: c.recognizer.advanceBytes(c.recognizer.start, utf8.encode('{"mood":"ve'))! };
    const ids = allowedIds(c.mask(inString));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => id < 151643)).toBe(true);
    const text = (id: number) => qwen.decode([id]);
    // Only continuations of "very" / "very happy" inside the string.
    for (const id of ids) expect('ry happy"}'.startsWith(text(id)) || 'ry"}'.startsWith(text(id)) || 'ry",'.startsWith(text(id)), text(id)).toBe(true);
  });

  it('mask time per step on the 128k Llama vocabulary (logged; typical states)', () => {
    const prefixes: [unknown, string][] = [
      [TAGS_SCHEMA, '{"title":"Once upon a'], // bounded string body
      [TAGS_SCHEMA, '{"title":"x","tags":["a","b"],"note":"free text'], // unbounded string body
      [TAGS_SCHEMA, '{"title":"x","tags":['], // value start in an array
      [NESTED_SCHEMA, '{"pos":{"x":-3.2'], // bounded number
      [NESTED_SCHEMA, '{"pos":{"x":1,"y":2},"'], // a key
      [ANY_OF_SCHEMA, '"ab'], // alternatives: a string, after others died
      [ANY_OF_SCHEMA, '{"a":'], // alternatives alive: string or integer
    ];
    const times: number[] = [];
    const report: string[] = [];
    for (const [schema, prefix] of prefixes) {
      const samples: number[] = [];
      for (let k = 0; k < 5; k++) {
        const c = JsonSchemaConstraint.fromTokenizer(schema, llama); // a fresh mask cache
        const state = { recognizer: c.recognizer.advanceBytes(c.recognizer.start, utf8.encode(prefix))! };
        const t0 = performance.now();
        c.mask(state);
        samples.push(performance.now() - t0);
      }
      samples.sort((a, b) => a - b);
      times.push(samples[2]!);
      report.push(`${JSON.stringify(prefix)}: ${samples[2]!.toFixed(2)} ms`);
    }
    console.log(`mask time, Llama 3.2 vocabulary (median of 5, uncached):\n  ${report.join('\n  ')}`);
    // Generous bound for a loaded CI machine; a regression to walking the whole trie in string bodies costs ~10x.
    expect(Math.max(...times), report.join('; ')).toBeLessThan(100);
  });
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
