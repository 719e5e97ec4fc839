/**
 * Python's string semantics that the reference's sequence builder relies on (docs/reference/seal-knowledge.md §2.3),
 * where JavaScript's differ: str.strip(), str.splitlines() and the `\s` / `\d` of Python's `re` on str patterns. With
 * these, `seal knowledge sequences --compat` gives the reference's sequences even for text with unusual whitespace
 * (JavaScript's trim() also strips U+FEFF but not U+001C-U+001F or U+0085; split('\n') misses \r, \v, \f, U+2028...).
 */

/** The characters of Python's str.isspace() (Unicode White_Space plus the separators U+001C-U+001F), as a class body. */
export const PY_SPACE_CLASS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** Python re's `\s` on a str pattern. */
export const PY_SPACE = `[${PY_SPACE_CLASS}]`;
/** Python re's `\d` on a str pattern: any Unicode decimal digit (use with the `u` flag). */
export const PY_DIGIT = '\\p{Nd}';

const LEADING_SPACE = new RegExp(`^${PY_SPACE}+`);
const TRAILING_SPACE = new RegExp(`${PY_SPACE}+$`);

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+001C-U+001E end a line in Python, and matching Python is the point
const PY_LINE_BREAK = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;

/** Python's s.strip(). */
export function pyStrip(s: string): string {
  return pyLstrip(s).replace(TRAILING_SPACE, '');
}

/** Python's s.lstrip(). */
export function pyLstrip(s: string): string {
  return s.replace(LEADING_SPACE, '');
}

/** Python's s.splitlines(): split at \n, \r, \r\n, \v, \f, U+001C-U+001E, U+0085, U+2028, U+2029; no trailing empty line. */
export function pySplitLines(s: string): string[] {
  if (s === '') return [];
  const lines = s.split(PY_LINE_BREAK);
  // A final line break ends the last line rather than starting an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
