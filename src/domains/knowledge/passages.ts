/**
 * SQuAD passages in the reference's record format (docs/reference/seal-knowledge.md §2.1): a JSON list of
 *   { "title": string, "context": string, "questions": [{ "question": string, "answer": string }, ...] }
 * where the reference's generated files add "completions": [string, ...] (self-edits of the passage) and "prompt"
 * (the prompt that produced them); other fields are ignored. A passage's id is its index in the file.
 *
 * Everything is validated and every problem is reported (file, passage id, field), never a record skipped silently.
 */

/** A malformed SQuAD data file, or a passage selection that does not resolve in it; the message says where. */
export class KnowledgeDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KnowledgeDataError';
  }
}

export interface SquadQuestion {
  readonly question: string;
  /** The gold answer (the reference keeps one per question). */
  readonly answer: string;
}

export interface SquadPassage {
  /** The passage's index in its data file. */
  readonly id: number;
  readonly title: string;
  readonly context: string;
  readonly questions: readonly SquadQuestion[];
  /** Self-edits stored with the passage (the reference's generated files, e.g. GPT-4.1's); empty when none. */
  readonly completions: readonly string[];
}

/** A parsed data file: its passages (ids 0..n-1) and the name it is reported by. */
export interface SquadDataset {
  readonly source: string;
  readonly passages: readonly SquadPassage[];
}

/** Problems listed in one error at most; the message says how many more there are. */
const MAX_LISTED_PROBLEMS = 20;

/**
 * Parses and validates a data file (its text, or its parsed JSON). Throws KnowledgeDataError listing the problems:
 * not a JSON list, an empty list, a record that is not an object, a title or context that is not a non-empty string,
 * questions that are not a non-empty list of {question, answer} non-empty strings, completions that are not a list
 * of strings.
 */
export function parseSquadDataset(data: unknown, source = 'SQuAD data'): SquadDataset {
  let json = data;
  if (typeof data === 'string') {
    try {
      json = JSON.parse(data);
    } catch (e) {
      throw new KnowledgeDataError(`${source} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!Array.isArray(json)) {
    throw new KnowledgeDataError(
      `${source} must be a JSON list of passages ({"title", "context", "questions": [{"question", "answer"}]}), got ${kindOf(json)}`,
    );
  }
  if (json.length === 0) throw new KnowledgeDataError(`${source} holds no passages (an empty list)`);
  const problems: string[] = [];
  const passages: SquadPassage[] = [];
  json.forEach((record: unknown, id) => {
    const passage = parsePassage(record, id, problems);
    if (passage) passages.push(passage);
  });
  if (problems.length) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    const more = problems.length > listed.length ? [`... and ${problems.length - listed.length} more`] : [];
    throw new KnowledgeDataError(`${source}: ${problems.length} problem(s) in its passages:\n${[...listed, ...more].join('\n')}`);
  }
  return { source, passages };
}

function parsePassage(record: unknown, id: number, problems: string[]): SquadPassage | null {
  const at = `passage ${id}`;
  if (!isObject(record)) {
    problems.push(`${at} is ${kindOf(record)}, not an object {"title", "context", "questions"}`);
    return null;
  }
  const before = problems.length;
  const title = nonEmptyString(record.title, `${at}: "title"`, problems);
  const context = nonEmptyString(record.context, `${at}: "context"`, problems);
  const questions: SquadQuestion[] = [];
  if (!Array.isArray(record.questions) || record.questions.length === 0) {
    const got = Array.isArray(record.questions) ? 'an empty list' : kindOf(record.questions);
    problems.push(`${at}: "questions" must be a non-empty list of {"question", "answer"} (they are how the passage is scored), got ${got}`);
  } else {
    record.questions.forEach((q: unknown, j) => {
      const qat = `${at}: question ${j}`;
      if (!isObject(q)) {
        problems.push(`${qat} is ${kindOf(q)}, not an object {"question", "answer"}`);
        return;
      }
      const question = nonEmptyString(q.question, `${qat}: "question"`, problems);
      const answer = nonEmptyString(q.answer, `${qat}: "answer"`, problems);
      if (question !== null && answer !== null) questions.push({ question, answer });
    });
  }
  let completions: string[] = [];
  if (record.completions !== undefined) {
    const bad = Array.isArray(record.completions) ? record.completions.findIndex((c) => typeof c !== 'string') : -1;
    if (!Array.isArray(record.completions) || bad >= 0) {
      const got = Array.isArray(record.completions) ? `${kindOf(record.completions[bad])} at index ${bad}` : kindOf(record.completions);
      problems.push(`${at}: "completions" must be a list of strings (the passage's self-edits), got ${got}`);
    } else {
      completions = record.completions;
    }
  }
  if (problems.length > before || title === null || context === null) return null;
  return { id, title, context, questions, completions };
}

function nonEmptyString(value: unknown, what: string, problems: string[]): string | null {
  if (typeof value === 'string' && value.trim() !== '') return value;
  problems.push(`${what} must be a non-empty string, got ${typeof value === 'string' ? 'an empty one' : kindOf(value)}`);
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a JSON value is, for messages. */
function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return typeof value === 'object' ? 'an object' : `the ${typeof value} ${String(value)}`;
}
