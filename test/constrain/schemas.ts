/** Test schemas shared by the constrained-decoding tests. */

/** An object with a string array. */
export const TAGS_SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 12 },
    tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 5 }, minItems: 1, maxItems: 3 },
    note: { type: 'string' },
  },
  required: ['title', 'tags'],
};

/** Enums and consts of every JSON kind, some a prefix of another ("1" / "12", "very happy" / "very"). */
export const ENUM_SCHEMA = {
  type: 'object',
  properties: {
    mood: { enum: ['happy', 'sad', 'very', 'very happy', 1, 12, null, true, { a: [1, 2] }, [1, 'x']] },
    ok: { const: 'yes' },
  },
  required: ['mood'],
};

/** Nested objects with bounded and unbounded numbers, booleans and a nullable string. */
export const NESTED_SCHEMA = {
  type: 'object',
  properties: {
    pos: {
      type: 'object',
      properties: {
        x: { type: 'number', minimum: -10, maximum: 10.5 },
        y: { type: 'integer', exclusiveMinimum: 0, maximum: 100 },
        flag: { type: 'boolean' },
      },
      required: ['x', 'y'],
    },
    scale: { type: 'number' },
    count: { type: 'integer' },
    maybe: { type: ['string', 'null'], maxLength: 3 },
  },
  required: ['pos'],
};

/** A recursive tree through $defs. */
export const TREE_SCHEMA = {
  $defs: {
    node: {
      type: 'object',
      properties: {
        value: { type: 'integer', minimum: 0, maximum: 9 },
        children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 },
      },
      required: ['value'],
    },
  },
  $ref: '#/$defs/node',
};

/** Alternatives that share prefixes: objects with the same key, an array, a string. */
export const ANY_OF_SCHEMA = {
  anyOf: [
    { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
    { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' } }, required: ['a'] },
    { type: 'array', items: { type: 'number', exclusiveMaximum: 1.5 }, maxItems: 4 },
    { type: 'string', minLength: 2, maxLength: 4 },
  ],
};

/** A top-level number: completion by lookahead ("1" may become "12"). */
export const NUMBER_SCHEMA = {
  oneOf: [{ type: 'integer', minimum: 10, maximum: 1200 }, { enum: [1, 12, 123.5] }, { type: 'number', minimum: -0.25, exclusiveMaximum: 0 }],
};

export const ALL_SCHEMAS: [string, unknown][] = [
  ['tags', TAGS_SCHEMA],
  ['enum', ENUM_SCHEMA],
  ['nested', NESTED_SCHEMA],
  ['tree', TREE_SCHEMA],
  ['anyOf', ANY_OF_SCHEMA],
  ['number', NUMBER_SCHEMA],
];
