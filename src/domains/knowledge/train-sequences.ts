/**
 * From a self-edit (a completion of a self-edit prompt) to the inner loop's training sequences
 * (docs/reference/seal-knowledge.md §2.3). The reference's rules, in both modes:
 *   1. the completion is split on `---` into stripped, non-empty segments;
 *   2. each segment is split into stripped, non-empty lines; when there are at least two lines and the second starts
 *      with `1.`, the first is a preamble ("Sure, here are the implications:") and is dropped;
 *   3. each piece becomes "{title}\n{piece}", and the passage itself, "{title}\n{context}", is always appended (an empty
 *      completion trains on the passage alone: the "train on the passage" baseline).
 * A question-answer completion (it has "Question N:" and an answer marker) is instead split where each question
 * starts, so that a question and its answer stay one sequence.
 *
 * `compat: true` is the reference exactly (build_train_sequences with split_newlines, as in every single-passage run),
 * Python string semantics included (python-text.ts). Its defect: the question-answer branch needs `Answer:` and
 * misses the `Answer 1:`, `Answer 2:` ... that models write, so 88-98% of the paper's self-QA completions were split
 * into lines, each question and each answer a separate sequence. The default mode fixes that and what goes with it:
 *   - `Answer N:` is an answer marker as well as `Answer:` (and "Question N :" a question);
 *   - a self-qa completion continues its prompt's "Question 1: ", which is put back in front of it (the reference
 *     prefixed "Question 1: " to the first piece of any question-answer completion not starting with "Question", so a
 *     preamble became a question); with the prompt known, a single pair is recognised too;
 *   - `---` splits question-answer completions as it splits the others (the reference left it inside the pieces), and
 *     the pieces are stripped (the reference kept a trailing newline on all but the last);
 *   - a question written with markdown (`**Question 2:**`) starts a new pair.
 * Line-split completions (implications, rewrites) give the same sequences in both modes.
 */
import { pyLstrip, pySplitLines, pyStrip, PY_DIGIT, PY_SPACE } from './python-text.ts';
import type { SquadPassage } from './passages.ts';
import { DEFAULT_SELF_EDIT_PROMPT, type SelfEditPromptKind } from './self-edit-prompts.ts';

export interface TrainingSequenceOptions {
  /** The prompt the completion continues (default implications); only a self-qa completion is read differently. */
  prompt?: SelfEditPromptKind;
  /** Reproduce the reference exactly, its self-QA defect included (the prompt is then ignored, as there). */
  compat?: boolean;
}

/** The training sequences of a completion of the passage's self-edit prompt. */
export function trainingSequences(passage: Pick<SquadPassage, 'title' | 'context'>, completion: string, options: TrainingSequenceOptions = {}): string[] {
  const pieces = options.compat ? referencePieces(completion) : fixedPieces(completion, options.prompt ?? DEFAULT_SELF_EDIT_PROMPT);
  return [...pieces.map((piece) => `${passage.title}\n${piece}`), `${passage.title}\n${pyStrip(passage.context)}`];
}

const S = PY_SPACE;
const D = PY_DIGIT;

// The reference's patterns (re.search / re.split on the whole completion).
const REFERENCE_QUESTION = new RegExp(`Question${S}+${D}+:`, 'u');
const REFERENCE_ANSWER = new RegExp(`Answer${S}*:`, 'u');
const REFERENCE_QUESTION_START = new RegExp(`\\n(?=Question${S}+${D}+:)`, 'u');

function referencePieces(completion: string): string[] {
  if (REFERENCE_QUESTION.test(completion) && REFERENCE_ANSWER.test(completion)) {
    // Not split on `---`, not stripped but the first; the first gets "Question 1: " unless it starts with "Question".
    const pieces = pyStrip(completion).split(REFERENCE_QUESTION_START);
    if (!pyLstrip(pieces[0]!).startsWith('Question')) pieces[0] = `Question 1: ${pyStrip(pieces[0]!)}`;
    return pieces;
  }
  return lines(segments(completion));
}

// The fixed patterns: "Answer N:" too, optional space before the colon, markdown before a question at a line start.
const QUESTION = new RegExp(`Question${S}+${D}+${S}*:`, 'u');
const ANSWER = new RegExp(`Answer(?:${S}+${D}+)?${S}*:`, 'u');
const QUESTION_START = new RegExp(`\\n(?=[ \\t*#_]*Question${S}+${D}+${S}*:)`, 'u');
const STARTS_WITH_QUESTION = new RegExp(`^[*#_]*Question${S}+${D}+${S}*:`, 'u');

function fixedPieces(completion: string, prompt: SelfEditPromptKind): string[] {
  let text = completion;
  // The self-qa prompt ends with "Question 1: ": its completion is the rest of that first question.
  if (prompt === 'self-qa' && pyStrip(text) !== '' && !STARTS_WITH_QUESTION.test(pyLstrip(text))) text = `Question 1: ${pyLstrip(text)}`;
  if (QUESTION.test(text) && ANSWER.test(text)) {
    return segments(text)
      .flatMap((segment) => segment.split(QUESTION_START))
      .map(pyStrip)
      .filter((piece) => piece !== '');
  }
  return lines(segments(text));
}

/** The completion split on `---` into stripped, non-empty segments (the whole completion, stripped, when none). */
function segments(text: string): string[] {
  const parts = text
    .split('---')
    .map(pyStrip)
    .filter((s) => s !== '');
  return parts.length ? parts : [pyStrip(text)];
}

/** The segments' stripped, non-empty lines, without a preamble line before a list that starts with `1.`. */
function lines(segmentTexts: readonly string[]): string[] {
  const out = segmentTexts
    .flatMap((segment) => pySplitLines(segment))
    .map(pyStrip)
    .filter((line) => line !== '');
  return out.length > 1 && out[1]!.startsWith('1.') ? out.slice(1) : out;
}
