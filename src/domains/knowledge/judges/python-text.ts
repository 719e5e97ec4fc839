/**
 * The few Python 3 text rules the reference's grading code relies on: what str.split() and str.strip() treat as
 * whitespace (str.isspace: JavaScript's \s has U+FEFF in and U+001C-U+001F, U+0085 out), and what `\b` in a str
 * regex sees as a word character (JavaScript's \b knows only ASCII word characters, so 'été' would hold the word
 * 't'). The judges sit below the rest of the knowledge domain (its scoring imports them), so they keep their own.
 */

/** The characters of str.isspace, as a regex class. */
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const SPACE_RUN = new RegExp(`${PY_SPACE}+`);
const EDGE_SPACE = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');

/** Python 3's \w in a str pattern: letters, numbers (any Unicode category N) and the underscore. */
const WORD_CHAR = '[\\p{L}\\p{N}_]';

/** str.split() with no argument: the non-empty pieces between whitespace runs. */
export function pythonSplit(text: string): string[] {
  return text.split(SPACE_RUN).filter((t) => t !== '');
}

/** str.strip() with no argument. */
export function pythonStrip(text: string): string {
  return text.replace(EDGE_SPACE, '');
}

/** `\b(?:alternatives)\b` with Python's word boundaries; `flags` gets 'u' added. */
export function pythonWordRegex(alternatives: string, flags = ''): RegExp {
  return new RegExp(`(?<!${WORD_CHAR})(?:${alternatives})(?!${WORD_CHAR})`, `${flags}u`);
}
