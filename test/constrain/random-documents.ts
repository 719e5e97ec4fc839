/**
 * Random documents for a test schema: valid ones written the way the output policy allows (random optional
 * properties, lengths, escapes, number spellings, whitespace up to maxWs per gap), and byte-level mutations of them
 * (mostly invalid, some still valid) to probe the recognizer's boundary against the reference validator.
 */
type Schema = Record<string, unknown>;

const CHARS = ['a', 'Z', ' ', 'é', '日', '😀', '"', '\\', '/', '\n', '\u0001', '~'];

export class DocumentGenerator {
  constructor(
    private readonly root: unknown,
    private readonly r: () => number,
    private readonly maxWs: number,
  ) {}

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.r() * list.length)]!;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  /** Whitespace for one gap. */
  private ws(): string {
    let out = '';
    const n = this.r() < 0.5 ? 0 : this.int(0, this.maxWs);
    for (let k = 0; k < n; k++) out += this.pick([' ', '\n', '\t', '\r']);
    return out;
  }

  document(): string {
    return this.ws() + this.value(this.root, 0);
  }

  value(schema: unknown, depth: number): string {
    const s = schema as Schema;
    if (typeof s.$ref === 'string') {
      let target: unknown = this.root;
      for (const part of s.$ref.split('/').slice(1)) target = (target as Schema)[part];
      return this.value(target, depth + 1);
    }
    const alternatives = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
    if (alternatives) return this.value(this.pick(alternatives), depth);
    if ('const' in s) return JSON.stringify(s.const);
    if ('enum' in s) return JSON.stringify(this.pick(s.enum as unknown[]));
    const types = typeof s.type === 'string' ? [s.type] : (s.type as string[]);
    const type = this.pick(types);
    switch (type) {
      case 'null':
        return 'null';
      case 'boolean':
        return this.pick(['true', 'false']);
      case 'string':
        return this.string((s.minLength as number) ?? 0, (s.maxLength as number) ?? 8);
      case 'integer':
      case 'number':
        return this.number(type === 'integer', s);
      case 'array': {
        const min = (s.minItems as number) ?? 0;
        // Deep recursive schemas stay small.
        const max = Math.min((s.maxItems as number) ?? min + 3, depth > 3 ? min : min + 3);
        const items = Array.from({ length: this.int(min, max) }, () => this.value(s.items, depth + 1));
        if (items.length === 0) return `[${this.ws()}]`;
        return `[${this.ws()}${items.join(`${this.ws()},${this.ws()}`)}${this.ws()}]`;
      }
      case 'object': {
        const props = (s.properties ?? {}) as Schema;
        const required = (s.required ?? []) as string[];
        const parts = Object.keys(props)
          .filter((k) => required.includes(k) || (depth < 4 && this.r() < 0.5))
          .map((k) => `${JSON.stringify(k)}${this.ws()}:${this.ws()}${this.value(props[k], depth + 1)}`);
        if (parts.length === 0) return `{${this.ws()}}`;
        return `{${this.ws()}${parts.join(`${this.ws()},${this.ws()}`)}${this.ws()}}`;
      }
    }
    throw new Error(`generator: unsupported schema ${JSON.stringify(s)}`);
  }

  /** A JSON string literal of n code points in [min, max], with every kind of escape. */
  private string(min: number, max: number): string {
    const n = this.int(min, Math.min(max, min + 6));
    let out = '"';
    for (let k = 0; k < n; k++) {
      const c = this.pick(CHARS);
      const asEscape = this.r() < 0.3;
      if (c === '"' || c === '\\') out += `\\${c}`;
      else if (c === '\n') out += this.pick(['\\n', '\\u000a', '\\u000A']);
      else if (c === '\u0001') out += '\\u0001';
      else if (c === '/' && asEscape) out += '\\/';
      else if (asEscape) out += Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
      else out += c;
    }
    return `${out}"`;
  }

  private number(integer: boolean, s: Schema): string {
    const bounded = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => k in s);
    const lo = Math.max(-1e6, (s.minimum as number) ?? (s.exclusiveMinimum as number) ?? -1e6);
    const hi = Math.min(1e6, (s.maximum as number) ?? (s.exclusiveMaximum as number) ?? 1e6);
    for (let attempt = 0; ; attempt++) {
      const x = this.r() < 0.2 ? this.pick([lo, hi, 0]) : lo + (hi - lo) * this.r();
      let text = integer ? String(Math.round(x)) : x.toFixed(this.int(0, 6));
      if (text === '-0' || (text.startsWith('-0.') && Number(text) === 0)) text = this.pick(['0', '-0']);
      if (!integer && !bounded && this.r() < 0.3) text = `${this.int(1, 9)}${this.pick(['e', 'E'])}${this.pick(['', '+', '-'])}${this.int(0, 99)}`;
      const ok =
        ('minimum' in s ? Number(text) >= (s.minimum as number) : true) &&
        ('maximum' in s ? Number(text) <= (s.maximum as number) : true) &&
        ('exclusiveMinimum' in s ? Number(text) > (s.exclusiveMinimum as number) : true) &&
        ('exclusiveMaximum' in s ? Number(text) < (s.exclusiveMaximum as number) : true);
      if (ok || attempt > 20) return text;
    }
  }
}

const INTERESTING = Array.from('"\\,:{}[] \n0123456789.eE-+tfnaZu/')
  .map((c) => c.charCodeAt(0))
  .concat([0x01, 0x1f, 0x09, 0xc3, 0xa9, 0x80, 0xe6, 0xf0, 0x9f, 0xed, 0xa0, 0xff]);

/** A random small edit of `bytes`: delete, insert, replace, truncate, duplicate or swap a span. */
export function mutate(bytes: Uint8Array, r: () => number): Uint8Array {
  const a = Array.from(bytes);
  const at = Math.floor(r() * (a.length + 1));
  const byte = INTERESTING[Math.floor(r() * INTERESTING.length)]!;
  switch (Math.floor(r() * 6)) {
    case 0:
      a.splice(at, 1);
      break;
    case 1:
      a.splice(at, 0, byte);
      break;
    case 2:
      a[Math.min(at, a.length - 1)] = byte;
      break;
    case 3:
      a.length = at;
      break;
    case 4: {
      const len = 1 + Math.floor(r() * 6);
      a.splice(at, 0, ...a.slice(at, at + len));
      break;
    }
    default: {
      const other = Math.floor(r() * a.length);
      [a[at], a[other]] = [a[other]!, a[at]!];
    }
  }
  return Uint8Array.from(a.filter((x) => x !== undefined));
}
