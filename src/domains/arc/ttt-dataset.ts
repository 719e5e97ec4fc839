/**
 * The test-time-training data of one task from its train examples and a self-edit's augmentations, with the
 * reference's rules (self-edit.get_test_time_train_data / process_task, docs/reference/seal-arc.md §1.7). For each
 * leave-n (1 and 2), with a generator seeded by (seed, n):
 *   1. initial problems: for each train example i, each way to leave out n-1 more examples: the others (in their
 *      original order) demonstrate, example i is the test. N examples give N problems for n = 1 and N(N-1) for n = 2
 *      (with zero demonstrations when N = 2);
 *   2. every augmentation applied to every initial problem (augmentation-major order); a result with a grid side
 *      over 30 is dropped;
 *   3. dedupe (initial problems first, then augmented);
 *   4. one permuted copy of each (permuteN copies): PermuteColors then PermuteExamples when any augmentation was
 *      chosen, else only PermuteExamples; dedupe again (a copy equal to a problem already there disappears);
 *   5. the token filter: a problem's conversation must be under maxTokens (8192) tokens.
 * The lists are concatenated in leave-n order; more than maxExamples (250) are shuffled with a generator seeded by
 * seed and cut to maxExamples.
 *
 * Determinism: the reference ordered steps 3-5 by Python set iteration (salted per process), so which examples
 * survived the cap changed between runs. Here dedupe keeps the first occurrence and every draw comes from a seeded
 * stream: the same train examples, augmentations and seed give the same examples in the same order everywhere.
 *
 * Output: chat conversations (system, user, assistant) for the SFT trainer, with the loss mode of the self-edit's
 * strategy: 'output' trains the assistant turn (the answer grid, "#" and the end-of-turn token), 'all' every token.
 * No example is padded, so no pad token is ever in the loss (the reference padded to the longest and trained on pads).
 */
import type { ChatMessage } from '../../text/chat-template.ts';
import { augmentationLabel, augmentProblem, permuteColors, permuteExamples, type Augmentation } from './augmentations.ts';
import { problemKey, problemMaxSides, type ArcExample, type ArcProblem } from './grid.ts';
import { solveConversation, type SolvePromptOptions } from './prompts.ts';
import { ArcRng, ARC_STREAMS } from './rng.ts';
import { ARC_DEFAULTS, checkDataSettings, type TttDataSettings } from './settings.ts';

/** Counts the tokens of a conversation as the model will see it (chat template, special tokens). */
export type ChatTokenCounter = (messages: readonly ChatMessage[]) => number;

export interface TttDatasetOptions extends Partial<TttDataSettings> {
  /** Token counter for the length filter; without one the filter is not applied (counts.overTokenLimit stays 0). */
  countTokens?: ChatTokenCounter;
  prompt?: SolvePromptOptions;
}

export interface TttExample {
  readonly problem: ArcProblem;
  /** system, user, assistant. */
  readonly messages: readonly ChatMessage[];
  /** The leave-n list it came from. */
  readonly leaveN: number;
  /** Train-example indices of its demonstrations (before any example permutation) and of its test. */
  readonly demoIndices: readonly number[];
  readonly testIndex: number;
  /** Labels of the augmentations applied, in order (empty for an initial problem). */
  readonly recipe: readonly string[];
  /** Its token count, when a counter was given. */
  readonly tokens: number | null;
}

/** What happened to one leave-n list, step by step. */
export interface TttListCounts {
  readonly leaveN: number;
  readonly initial: number;
  /** Augmented problems made (before the size filter). */
  readonly augmented: number;
  readonly oversize: number;
  /** Distinct problems after step 3. */
  readonly distinct: number;
  readonly permuted: number;
  /** Distinct problems after step 4. */
  readonly total: number;
  readonly overTokenLimit: number;
  /** Examples the list contributes before the cap. */
  readonly kept: number;
}

export interface TttDataset {
  readonly examples: readonly TttExample[];
  readonly lists: readonly TttListCounts[];
  /** Examples before the cap (sum of kept). */
  readonly beforeCap: number;
  readonly capped: boolean;
}

interface Candidate {
  problem: ArcProblem;
  demoIndices: number[];
  testIndex: number;
  recipe: string[];
}

/** Builds the TTT examples of a task's train examples under a list of augmentations (augmentationsFor(edit)). */
export function buildTttDataset(train: readonly ArcExample[], augmentations: readonly Augmentation[], options: TttDatasetOptions = {}): TttDataset {
  const { countTokens, prompt, ...overrides } = options;
  const settings: TttDataSettings = { ...ARC_DEFAULTS.data, ...overrides };
  checkDataSettings(settings);
  if (train.length === 0) throw new RangeError('buildTttDataset: the task has no train examples');

  const lists: TttListCounts[] = [];
  let examples: TttExample[] = [];
  for (const n of settings.leaveN) {
    const rng = ArcRng.create(settings.seed, ARC_STREAMS.tttLeaveN + n);
    const initial = leaveNProblems(train, n);

    const augmented: Candidate[] = [];
    let oversize = 0;
    for (const aug of augmentations) {
      for (const c of initial) {
        const { problem, applied } = augmentProblem(aug, c.problem, rng);
        const { height, width } = problemMaxSides(problem);
        if (height > settings.maxSide || width > settings.maxSide) {
          oversize++;
          continue;
        }
        augmented.push({ ...c, problem, recipe: [augmentationLabel(applied)] });
      }
    }
    const distinct = dedupe([...initial, ...augmented]);

    const permuted: Candidate[] = [];
    for (let copy = 0; copy < settings.permuteN; copy++) {
      for (const c of distinct) {
        let problem = c.problem;
        const recipe = [...c.recipe];
        if (augmentations.length > 0) {
          const colors = augmentProblem(permuteColors(), problem, rng);
          problem = colors.problem;
          recipe.push(augmentationLabel(colors.applied));
        }
        const order = augmentProblem(permuteExamples(), problem, rng);
        recipe.push(augmentationLabel(order.applied));
        permuted.push({ ...c, problem: order.problem, recipe });
      }
    }
    const all = dedupe([...distinct, ...permuted]);

    let overTokenLimit = 0;
    let kept = 0;
    for (const c of all) {
      const messages = solveConversation(c.problem, prompt);
      const tokens = countTokens ? countTokens(messages) : null;
      if (tokens !== null && !(tokens < settings.maxTokens)) {
        overTokenLimit++;
        continue;
      }
      kept++;
      examples.push({ problem: c.problem, messages, leaveN: n, demoIndices: c.demoIndices, testIndex: c.testIndex, recipe: c.recipe, tokens });
    }
    lists.push({
      leaveN: n,
      initial: initial.length,
      augmented: augmented.length + oversize,
      oversize,
      distinct: distinct.length,
      permuted: permuted.length,
      total: all.length,
      overTokenLimit,
      kept,
    });
  }

  const beforeCap = examples.length;
  const capped = beforeCap > settings.maxExamples;
  if (capped) examples = ArcRng.create(settings.seed, ARC_STREAMS.tttCap).shuffle(examples).slice(0, settings.maxExamples);
  return { examples, lists, beforeCap, capped };
}

/** Step 1: for each test example i, each (n-1)-subset of the others left out; demos keep their original order. */
function leaveNProblems(train: readonly ArcExample[], n: number): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < train.length; i++) {
    const others = train.map((_, j) => j).filter((j) => j !== i);
    for (const leftOut of combinations(others, n - 1)) {
      const demoIndices = others.filter((j) => !leftOut.includes(j));
      out.push({ problem: { demos: demoIndices.map((j) => train[j]!), test: train[i]! }, demoIndices, testIndex: i, recipe: [] });
    }
  }
  return out;
}

/** The k-subsets of `items` in lexicographic order (itertools.combinations). */
export function combinations<T>(items: readonly T[], k: number): T[][] {
  if (k < 0 || k > items.length) return [];
  const out: T[][] = [];
  const pick = (start: number, chosen: T[]) => {
    if (chosen.length === k) {
      out.push(chosen.slice());
      return;
    }
    for (let i = start; i <= items.length - (k - chosen.length); i++) {
      chosen.push(items[i]!);
      pick(i + 1, chosen);
      chosen.pop();
    }
  };
  pick(0, []);
  return out;
}

function dedupe(candidates: readonly Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return candidates.filter((c) => {
    const key = problemKey(c.problem);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The SFT rows of a dataset, shaped as src/train's data rows ({kind: 'messages', messages, line}, line = 1-based
 * example index), for tokenizeSftRows with the loss mode of the run plan (ttt-plan.ts).
 */
export function tttTrainingRows(dataset: TttDataset): { kind: 'messages'; messages: ChatMessage[]; line: number }[] {
  return dataset.examples.map((e, i) => ({ kind: 'messages', messages: e.messages.map((m) => ({ ...m })), line: i + 1 }));
}
