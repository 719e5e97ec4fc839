/**
 * Augmented inference for one test input (eval-self-edits.py with inference/preprocess.py, docs/reference/seal-arc.md
 * §1.9): the queries to decode, and the way back from each decoded answer to a prediction for the original grid.
 *
 * For each n in includeN (leave one out), with a generator seeded by (seed, n):
 *   1. each way to leave n train examples out gives a demo subset (original order) with the real test input; each
 *      subset is queried as is and in permuteN (2) randomly permuted example orders; duplicates are dropped;
 *   2. each geometric transform (Transpose, Flip(0), Flip(1), Rotate(90), Rotate(180)) is applied to one query chosen
 *      at random from step 1's queries, unless the result equals an existing query. Its answers are mapped back by
 *      the inverse transform, and they vote in the category named by that inverse ("Rotate(270)" for Rotate(90));
 *      untransformed queries vote as "identity";
 *   3. queries whose prompt plus answer reach maxTokens are dropped; if none is left, n + 1 is added to includeN once.
 * A task whose queries all fail that way has no valid plan (valid: false, with the reason) instead of the reference's
 * silent [[0]] prediction.
 *
 * The length filter counts the answer as the test input grid (the reference's test mode), never the solution: the
 * reference used the true output here when solutions were loaded, so the solution decided which queries ran.
 *
 * Generation (the caller's, on the GPU): greedy (temperature 0), one sample per query, stopping at EOS / end of turn,
 * at most maxTokens minus the prompt's tokens new tokens, as the reference. Then collectPredictions and vote().
 */
import type { ChatMessage } from '../../text/chat-template.ts';
import {
  augmentationLabel,
  augmentProblem,
  applyGridAugmentation,
  inverseAugmentation,
  invertGridAugmentation,
  permuteExamples,
  type GridAugmentation,
} from './augmentations.ts';
import { readGridAnswer } from './grid-format.ts';
import { problemKey, type ArcExample, type ArcProblem, type Grid } from './grid.ts';
import { answerText, solvePrompt, type SolvePromptOptions } from './prompts.ts';
import { ArcRng, ARC_STREAMS } from './rng.ts';
import { ARC_DEFAULTS, checkInferenceSettings, type InferenceSettings } from './settings.ts';
import { combinations, type ChatTokenCounter } from './ttt-dataset.ts';

/** The voting category of untransformed queries. */
export const IDENTITY = 'identity';

export interface InferenceQuery {
  /** Position in the plan. */
  readonly index: number;
  /** The problem as prompted (transformed for transform queries); its test has no output. */
  readonly problem: ArcProblem;
  /** system, user: generate the answer after these (with the chat template's generation prompt). */
  readonly messages: readonly ChatMessage[];
  readonly transform: GridAugmentation | null;
  /** The voting category: IDENTITY, or the label of the inverse transform. */
  readonly inverter: string;
  readonly leaveN: number;
  /** Train-example indices of the demonstrations, in prompt order. */
  readonly demoIndices: readonly number[];
  /** The counted length (prompt + a stand-in answer), when a counter was given. */
  readonly tokens: number | null;
}

export interface InferencePlan {
  /** The test task's name ("<id>-<k>"), when given. */
  readonly name: string | null;
  readonly queries: readonly InferenceQuery[];
  /** The leave-n values used (includeN, plus n + 1 when the first try left no query). */
  readonly includeN: readonly number[];
  readonly overTokenLimit: number;
  readonly valid: boolean;
  /** Why there is no query, when not valid. */
  readonly reason: string | null;
}

export interface InferencePlanOptions extends Partial<InferenceSettings> {
  countTokens?: ChatTokenCounter;
  prompt?: SolvePromptOptions;
}

/** The queries for one test input (a task's train examples and that input). */
export function buildInferencePlan(
  task: { readonly train: readonly ArcExample[]; readonly testInput: Grid; readonly name?: string },
  options: InferencePlanOptions = {},
): InferencePlan {
  const { countTokens, prompt, ...overrides } = options;
  const settings: InferenceSettings = { ...ARC_DEFAULTS.inference, ...overrides };
  checkInferenceSettings(settings);

  const attempt = (includeN: readonly number[]) => {
    const queries: InferenceQuery[] = [];
    let overTokenLimit = 0;
    for (const n of includeN) {
      for (const q of leaveNQueries(task.train, task.testInput, n, settings)) {
        const messages = solvePrompt(q.problem, prompt);
        const tokens = countTokens ? countTokens([...messages, { role: 'assistant', content: answerText(q.problem.test.input) }]) : null;
        if (tokens !== null && !(tokens < settings.maxTokens)) {
          overTokenLimit++;
          continue;
        }
        queries.push({ ...q, index: queries.length, messages, tokens });
      }
    }
    return { queries, overTokenLimit };
  };

  let includeN = [...settings.includeN];
  let result = attempt(includeN);
  if (result.queries.length === 0) {
    includeN = [...includeN, includeN[includeN.length - 1]! + 1];
    result = attempt(includeN);
  }
  const valid = result.queries.length > 0;
  return {
    name: task.name ?? null,
    queries: result.queries,
    includeN,
    overTokenLimit: result.overTokenLimit,
    valid,
    reason: valid ? null : `no query fits in ${settings.maxTokens} tokens (leave-n ${includeN.join(', ')}; ${result.overTokenLimit} over the limit)`,
  };
}

type PlannedQuery = Omit<InferenceQuery, 'index' | 'messages' | 'tokens'>;

function leaveNQueries(train: readonly ArcExample[], testInput: Grid, n: number, settings: InferenceSettings): PlannedQuery[] {
  const rng = ArcRng.create(settings.seed, ARC_STREAMS.inferenceLeaveN + n);
  const indices = train.map((_, i) => i);
  const base: PlannedQuery[] = [];
  const seen = new Set<string>();
  const add = (list: PlannedQuery[], q: PlannedQuery) => {
    const key = problemKey(q.problem);
    if (seen.has(key)) return false;
    seen.add(key);
    list.push(q);
    return true;
  };
  for (const leftOut of combinations(indices, n)) {
    const demoIndices = indices.filter((i) => !leftOut.includes(i));
    const query: PlannedQuery = {
      problem: { demos: demoIndices.map((i) => train[i]!), test: { input: testInput } },
      transform: null,
      inverter: IDENTITY,
      leaveN: n,
      demoIndices,
    };
    add(base, query);
    for (let p = 0; p < settings.permuteN; p++) {
      const { problem, applied } = augmentProblem(permuteExamples(), query.problem, rng);
      const order = applied.kind === 'examples' ? applied.order : [];
      add(base, { ...query, problem, demoIndices: order.map((i) => demoIndices[i]!) });
    }
  }
  if (base.length === 0) return [];

  const transformed: PlannedQuery[] = [];
  for (const transform of settings.transforms) {
    const chosen = base[rng.int(base.length)]!;
    const problem = mapGrids(chosen.problem, (g) => applyGridAugmentation(transform, g));
    const inverse = inverseAugmentation(transform);
    if (!inverse) throw new RangeError(`inference transform ${augmentationLabel(transform)} has no exact inverse`);
    add(transformed, { ...chosen, problem, transform, inverter: augmentationLabel(inverse) });
  }
  return [...base, ...transformed];
}

function mapGrids(problem: ArcProblem, f: (g: Grid) => Grid): ArcProblem {
  return {
    demos: problem.demos.map((d) => ({ input: f(d.input), output: f(d.output) })),
    test: { input: f(problem.test.input) },
  };
}

/** A decoded answer mapped back to the original orientation, with the category it votes in. */
export interface Prediction {
  readonly grid: Grid;
  readonly inverter: string;
  /** The query it answers. */
  readonly query: number;
}

export type DecodedAnswer =
  | { readonly ok: true; readonly prediction: Prediction; readonly notes: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Reads a generated answer (readGridAnswer) and undoes the query's transform. */
export function decodeAnswer(query: InferenceQuery, text: string): DecodedAnswer {
  const read = readGridAnswer(text);
  if (!read.ok) return { ok: false, reason: read.reason };
  const grid = query.transform ? invertGridAugmentation(query.transform, read.grid) : read.grid;
  return { ok: true, prediction: { grid, inverter: query.inverter, query: query.index }, notes: read.notes };
}

/**
 * Decodes the generated texts of a plan (one text or several samples per query, in query order) into the
 * predictions to vote on, keeping every text that could not be read with its reason.
 */
export function collectPredictions(
  plan: InferencePlan,
  outputs: readonly (string | readonly string[])[],
): { predictions: Prediction[]; failures: { query: number; text: string; reason: string }[] } {
  if (outputs.length !== plan.queries.length) throw new RangeError(`collectPredictions: ${outputs.length} outputs for ${plan.queries.length} queries`);
  const predictions: Prediction[] = [];
  const failures: { query: number; text: string; reason: string }[] = [];
  plan.queries.forEach((query, i) => {
    const texts = outputs[i]!;
    for (const text of typeof texts === 'string' ? [texts] : texts) {
      const d = decodeAnswer(query, text);
      if (d.ok) predictions.push(d.prediction);
      else failures.push({ query: i, text, reason: d.reason });
    }
  });
  return { predictions, failures };
}
