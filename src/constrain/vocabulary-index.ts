/**
 * What token masks need to know about a vocabulary, built once per vocabulary and shared by every constraint on it:
 * each id's bytes, the byte trie of all tokens, and for string bodies the "plain string text" tokens (no quote,
 * backslash or control byte; whole UTF-8 characters) bucketed by length in code points, plus a trie of the rest.
 */
import { TokenTrie } from './token-trie.ts';

export class VocabularyIndex {
  /** Every id with bytes. */
  readonly trie: TokenTrie;
  /** The ids that are not plain string text. */
  readonly nonPlainTrie: TokenTrie;
  /** Code points of each plain-string token, -1 for the others. */
  readonly plainLength: Int16Array;
  private plainUpTo = new Map<number, Uint32Array[]>();

  /** bytes[id]: what id appends to the text; null or empty = never allowed inside a document. */
  constructor(readonly bytes: readonly (Uint8Array | null)[]) {
    this.trie = new TokenTrie(bytes);
    this.plainLength = new Int16Array(bytes.length).fill(-1);
    bytes.forEach((b, id) => {
      if (b?.length) this.plainLength[id] = Math.min(plainCodePoints(b), 0x7fff);
    });
    this.nonPlainTrie = new TokenTrie(bytes, (id) => this.plainLength[id]! < 0);
  }

  /** upTo[c]: mask of the plain-string tokens of at most c code points, for masks of `words` u32 (built once per width). */
  plainMasks(words: number): Uint32Array[] {
    const upTo = this.plainUpTo.get(words);
    if (upTo) return upTo;
    let longest = 0;
    for (const n of this.plainLength) longest = Math.max(longest, n);
    const masks = Array.from({ length: longest + 1 }, () => new Uint32Array(words));
    this.plainLength.forEach((n, id) => {
      if (n > 0) masks[n]![id >>> 5]! |= 1 << (id & 31);
    });
    for (let c = 1; c <= longest; c++) for (let w = 0; w < words; w++) masks[c]![w]! |= masks[c - 1]![w]!;
    this.plainUpTo.set(words, masks);
    return masks;
  }
}

/**
 * Code points of a token that is plain JSON string text (bytes 0x20..0x7F other than '"' and '\', and well-formed
 * multi-byte UTF-8 characters: the recognizer's string-body rules); -1 for any other token.
 */
export function plainCodePoints(b: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < b.length; count++) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c < 0x20 || c === 0x22 || c === 0x5c) return -1;
      i++;
      continue;
    }
    // Continuation bytes after lead c, and the range of the first one (RFC 3629).
    const [n, lo, hi] =
      c >= 0xc2 && c <= 0xdf
        ? [1, 0x80, 0xbf]
        : c === 0xe0
          ? [2, 0xa0, 0xbf]
          : c === 0xed
            ? [2, 0x80, 0x9f]
            : c >= 0xe1 && c <= 0xef
              ? [2, 0x80, 0xbf]
              : c === 0xf0
                ? [3, 0x90, 0xbf]
                : c >= 0xf1 && c <= 0xf3
                  ? [3, 0x80, 0xbf]
                  : c === 0xf4
                    ? [3, 0x80, 0x8f]
                    : [0, 0, 0];
    if (n === 0 || i + n >= b.length) return -1; // a character cut short
    if (b[i + 1]! < lo || b[i + 1]! > hi) return -1;
    for (let k = 2; k <= n; k++) if (b[i + k]! < 0x80 || b[i + k]! > 0xbf) return -1;
    i += n + 1;
  }
  return count;
}
