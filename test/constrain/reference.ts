/**
 * An independent reference for the constrained-decoding tests: a small JSON parser that keeps each value's raw text and
 * each object's key order, and a validator with JSON Schema's semantics for the supported keywords plus the documented
 * output policy (compact keys and enum/const texts, properties in declared order, at most maxWhitespace bytes per gap,
 * digit limits, integers without fraction or exponent, bounded numbers without exponent, no lone surrogate escapes).
 * Written from the specs, not from src/constrain.
 */

export type JsonNode =
  | { type: 'object'; raw: string; entries: { key: string; keyRaw: string; value: JsonNode }[] }
  | { type: 'array'; raw: string; items: JsonNode[] }
  | { type: 'string'; raw: string; value: string }
  | { type: 'number'; raw: string }
  | { type: 'boolean'; raw: string }
  | { type: 'null'; raw: string };

const MAX_INT_DIGITS = 15,
  MAX_FRAC_DIGITS = 15,
  MAX_EXP_DIGITS = 2;

class ParseError extends Error {}

/** Parses a whole document under the whitespace policy; null when it is not one. */
export function parseDocument(text: string, maxWs: number): JsonNode | null {
  let at = 0;
  const fail = (why: string): never => {
    throw new ParseError(`${why} at ${at}`);
  };
  const gap = () => {
    const start = at;
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
    if (at - start > maxWs) fail('too much whitespace');
  };
  const value = (): JsonNode => {
    const start = at;
    const c = text[at];
    if (c === '{') {
      at++;
      const entries: { key: string; keyRaw: string; value: JsonNode }[] = [];
      gap();
      if (text[at] === '}') {
        at++;
        return { type: 'object', raw: text.slice(start, at), entries };
      }
      for (;;) {
        if (text[at] !== '"') fail('key expected');
        const keyStart = at;
        const key = string();
        const keyRaw = text.slice(keyStart, at);
        gap();
        if (text[at++] !== ':') fail('colon expected');
        gap();
        const v = value();
        entries.push({ key, keyRaw, value: v });
        gap();
        const sep = text[at++];
        if (sep === '}') return { type: 'object', raw: text.slice(start, at), entries };
        if (sep !== ',') fail(', or } expected');
        gap();
      }
    }
    if (c === '[') {
      at++;
      const items: JsonNode[] = [];
      gap();
      if (text[at] === ']') {
        at++;
        return { type: 'array', raw: text.slice(start, at), items };
      }
      for (;;) {
        items.push(value());
        gap();
        const sep = text[at++];
        if (sep === ']') return { type: 'array', raw: text.slice(start, at), items };
        if (sep !== ',') fail(', or ] expected');
        gap();
      }
    }
    if (c === '"') {
      const v = string();
      return { type: 'string', raw: text.slice(start, at), value: v };
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return { type: word === 'null' ? 'null' : 'boolean', raw: word } as JsonNode;
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(at));
    if (!m) fail('value expected');
    const [raw, int, frac, exp] = m!;
    if (int!.length > MAX_INT_DIGITS || (frac && frac.length - 1 > MAX_FRAC_DIGITS) || (exp && exp.replace(/^[eE][+-]?/, '').length > MAX_EXP_DIGITS))
      fail('too many digits');
    at += raw!.length;
    return { type: 'number', raw: raw! };
  };
  const string = (): string => {
    at++; // opening quote
    let out = '';
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text[at]!;
      const code = c.charCodeAt(0);
      if (c === '"') {
        at++;
        return out;
      }
      if (code < 0x20) fail('raw control character');
      if (c !== '\\') {
        out += c;
        at++;
        continue;
      }
      const e = text[at + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        at += 2;
        continue;
      }
      if (e !== 'u') fail('bad escape');
      const hex = (from: number) => {
        const h = text.slice(from, from + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
        return parseInt(h, 16);
      };
      const u = hex(at + 2);
      at += 6;
      if (u >= 0xdc00 && u <= 0xdfff) fail('lone low surrogate');
      if (u >= 0xd800 && u <= 0xdbff) {
        if (text[at] !== '\\' || text[at + 1] !== 'u') fail('lone high surrogate');
        const low = hex(at + 2);
        if (low < 0xdc00 || low > 0xdfff) fail('high surrogate without low');
        at += 6;
        out += String.fromCharCode(u, low);
      } else {
        out += String.fromCharCode(u);
      }
    }
  };
  try {
    gap();
    const v = value();
    if (at !== text.length) fail('trailing text');
    JSON.parse(text); // a cross-check: anything this parser takes, JSON.parse must take too
    return v;
  } catch (error) {
    if (error instanceof ParseError) return null;
    throw error;
  }
}

/** Decimal text (optionally with exponent) -> [digits, exponent] with value digits * 10^exponent, exactly. */
function exactDecimal(text: string): [bigint, number] {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new Error(`not a decimal: ${text}`);
  const [, sign, int, frac = '', exp = '0'] = m;
  return [BigInt(`${sign}${int}${frac}`), Number(exp) - frac.length];
}

/** Exact comparison of two decimal texts: <0, 0, >0. */
export function compareDecimal(a: string, b: string): number {
  const [da, ea] = exactDecimal(a),
    [db, eb] = exactDecimal(b);
  const e = Math.min(ea, eb);
  const x = da * 10n ** BigInt(ea - e),
    y = db * 10n ** BigInt(eb - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

type Schema = Record<string, unknown>;
const FAMILY_KEYWORDS: Record<string, string[]> = {
  object: ['properties', 'required', 'additionalProperties'],
  array: ['items', 'minItems', 'maxItems'],
  string: ['minLength', 'maxLength'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
};

/** Whether `node` is valid for `schema` (within `root`, for $ref) under the output policy. */
export function validates(node: JsonNode, schema: unknown, root: unknown): boolean {
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    let target: unknown = root;
    for (const part of s.$ref.split('/').slice(1)) target = (target as Schema)[part.replaceAll('~1', '/').replaceAll('~0', '~')];
    return validates(node, target, root);
  }
  const alternatives = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (alternatives) return alternatives.some((alt) => validates(node, alt, root));
  const listed = 'enum' in s || 'const' in s;
  if ('enum' in s && !(s.enum as unknown[]).some((v) => JSON.stringify(v) === node.raw)) return false;
  if ('const' in s && JSON.stringify(s.const) !== node.raw) return false;
  let types: string[];
  if ('type' in s) types = typeof s.type === 'string' ? [s.type] : (s.type as string[]);
  else {
    // No type: the keywords present name the type; beside enum/const they only constrain values of their own type.
    types = Object.keys(FAMILY_KEYWORDS).filter((f) => FAMILY_KEYWORDS[f]!.some((k) => k in s));
    if (listed && !types.includes(node.type)) return true;
  }
  return types.some((t) => validatesType(node, t, s, root));
}

function validatesType(node: JsonNode, type: string, s: Schema, root: unknown): boolean {
  switch (type) {
    case 'null':
    case 'boolean':
      return node.type === type;
    case 'string': {
      if (node.type !== 'string') return false;
      const length = Array.from(node.value).length;
      return length >= ((s.minLength as number) ?? 0) && length <= ((s.maxLength as number) ?? Infinity);
    }
    case 'integer':
    case 'number': {
      if (node.type !== 'number') return false;
      const bounded = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => k in s);
      if (type === 'integer' && /[.eE]/.test(node.raw)) return false;
      if (bounded && /[eE]/.test(node.raw)) return false;
      const cmp = (k: string) => compareDecimal(node.raw, String(s[k]));
      if ('minimum' in s && cmp('minimum') < 0) return false;
      if ('maximum' in s && cmp('maximum') > 0) return false;
      if ('exclusiveMinimum' in s && cmp('exclusiveMinimum') <= 0) return false;
      if ('exclusiveMaximum' in s && cmp('exclusiveMaximum') >= 0) return false;
      return true;
    }
    case 'array':
      if (node.type !== 'array') return false;
      if (node.items.length < ((s.minItems as number) ?? 0) || node.items.length > ((s.maxItems as number) ?? Infinity)) return false;
      return node.items.every((item) => validates(item, s.items, root));
    case 'object': {
      if (node.type !== 'object') return false;
      const props = (s.properties ?? {}) as Schema;
      const names = Object.keys(props);
      let last = -1;
      for (const { key, keyRaw, value } of node.entries) {
        const index = names.indexOf(key);
        if (index <= last || keyRaw !== JSON.stringify(key)) return false; // declared order, no repeats, compact keys
        if (!validates(value, props[key], root)) return false;
        last = index;
      }
      return ((s.required ?? []) as string[]).every((r) => node.entries.some((e) => e.key === r));
    }
  }
  return false;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The reference decision on a byte string: well-formed UTF-8, a document under the policy, valid for the schema. */
export function referenceAccepts(schema: unknown, bytes: Uint8Array, maxWs: number): boolean {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return false;
  }
  const node = parseDocument(text, maxWs);
  return node !== null && validates(node, schema, schema);
}
