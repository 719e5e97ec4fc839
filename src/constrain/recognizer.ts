/**
 * An incremental recognizer of a Grammar over UTF-8 bytes: start, advance(state, byte) -> state | null, isComplete.
 *
 * A state is a short list of threads (alternatives of anyOf still alive); a thread is an immutable stack of frames,
 * the top one being the value being read and each frame's `up` the container to continue with once it is done (already
 * in its after-value phase). Advancing allocates only the new top frame, so states are cheap to keep and share.
 *
 * Lexical rules (the JSON grammar, RFC 8259, with these restrictions):
 *  - whitespace (space, tab, LF, CR): at most grammar.maxWhitespace bytes in each gap between tokens and before the
 *    document, none after it (the document ends with its last value byte);
 *  - strings: raw bytes must be well-formed UTF-8, control bytes must be escaped, \u escapes of surrogates must form a
 *    high-low pair (lone surrogates refused); lengths count code points;
 *  - numbers: at most MAX_INTEGER_DIGITS / MAX_FRACTION_DIGITS / MAX_EXPONENT_DIGITS digits (decimal.ts); integers
 *    have no fraction or exponent; bounded numbers no exponent;
 *  - keys and literals (const, enum, true, false, null) exactly as JSON.stringify writes them.
 */
import { type DecimalRange, MAX_EXPONENT_DIGITS, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, type DecimalPrefix } from './decimal.ts';
import { deref, type ArrayNode, type Grammar, type GrammarNode, type LiteralNode, type NumberNode, type ObjectNode, type StringNode } from './grammar.ts';

enum Kind {
  Done, // the whole document has been read
  Pending, // a value of `node` comes next (after optional whitespace)
  Object,
  Array,
  String,
  Number,
  Literal,
}

// Object phases. `i` is the index of the last property written (-1 before the first).
const O_OPEN = 0; // after '{': whitespace, a key or '}'
const O_COMMA = 1; // after ',': whitespace or a key
const O_KEY = 2; // inside a key: x = node of the key trie keyTries[i + 1]
const O_COLON = 3; // after the key of property i: whitespace or ':'
const O_VALUE = 4; // after the value of property i: whitespace, ',' or '}'

// Array phases. `i` is the number of items written (clamped where it no longer matters).
const A_OPEN = 0; // after '[': whitespace, ']' or the first item
const A_VALUE = 1; // after an item: whitespace, ',' or ']'

// String phases. `i` is the length so far in code points (clamped where it no longer matters).
const S_BODY = 0;
const S_UTF8 = 1; // x = which continuation bytes are still expected (U_*)
const S_ESC = 2; // after '\'
const S_HEX = 3; // in \uXXXX: n digits read, x = their value
const S_LOW_SLASH = 4; // after a high-surrogate escape: '\' of the low one must follow
const S_LOW_U = 5; // then 'u'
const S_LOW_HEX = 6; // then its 4 hex digits: n read, x = their value

// UTF-8 continuation states: how many bytes remain and the range the next one must be in (RFC 3629 table).
const U_1 = 0; // 1 more, 80..BF
const U_2 = 1; // 2 more, 80..BF
const U_3 = 2; // 3 more, 80..BF
const U_E0 = 3; // A0..BF, then 1 more
const U_ED = 4; // 80..9F (no surrogates), then 1 more
const U_F0 = 5; // 90..BF, then 2 more
const U_F4 = 6; // 80..8F (<= U+10FFFF), then 2 more
const UTF8_NEXT: readonly [lo: number, hi: number, then: number][] = [
  [0x80, 0xbf, -1],
  [0x80, 0xbf, U_1],
  [0x80, 0xbf, U_2],
  [0xa0, 0xbf, U_1],
  [0x80, 0x9f, U_1],
  [0x90, 0xbf, U_2],
  [0x80, 0x8f, U_2],
];

// Number phases; `s` holds the text so far.
const N_START = 0;
const N_SIGN = 1; // after '-'
const N_ZERO = 2; // integer part "0" (accepting)
const N_INT = 3; // integer part [1-9][0-9]* (accepting)
const N_DOT = 4; // after '.'
const N_FRAC = 5; // fraction digits (accepting)
const N_EXP = 6; // after 'e' / 'E'
const N_EXP_SIGN = 7; // after the exponent's sign
const N_EXP_DIGITS = 8; // exponent digits (accepting)

/** One entry of a thread's stack; immutable. */
interface Frame {
  readonly kind: Kind;
  readonly node: GrammarNode | null;
  /** What to continue with once this value is done. */
  readonly up: Frame | null;
  readonly phase: number;
  readonly i: number;
  /** Whitespace bytes in the current gap, or hex digits read. */
  readonly n: number;
  readonly x: number;
  /** Number text so far. */
  readonly s: string;
  key?: string;
}

/** Live threads; never empty. Treat as opaque and immutable. */
export type RecognizerState = readonly Frame[];

const frame = (kind: Kind, node: GrammarNode | null, up: Frame | null, phase = 0, i = 0, n = 0, x = 0, s = ''): Frame => ({
  kind,
  node,
  up,
  phase,
  i,
  n,
  x,
  s,
  key: undefined,
});

const DONE: Frame = frame(Kind.Done, null, null);

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a,
  MINUS = 0x2d,
  PLUS = 0x2b,
  DOT = 0x2e;
const isWhitespace = (b: number) => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** Value of a hex digit byte, or -1. */
function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

function decimalPrefix(text: string): DecimalPrefix {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const dot = body.indexOf('.');
  return dot < 0 ? { negative, int: body, dot: false, frac: '' } : { negative, int: body.slice(0, dot), dot: true, frac: body.slice(dot + 1) };
}

export class Recognizer {
  readonly start: RecognizerState;
  private readonly maxWs: number;

  constructor(readonly grammar: Grammar) {
    if (!Number.isInteger(grammar.maxWhitespace) || grammar.maxWhitespace < 0) {
      throw new RangeError(`maxWhitespace must be an integer >= 0, got ${grammar.maxWhitespace}`);
    }
    this.maxWs = grammar.maxWhitespace;
    this.start = [frame(Kind.Pending, grammar.root, DONE)];
  }

  /** The state after `byte`, or null when no valid document continues with it. */
  advance(state: RecognizerState, byte: number): RecognizerState | null {
    const out: Frame[] = [];
    for (const f of state) this.feed(f, byte, out);
    if (out.length === 0) return null;
    if (out.length === 1) return out;
    return out.filter((f, k) => out.indexOf(f) === k); // alternatives that closed into the same container
  }

  /** advance() over several bytes; null as soon as one is refused. */
  advanceBytes(state: RecognizerState, bytes: ArrayLike<number>): RecognizerState | null {
    let s: RecognizerState | null = state;
    for (let k = 0; k < bytes.length && s; k++) s = this.advance(s, bytes[k]!);
    return s;
  }

  /** Whether the bytes so far are a whole valid document. */
  isComplete(state: RecognizerState): boolean {
    return state.some((f) => this.canEnd(f));
  }

  /** Whether `text` (a string, as UTF-8, or bytes) is a document of the grammar. */
  accepts(text: string | Uint8Array): boolean {
    const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
    const s = this.advanceBytes(this.start, bytes);
    return s !== null && this.isComplete(s);
  }

  /** A string that is equal for states that accept the same continuations (for caching per-state work). */
  stateKey(state: RecognizerState): string {
    if (state.length === 1) return frameKey(state[0]!);
    return [...new Set(state.map(frameKey))].sort().join('&');
  }

  /**
   * Splits a state into its threads that are inside a string body at a character boundary, with the most code points
   * any of them may still take (Infinity if unbounded), and the other threads. A token is accepted by a state exactly
   * when one of its threads accepts it, so the two parts can be judged separately (token masks judge plain string
   * text in the first part in bulk).
   */
  splitStringBodies(state: RecognizerState): { strings: RecognizerState | null; room: number; others: RecognizerState | null } {
    const strings: Frame[] = [];
    const others: Frame[] = [];
    let room = 0;
    for (const f of state) {
      if (f.kind === Kind.String && f.phase === S_BODY) {
        strings.push(f);
        room = Math.max(room, (f.node as StringNode).maxLength - f.i);
      } else {
        others.push(f);
      }
    }
    return { strings: strings.length ? strings : null, room, others: others.length ? others : null };
  }

  /** Whether a thread may end the document here. */
  private canEnd(f: Frame): boolean {
    switch (f.kind) {
      case Kind.Done:
        return true;
      case Kind.Number:
        return this.numberAccepts(f) && this.canEnd(f.up!);
      case Kind.Literal:
        return (f.node as LiteralNode).trie.value(f.i) >= 0 && this.canEnd(f.up!);
      default:
        return false;
    }
  }

  private feed(f: Frame, b: number, out: Frame[]): void {
    switch (f.kind) {
      case Kind.Done:
        return;
      case Kind.Pending:
        if (isWhitespace(b)) {
          if (f.n < this.maxWs) out.push(frame(Kind.Pending, f.node, f.up, 0, 0, f.n + 1));
          return;
        }
        return this.startValue(f.node!, f.up!, b, out);
      case Kind.Object:
        return this.feedObject(f, b, out);
      case Kind.Array:
        return this.feedArray(f, b, out);
      case Kind.String:
        return this.feedString(f, b, out);
      case Kind.Number:
        return this.feedNumber(f, b, out);
      case Kind.Literal:
        return this.feedLiteral(f, b, out);
    }
  }

  /** The first byte of a value of `node`, continuing with `up` once the value is done. */
  private startValue(node: GrammarNode, up: Frame, b: number, out: Frame[]): void {
    const n = deref(node);
    switch (n.kind) {
      case 'anyOf':
        for (const option of n.options) this.startValue(option, up, b, out);
        return;
      case 'object':
        if (b === 0x7b) out.push(frame(Kind.Object, n, up, O_OPEN, -1));
        return;
      case 'array':
        if (b === 0x5b) out.push(frame(Kind.Array, n, up, A_OPEN, 0));
        return;
      case 'string':
        if (b === QUOTE) out.push(frame(Kind.String, n, up, S_BODY, 0));
        return;
      case 'number':
        return this.feedNumber(frame(Kind.Number, n, up, N_START), b, out);
      case 'literal':
        return this.feedLiteral(frame(Kind.Literal, n, up, 0, 0), b, out);
    }
  }

  private feedObject(f: Frame, b: number, out: Frame[]): void {
    const node = f.node as ObjectNode;
    const gapWs = () => {
      if (f.n < this.maxWs) out.push(frame(Kind.Object, node, f.up, f.phase, f.i, f.n + 1, f.x));
    };
    switch (f.phase) {
      case O_OPEN:
      case O_COMMA: {
        if (isWhitespace(b)) return gapWs();
        if (b === 0x7d && f.phase === O_OPEN && node.canClose[0]) return void out.push(f.up!);
        const trie = node.keyTries[f.i + 1]!;
        const next = trie.next(0, b);
        if (next >= 0) out.push(frame(Kind.Object, node, f.up, O_KEY, f.i, 0, next));
        return;
      }
      case O_KEY: {
        const trie = node.keyTries[f.i + 1]!;
        const next = trie.next(f.x, b);
        if (next < 0) return;
        const prop = trie.value(next);
        // Quoted keys end with their only unescaped '"': a complete key is a leaf.
        out.push(prop >= 0 ? frame(Kind.Object, node, f.up, O_COLON, prop) : frame(Kind.Object, node, f.up, O_KEY, f.i, 0, next));
        return;
      }
      case O_COLON:
        if (isWhitespace(b)) return gapWs();
        if (b === COLON) out.push(frame(Kind.Pending, node.props[f.i]!.value, frame(Kind.Object, node, f.up, O_VALUE, f.i)));
        return;
      case O_VALUE:
        if (isWhitespace(b)) return gapWs();
        if (b === COMMA && f.i + 1 < node.props.length) out.push(frame(Kind.Object, node, f.up, O_COMMA, f.i));
        else if (b === 0x7d && node.canClose[f.i + 1]) out.push(f.up!);
        return;
    }
  }

  private feedArray(f: Frame, b: number, out: Frame[]): void {
    const node = f.node as ArrayNode;
    if (isWhitespace(b)) {
      if (f.n < this.maxWs) out.push(frame(Kind.Array, node, f.up, f.phase, f.i, f.n + 1));
      return;
    }
    // Counts above both bounds behave alike: clamp them so states repeat (mask caching).
    const cap = Number.isFinite(node.maxItems) ? node.maxItems : node.minItems;
    const after = (count: number) => frame(Kind.Array, node, f.up, A_VALUE, Math.min(count, cap));
    if (f.phase === A_OPEN) {
      if (b === 0x5d) {
        if (node.minItems === 0) out.push(f.up!);
      } else if (node.maxItems > 0) {
        this.startValue(node.items, after(1), b, out);
      }
      return;
    }
    if (b === COMMA && f.i < node.maxItems) out.push(frame(Kind.Pending, node.items, after(f.i + 1)));
    else if (b === 0x5d && f.i >= node.minItems) out.push(f.up!);
  }

  private feedString(f: Frame, b: number, out: Frame[]): void {
    const node = f.node as StringNode;
    const cap = Number.isFinite(node.maxLength) ? node.maxLength : node.minLength;
    const str = (phase: number, len: number, n = 0, x = 0) => out.push(frame(Kind.String, node, f.up, phase, Math.min(len, cap), n, x));
    const room = f.i < node.maxLength;
    switch (f.phase) {
      case S_BODY:
        if (b === QUOTE) {
          if (f.i >= node.minLength) out.push(f.up!);
        } else if (b === BACKSLASH) {
          if (room) str(S_ESC, f.i + 1);
        } else if (b < 0x20) {
          return; // control characters must be escaped
        } else if (b < 0x80) {
          if (room) str(S_BODY, f.i + 1);
        } else if (room) {
          const u =
            b < 0xc2
              ? -1
              : b <= 0xdf
                ? U_1
                : b === 0xe0
                  ? U_E0
                  : b === 0xed
                    ? U_ED
                    : b <= 0xef
                      ? U_2
                      : b === 0xf0
                        ? U_F0
                        : b <= 0xf3
                          ? U_3
                          : b === 0xf4
                            ? U_F4
                            : -1;
          if (u >= 0) str(S_UTF8, f.i + 1, 0, u);
        }
        return;
      case S_UTF8: {
        const [lo, hi, then] = UTF8_NEXT[f.x]!;
        if (b >= lo && b <= hi) str(then < 0 ? S_BODY : S_UTF8, f.i, 0, Math.max(then, 0));
        return;
      }
      case S_ESC:
        if (b === 0x75) str(S_HEX, f.i);
        else if (b === QUOTE || b === BACKSLASH || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) str(S_BODY, f.i);
        return;
      case S_HEX: {
        const h = hexValue(b);
        if (h < 0) return;
        const v = f.x * 16 + h;
        if (f.n === 1 && v >= 0xdc && v <= 0xdf) return; // a low surrogate without its high one
        if (f.n < 3) str(S_HEX, f.i, f.n + 1, v);
        else str(v >= 0xd800 && v <= 0xdbff ? S_LOW_SLASH : S_BODY, f.i);
        return;
      }
      case S_LOW_SLASH:
        if (b === BACKSLASH) str(S_LOW_U, f.i);
        return;
      case S_LOW_U:
        if (b === 0x75) str(S_LOW_HEX, f.i);
        return;
      case S_LOW_HEX: {
        const h = hexValue(b);
        if (h < 0) return;
        const v = f.x * 16 + h;
        if ((f.n === 0 && v !== 0xd) || (f.n === 1 && (v < 0xdc || v > 0xdf))) return; // must be DC00..DFFF
        if (f.n < 3) str(S_LOW_HEX, f.i, f.n + 1, v);
        else str(S_BODY, f.i);
        return;
      }
    }
  }

  /** The number phase after byte b, or -1 when b cannot continue the number's text. */
  private numberStep(node: NumberNode, phase: number, text: string, b: number): number {
    const exponentAllowed = !node.integer && node.range === null;
    const afterInteger = () => (b === DOT ? (node.integer ? -1 : N_DOT) : (b | 0x20) === 0x65 && exponentAllowed ? N_EXP : -1);
    const firstDigit = () => (b === 0x30 ? N_ZERO : isDigit(b) ? N_INT : -1);
    switch (phase) {
      case N_START:
        return b === MINUS ? N_SIGN : firstDigit();
      case N_SIGN:
        return firstDigit();
      case N_ZERO:
        return afterInteger();
      case N_INT:
        if (!isDigit(b)) return afterInteger();
        return text.length - (text.startsWith('-') ? 1 : 0) < MAX_INTEGER_DIGITS ? N_INT : -1;
      case N_DOT:
        return isDigit(b) ? N_FRAC : -1;
      case N_FRAC:
        if (isDigit(b)) return text.length - text.indexOf('.') - 1 < MAX_FRACTION_DIGITS ? N_FRAC : -1;
        return (b | 0x20) === 0x65 && exponentAllowed ? N_EXP : -1;
      case N_EXP:
        return b === MINUS || b === PLUS ? N_EXP_SIGN : isDigit(b) ? N_EXP_DIGITS : -1;
      case N_EXP_SIGN:
        return isDigit(b) ? N_EXP_DIGITS : -1;
      case N_EXP_DIGITS:
        return isDigit(b) && exponentDigits(text) < MAX_EXPONENT_DIGITS ? N_EXP_DIGITS : -1;
    }
    return -1;
  }

  private numberAccepts(f: Frame): boolean {
    const node = f.node as NumberNode;
    const accepting = f.phase === N_ZERO || f.phase === N_INT || f.phase === N_FRAC || f.phase === N_EXP_DIGITS;
    return accepting && (node.range === null || node.range.contains(decimalPrefix(f.s)));
  }

  private feedNumber(f: Frame, b: number, out: Frame[]): void {
    const node = f.node as NumberNode;
    const phase = this.numberStep(node, f.phase, f.s, b);
    if (phase >= 0) {
      const text = f.s + String.fromCharCode(b);
      if (node.range === null || feasible(node.range, text)) out.push(frame(Kind.Number, node, f.up, phase, 0, 0, 0, text));
      return;
    }
    // The number ends before b: b belongs to what follows.
    if (this.numberAccepts(f)) this.feed(f.up!, b, out);
  }

  private feedLiteral(f: Frame, b: number, out: Frame[]): void {
    const node = f.node as LiteralNode;
    const next = node.trie.next(f.i, b);
    if (next >= 0) {
      if (node.trie.isLeaf(next))
        out.push(f.up!); // nothing longer can follow: done now
      else out.push(frame(Kind.Literal, node, f.up, 0, next));
    } else if (node.trie.value(f.i) >= 0) {
      this.feed(f.up!, b, out); // a complete literal that another one extends ("1" vs "12"): b follows it
    }
  }
}

/** Digits after the 'e' (and its sign) of a number's text. */
function exponentDigits(text: string): number {
  const e = Math.max(text.indexOf('e'), text.indexOf('E'));
  const sign = text[e + 1] === '+' || text[e + 1] === '-' ? 1 : 0;
  return text.length - e - 1 - sign;
}

function feasible(range: DecimalRange, text: string): boolean {
  return range.feasible(decimalPrefix(text));
}

function frameKey(f: Frame): string {
  if (f.key === undefined) {
    const own = `${f.kind}.${f.node ? (f.node as { id: number }).id : ''}.${f.phase}.${f.i}.${f.n}.${f.x}.${f.s}`;
    f.key = f.up ? `${own}/${frameKey(f.up)}` : own;
  }
  return f.key;
}
