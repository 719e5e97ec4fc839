import { describe, expect, it } from 'vitest';
import { compileJsonSchema, JsonSchemaError } from '../../src/constrain/json-schema.ts';
import { Recognizer, type RecognizerState } from '../../src/constrain/recognizer.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { DocumentGenerator, mutate } from './random-documents.ts';
import { referenceAccepts } from './reference.ts';
import { ALL_SCHEMAS, NESTED_SCHEMA, TAGS_SCHEMA } from './schemas.ts';

const utf8 = new TextEncoder();
const recognizer = (schema: unknown, maxWhitespace = 0) => new Recognizer(compileJsonSchema(schema, { maxWhitespace }));

/** Asserts the recognizer and the reference agree on `doc`, and returns their verdict. */
function agree(r: Recognizer, schema: unknown, doc: string | Uint8Array, maxWs: number, context: string): boolean {
  const bytes = typeof doc === 'string' ? utf8.encode(doc) : doc;
  const want = referenceAccepts(schema, bytes, maxWs);
  const got = r.accepts(bytes);
  if (got !== want) {
    throw new Error(
      `${context}: recognizer says ${got}, reference ${want} for ${JSON.stringify(new TextDecoder().decode(bytes))} (bytes ${Array.from(bytes).join(',')})`,
    );
  }
  return got;
}

/** Hand-written documents per keyword: [schema, valid documents, invalid documents]. */
const CASES: [string, unknown, string[], string[]][] = [
  [
    'string',
    { type: 'string' },
    ['""', '"a b"', '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\u00E9"', '"é日😀"', '"\\ud83d\\ude00"', '"\\udbff\\udfff"', '"\u007f\\u0000"'],
    [
      '',
      '"',
      '"a',
      'a"',
      '"\\x"',
      '"\\u12"',
      '"\u0001"',
      '"\\ude00"',
      '"\\udc00"',
      '"\\uDFFF"',
      '"\\ud83d"',
      '"\u001f"',
      '"\u0010"',
      '"\t"',
      '"\\ud83dx"',
      '"\\ud83d\\u0041"',
      '"a" ',
      ' "a"',
      '"a""',
    ],
  ],
  [
    'minLength/maxLength (code points)',
    { type: 'string', minLength: 2, maxLength: 3 },
    ['"ab"', '"abc"', '"é😀"', '"\\ud83d\\ude00\\n"', '"日本語"'],
    ['"a"', '"abcd"', '"😀"', '"\\ud83d\\ude00"', '"日本語!"'],
  ],
  ['maxLength 0', { type: 'string', maxLength: 0 }, ['""'], ['"a"', '"\\n"']],
  ['integer', { type: 'integer' }, ['0', '-0', '7', '-12', '123456789012345'], ['01', '1.0', '1e2', '+1', '-', '1234567890123456', '.5', '1.', 'NaN']],
  [
    'number',
    { type: 'number' },
    ['0', '-0.5', '1.25', '1e5', '1E+05', '2.5e-12', '123456789012345.123456789012345'],
    ['01.5', '1.', '.5', '1e', '1e+', '1e123', '1.1234567890123456', '--1', '0x1'],
  ],
  ['minimum/maximum', { type: 'integer', minimum: -3, maximum: 120 }, ['-3', '-0', '0', '99', '120'], ['-4', '121', '999', '-30', '1000']],
  [
    'exclusive bounds on number',
    { type: 'number', exclusiveMinimum: 0.1, exclusiveMaximum: 2 },
    ['0.11', '1', '1.999999999999999', '0.100000000000001'],
    ['0.1', '0.10', '2', '2.0', '0', '-1', '1e0', '0.05'],
  ],
  ['fractional bounds on integer', { type: 'integer', minimum: 0.5, maximum: 2.5 }, ['1', '2'], ['0', '3', '-0']],
  ['boolean and null', { type: ['boolean', 'null'] }, ['true', 'false', 'null'], ['True', 'nul', 'nulll', '0', '"true"']],
  [
    'enum',
    { enum: ['a', 1, 12, null, { x: [true] }, [1.5]] },
    ['"a"', '1', '12', 'null', '{"x":[true]}', '[1.5]'],
    ['"b"', '2', '123', '{"x": [true]}', '[1.50]', '1.0'],
  ],
  ['const', { const: 'yes' }, ['"yes"'], ['"no"', '"yes" ', 'yes']],
  ['enum with type', { type: 'string', maxLength: 2, enum: ['ab', 'abc', 5] }, ['"ab"'], ['"abc"', '5']],
  ['enum with untyped keywords', { minLength: 2, enum: ['a', 'ab', 5] }, ['"ab"', '5'], ['"a"']],
  ['array', { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 2 }, ['[1]', '[1,2]'], ['[]', '[1,2,3]', '[1,]', '[,1]', '[1 2]', '["1"]']],
  ['empty array only', { type: 'array', maxItems: 0 }, ['[]'], ['[1]']],
  [
    'object: order, required, optional',
    { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'string' }, c: { type: 'boolean' } }, required: ['b'] },
    ['{"b":""}', '{"a":1,"b":"x"}', '{"b":"x","c":true}', '{"a":1,"b":"x","c":false}'],
    ['{}', '{"a":1}', '{"b":"x","a":1}', '{"b":"x","b":"y"}', '{"b":"x","d":1}', '{"b":"x",}', '{"\\u0062":"x"}', '{"b":"x","c":true,"c":true}'],
  ],
  ['object without required', { type: 'object', properties: { a: { type: 'null' } } }, ['{}', '{"a":null}'], ['{"a":null,}', '{,}']],
  ['untyped properties', { properties: { a: { const: 1 } }, required: ['a'] }, ['{"a":1}'], ['1', '{}']],
  [
    'anyOf',
    { anyOf: [{ type: 'string', maxLength: 1 }, { type: 'integer', minimum: 5 }, { const: 'long' }] },
    ['"a"', '""', '5', '77', '"long"'],
    ['"ab"', '4', '"lon"'],
  ],
  [
    '$ref to #/definitions',
    { definitions: { s: { type: 'string', maxLength: 1 } }, type: 'array', items: { $ref: '#/definitions/s' } },
    ['[]', '["a","b"]'],
    ['["ab"]'],
  ],
  [
    'keys with escapes',
    { type: 'object', properties: { 'a"b': { type: 'null' }, 'é/~': { type: 'null' } } },
    ['{"a\\"b":null}', '{"é/~":null}'],
    ['{"a\\u0022b":null}'],
  ],
];

describe('JSON-schema recognizer', () => {
  for (const [name, schema, valid, invalid] of CASES) {
    it(`${name}: accepts exactly what the reference accepts`, () => {
      const r = recognizer(schema);
      for (const doc of valid) expect(agree(r, schema, doc, 0, name), `${name}: ${doc} should be accepted`).toBe(true);
      for (const doc of invalid) expect(agree(r, schema, doc, 0, name), `${name}: ${doc} should be refused`).toBe(false);
    });
  }

  it('whitespace: at most maxWhitespace bytes in each gap and before the document, none after it', () => {
    const schema = { type: 'object', properties: { a: { type: 'array', items: { type: 'integer' } } } };
    const r2 = recognizer(schema, 2);
    for (const doc of ['{"a":[1,2]}', '  { "a" : [ 1 ,\n2 ] }', '{\n\t"a":[]}', '\r\n{"a":[\t\t1]}']) expect(agree(r2, schema, doc, 2, 'ws 2'), doc).toBe(true);
    for (const doc of ['{"a":[1,2]} ', '{   "a":[]}', '   {}', '{"a":[1 , 2]\n\n\n}', '{"a":[1,\u000b2]}'])
      expect(agree(r2, schema, doc, 2, 'ws 2'), doc).toBe(false);
    const r0 = recognizer(schema);
    expect(agree(r0, schema, '{ "a":[]}', 0, 'ws 0')).toBe(false);
  });

  it('refuses malformed UTF-8 inside strings (overlong, surrogates, truncated, past U+10FFFF)', () => {
    const r = recognizer({ type: 'string' });
    const q = 0x22;
    const ok = [
      [q, 0xc3, 0xa9, q],
      [q, 0xe2, 0x82, 0xac, q],
      [q, 0xf0, 0x9f, 0x98, 0x80, q],
      [q, 0xf4, 0x8f, 0xbf, 0xbf, q],
      [q, 0xed, 0x9f, 0xbf, q],
    ];
    const bad = [
      [q, 0xc0, 0xaf, q],
      [q, 0xc3, q],
      [q, 0xe0, 0x80, 0xaf, q],
      [q, 0xed, 0xa0, 0x80, q],
      [q, 0xf4, 0x90, 0x80, 0x80, q],
      [q, 0xf5, 0x80, 0x80, 0x80, q],
      [q, 0x80, q],
      [q, 0xff, q],
    ];
    for (const b of ok) expect(agree(r, { type: 'string' }, Uint8Array.from(b), 0, 'utf8'), b.join()).toBe(true);
    for (const b of bad) expect(agree(r, { type: 'string' }, Uint8Array.from(b), 0, 'utf8'), b.join()).toBe(false);
  });

  for (const [name, schema] of ALL_SCHEMAS) {
    for (const maxWs of [0, 2]) {
      it(`random documents of the ${name} schema (whitespace <= ${maxWs}) and their mutations agree with the reference`, () => {
        const seed = freshSeed();
        const r = rng(seed);
        const rec = recognizer(schema, maxWs);
        const gen = new DocumentGenerator(schema, r, maxWs);
        let accepted = 0,
          refused = 0;
        for (let k = 0; k < 150; k++) {
          const doc = utf8.encode(gen.document());
          expect(agree(rec, schema, doc, maxWs, `seed ${seed}`), `seed ${seed}: generated document refused`).toBe(true);
          // Every prefix of a valid document is viable.
          let state: RecognizerState | null = rec.start;
          for (let i = 0; i < doc.length; i++) {
            state = rec.advance(state!, doc[i]!);
            if (!state) throw new Error(`seed ${seed}: prefix ${i + 1} of ${new TextDecoder().decode(doc)} refused`);
          }
          for (let m = 0; m < 5; m++) {
            if (agree(rec, schema, mutate(doc, r), maxWs, `seed ${seed} mutation`)) accepted++;
            else refused++;
          }
        }
        expect(refused, 'mutations should mostly be invalid').toBeGreaterThan(300);
        expect(accepted + refused).toBe(750);
      });
    }
  }

  it('every reachable state can still complete (random walks, then a search for a completion)', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (const [name, schema] of ALL_SCHEMAS) {
      const rec = recognizer(schema, 1);
      for (let walk = 0; walk < 20; walk++) {
        let state = rec.start;
        const steps = Math.floor(r() * 40);
        for (let k = 0; k < steps; k++) {
          const next = viableBytes(rec, state);
          if (next.length === 0) break; // complete, nothing can follow
          state = rec.advance(state, next[Math.floor(r() * next.length)]!)!;
        }
        expect(findCompletion(rec, state), `${name}, seed ${seed}: state ${rec.stateKey(state)} has no completion`).not.toBeNull();
      }
    }
  });

  it('a long unbounded string keeps one state (mask caching) and bounded counters are clamped', () => {
    const rec = recognizer(TAGS_SCHEMA);
    const a = rec.advanceBytes(rec.start, utf8.encode('{"title":"x","tags":["a"],"note":"abc'))!;
    const b = rec.advanceBytes(rec.start, utf8.encode('{"title":"x","tags":["a"],"note":"abcdefghijklmnopqrstuvwxyz'))!;
    expect(rec.stateKey(a)).toBe(rec.stateKey(b));
    const nested = recognizer(NESTED_SCHEMA);
    expect(nested.accepts('{"pos":{"x":-10,"y":100,"flag":false},"scale":-1.5e-7,"count":-42,"maybe":null}')).toBe(true);
  });
});

describe('JSON-schema compiler errors', () => {
  const errors: [unknown, RegExp][] = [
    [{ type: 'string', pattern: 'a+' }, /#: unsupported keyword "pattern"/],
    [{ type: 'object', properties: { d: { type: 'string', format: 'date' } } }, /#\/properties\/d: unsupported keyword "format"/],
    [{ type: 'number', multipleOf: 2 }, /unsupported keyword "multipleOf"/],
    [{ type: 'array', items: { type: 'string' }, uniqueItems: true }, /unsupported keyword "uniqueItems"/],
    [{ allOf: [{ type: 'string' }] }, /unsupported keyword "allOf"/],
    [{ type: 'object', properties: { a: { type: 'integer', frobnicate: 1 } } }, /#\/properties\/a: unsupported keyword "frobnicate"/],
    [{ type: 'object', minProperties: 1 }, /unsupported keyword "minProperties"/],
    [{ type: 'object', properties: {}, additionalProperties: { type: 'string' } }, /additionalProperties: only true or false/],
    [{ type: 'object', properties: { a: { type: 'string' } }, required: ['b'] }, /required: "b" is not in properties/],
    [{ type: 'strin' }, /unknown type "strin"/],
    [{}, /#: no "type"/],
    [true, /allows any value/],
    [{ type: 'array' }, /needs "items"/],
    [{ type: 'array', items: [{ type: 'string' }] }, /tuple items/],
    [{ $ref: 'http://example.com/s.json' }, /only local references/],
    [{ $ref: '#/$defs/missing' }, /does not point into the schema/],
    [{ $ref: '#/$defs/a', type: 'string' }, /"\$ref" beside "type"/],
    [{ anyOf: [{ type: 'string' }], maxLength: 3 }, /"anyOf" beside "maxLength"/],
    [{ $defs: { a: { anyOf: [{ $ref: '#/$defs/a' }, { type: 'null' }] } }, $ref: '#/$defs/a' }, /refers to itself without nesting/],
    [{ type: 'string', minLength: 3, maxLength: 2 }, /no JSON document satisfies the schema: #: minLength 3 > maxLength 2/],
    [{ type: 'integer', minimum: 1.2, maximum: 1.8 }, /no JSON document satisfies/],
    [{ type: 'number', exclusiveMinimum: true }, /exclusiveMinimum: must be a finite number \(draft-4/],
    [{ type: 'string', maxLength: -1 }, /maxLength: must be a non-negative integer/],
    [{ type: 'string', enum: [1, 2] }, /none of the const\/enum values satisfies/],
    [{ $defs: { n: { type: 'object', properties: { next: { $ref: '#/$defs/n' } }, required: ['next'] } }, $ref: '#/$defs/n' }, /no JSON document satisfies/],
  ];
  for (const [schema, message] of errors) {
    it(`rejects ${JSON.stringify(schema)}`, () => {
      expect(() => compileJsonSchema(schema)).toThrow(JsonSchemaError);
      expect(() => compileJsonSchema(schema)).toThrow(message);
    });
  }

  it('drops what cannot be satisfied but keeps what can (optional property, anyOf alternative, array items)', () => {
    const schema = {
      type: 'object',
      properties: {
        never: { type: 'string', minLength: 2, maxLength: 1 },
        either: { anyOf: [{ type: 'integer', minimum: 3, maximum: 2 }, { type: 'null' }] },
        list: { type: 'array', items: { enum: [] as unknown[] } },
      },
    };
    // enum [] is malformed: it must be non-empty.
    expect(() => compileJsonSchema(schema)).toThrow(/enum: must be a non-empty array/);
    schema.properties.list.items = { type: 'string', minLength: 1, maxLength: 0 } as never;
    const rec = new Recognizer(compileJsonSchema(schema));
    expect(rec.accepts('{"either":null,"list":[]}')).toBe(true);
    expect(rec.accepts('{"never":"a"}')).toBe(false);
    expect(rec.accepts('{"either":3}')).toBe(false);
    expect(rec.accepts('{"list":[""]}')).toBe(false);
  });
});

/** Bytes that keep the state viable. */
function viableBytes(rec: Recognizer, state: RecognizerState): number[] {
  const out: number[] = [];
  for (let b = 0; b < 256; b++) if (rec.advance(state, b)) out.push(b);
  return out;
}

/** Depth-first search for bytes that complete the document (closing bytes first); null when none within the limit. */
function findCompletion(rec: Recognizer, start: RecognizerState): number[] | null {
  const preferred = Array.from('"}]0tfn1a:,').map((c) => c.charCodeAt(0));
  const order = [...preferred, ...Array.from({ length: 256 }, (_, b) => b).filter((b) => !preferred.includes(b))];
  const seen = new Set<string>();
  const path: number[] = [];
  const search = (state: RecognizerState, depth: number): boolean => {
    if (rec.isComplete(state)) return true;
    const key = rec.stateKey(state);
    if (depth > 300 || seen.has(key)) return false;
    seen.add(key);
    for (const b of order) {
      const next = rec.advance(state, b);
      if (!next) continue;
      path.push(b);
      if (search(next, depth + 1)) return true;
      path.pop();
    }
    return false;
  };
  return search(start, 0) ? path : null;
}
