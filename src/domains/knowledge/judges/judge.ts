/**
 * What every judge of the knowledge domain is: something that says, for a batch of (question, gold answer(s),
 * prediction) items, whether each prediction is correct. The judges (squad-judge.ts, model-judge.ts,
 * openai-judge.ts) differ in how they decide and what they cost; docs/knowledge-judges.md compares them.
 */

/** One answer to grade. */
export interface GradeItem {
  /** The question as the answering model saw it. */
  readonly question: string;
  /** The gold answer, or several (SQuAD has up to a few per question; a prediction is graded against the best). */
  readonly gold: string | readonly string[];
  /** The model's answer. */
  readonly prediction: string;
}

/** A judge's decision on one item. */
export interface Verdict {
  readonly correct: boolean;
  /** squad: exact match, 0 or 1 (the max over the gold answers). */
  readonly em?: number;
  /** squad: token F1 in [0, 1] (the max over the gold answers). */
  readonly f1?: number;
  /** Yes/no judges: the grader's reply ('' when no grader was asked: an empty prediction is wrong without a call). */
  readonly reply?: string;
  /** Set when the verdict came from the verdict cache instead of the grader. */
  readonly cached?: boolean;
}

export interface Judge {
  /** The judge as its spec names it ('squad', 'model:Qwen/Qwen2.5-7B-Instruct', 'openai:gpt-4.1'): the report's label. */
  readonly name: string;
  /**
   * Who gives the verdicts, for the verdict cache's key: the name plus whatever else changes the verdicts (the
   * endpoint of an OpenAI-compatible judge). Two judges with the same id give the same verdicts.
   */
  readonly id: string;
  /** One verdict per item, in item order. */
  grade(items: readonly GradeItem[]): Promise<Verdict[]>;
}

/** A judge cannot grade: no API key, an endpoint that keeps failing, a prompt longer than the grader's context. */
export class JudgeError extends Error {}

/** The gold answers of an item as a list (at least one). */
export function goldAnswers(item: GradeItem): readonly string[] {
  const golds = typeof item.gold === 'string' ? [item.gold] : item.gold;
  if (golds.length === 0) throw new JudgeError(`the item '${item.question}' has no gold answer`);
  return golds;
}
