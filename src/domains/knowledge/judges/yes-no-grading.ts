/**
 * The reference's grading prompt and rule, shared by the yes/no judges (model:, openai:). Both are the experimental
 * condition behind the paper's numbers (its GPT-4.1 grader saw exactly this text), so the prompt is the reference's
 * byte for byte: SEAL, knowledge-incorporation/src/utils.py SQUAD_GRADE_TEMPLATE and format_grade_prompts (MIT
 * licence, Copyright (c) 2025 Adam Zweiger; examples/data/arc/LICENSE); docs/knowledge-judges.md describes both.
 *
 * The rule (parse_yes_no): correct iff the reply contains the word "yes" and not the word "no", case-insensitively,
 * with Python's Unicode word boundaries. An empty prediction is wrong without asking the grader, as the reference
 * does.
 */
import { goldAnswers, type GradeItem, type Verdict } from './judge.ts';
import { type VerdictCache, type VerdictKey, verdictKeyString } from './verdict-cache.ts';
import { pythonStrip, pythonWordRegex } from './python-text.ts';

const INSTRUCTIONS =
  "You are a grading assistant. Your job is to determine whether a student's answer correctly answers the question based solely on the provided gold answer. " +
  'Do not use any outside knowledge. The student answer can include additional information, but it must at least fully convey the gold answer and must not contradict it. ' +
  "Ignore style, phrasing, or extra details that do not affect correctness. Respond ONLY with 'yes' or 'no'.";

const QUESTION_TO_GRADE = "Is the student answer correct based solely on the gold answer? Respond 'yes' or 'no'.";

/** The grading prompt of one answer; the prediction is stripped of surrounding whitespace (format_grade_prompts). */
export function gradingPrompt(question: string, gold: string, prediction: string): string {
  return `${INSTRUCTIONS}\n\nQuestion: ${question}\nGold answer: ${gold}\nStudent answer: ${pythonStrip(prediction)}\n${QUESTION_TO_GRADE}`;
}

const YES = pythonWordRegex('yes', 'i');
const NO = pythonWordRegex('no', 'i');

/** The reference's rule on a grader's reply: the word yes, and not the word no. */
export function yesNoVerdict(reply: string): boolean {
  return YES.test(reply) && !NO.test(reply);
}

/** Whether a prediction is graded at all: an empty (all-whitespace) one is wrong without a grader call. */
export function needsGrader(prediction: string): boolean {
  return pythonStrip(prediction) !== '';
}

/**
 * Asks a yes/no grader for every prompt: `onReply(i, reply)` as soon as prompt i is answered (so each reply can be
 * stored before the others arrive), resolving when all are.
 */
export type AskGrader = (prompts: readonly string[], onReply: (index: number, reply: string) => void) => Promise<void>;

/** Where the replies of one judge are cached. */
export interface JudgeCache {
  readonly cache: VerdictCache;
  /** The judge's Judge.id. */
  readonly judge: string;
}

/**
 * Grades items with a yes/no grader: one prompt per (item, gold answer). Prompts already in the cache, and
 * repeats of a prompt within the call (candidates that answer alike), are not asked again; the rest go to `ask`
 * together (it batches them or runs them concurrently) and each reply is cached as it arrives. An item is correct
 * when the reply for any of its gold answers is (with one gold answer, the reference's case, that is its one
 * reply); its `reply` is the first accepted reply, else the first one; `cached` when no reply of it was asked for
 * now. Empty predictions are wrong and cost no prompt.
 */
export async function gradeYesNo(items: readonly GradeItem[], ask: AskGrader, cached?: JudgeCache): Promise<Verdict[]> {
  const replies = new Map<string, string>();
  const fromCache = new Set<string>();
  const toAsk: { key: VerdictKey; id: string; prompt: string }[] = [];
  const asking = new Set<string>();
  const keysOf = items.map((item) => {
    const golds = goldAnswers(item);
    if (!needsGrader(item.prediction)) return [];
    return golds.map((gold) => {
      const key: VerdictKey = { judge: cached?.judge ?? '', question: item.question, gold, prediction: item.prediction };
      const id = verdictKeyString(key);
      if (replies.has(id) || asking.has(id)) return id;
      const hit = cached?.cache.get(key);
      if (hit !== undefined) {
        replies.set(id, hit);
        fromCache.add(id);
      } else {
        asking.add(id);
        toAsk.push({ key, id, prompt: gradingPrompt(item.question, gold, item.prediction) });
      }
      return id;
    });
  });
  const failures: unknown[] = [];
  if (toAsk.length) {
    await ask(
      toAsk.map((p) => p.prompt),
      (index, reply) => {
        const asked = toAsk[index]!;
        replies.set(asked.id, reply);
        cached?.cache.set(asked.key, reply);
      },
    ).catch((e: unknown) => failures.push(e));
  }
  // Also after a failure: whatever was answered stays cached, and a rerun asks only for the rest.
  await cached?.cache.flush().catch((e: unknown) => failures.push(e));
  if (failures.length) throw failures[0];
  return keysOf.map((ids) => {
    if (ids.length === 0) return { correct: false, reply: '' };
    const itemReplies = ids.map((id) => {
      const reply = replies.get(id);
      if (reply === undefined) throw new Error(`gradeYesNo: the grader gave no reply for ${id}`);
      return reply;
    });
    const accepted = itemReplies.find(yesNoVerdict);
    const verdict = { correct: accepted !== undefined, reply: accepted ?? itemReplies[0]! };
    return ids.every((id) => fromCache.has(id)) ? { ...verdict, cached: true } : verdict;
  });
}
