/**
 * Several judges on the same answers, and how often they agree (the report's judge-agreement table): the paper's
 * numbers come from one grader (GPT-4.1), so a run graded offline says how far its own judges are from each other.
 */
import type { GradeItem, Judge, Verdict } from './judge.ts';

/** How two judges' verdicts on the same items compare. */
export interface PairAgreement {
  readonly a: string;
  readonly b: string;
  /** Items compared. */
  readonly n: number;
  readonly bothCorrect: number;
  readonly bothWrong: number;
  /** Correct by a only. */
  readonly onlyA: number;
  /** Correct by b only. */
  readonly onlyB: number;
  /** (bothCorrect + bothWrong) / n; null when n = 0. */
  readonly agreement: number | null;
  /**
   * Cohen's kappa, agreement beyond what two judges with these accuracies reach by chance:
   * (p_o − p_e)/(1 − p_e), p_e = p_a·p_b + (1 − p_a)(1 − p_b); null when n = 0 or p_e = 1 (both judges constant
   * and equal, where kappa is undefined).
   */
  readonly kappa: number | null;
}

/** Each judge's verdicts, in the judges' order, and the agreement of every pair. */
export interface JudgedItems {
  readonly verdicts: readonly { readonly judge: string; readonly verdicts: readonly Verdict[] }[];
  readonly agreement: readonly PairAgreement[];
}

/** The agreement of two judges' correct/wrong calls on the same items. */
export function pairAgreement(a: string, correctA: readonly boolean[], b: string, correctB: readonly boolean[]): PairAgreement {
  if (correctA.length !== correctB.length) throw new RangeError(`pairAgreement: ${a} judged ${correctA.length} items, ${b} ${correctB.length}`);
  const n = correctA.length;
  let bothCorrect = 0;
  let bothWrong = 0;
  let onlyA = 0;
  let onlyB = 0;
  correctA.forEach((x, i) => {
    const y = correctB[i]!;
    if (x && y) bothCorrect++;
    else if (!x && !y) bothWrong++;
    else if (x) onlyA++;
    else onlyB++;
  });
  if (n === 0) return { a, b, n, bothCorrect, bothWrong, onlyA, onlyB, agreement: null, kappa: null };
  const observed = (bothCorrect + bothWrong) / n;
  const pA = (bothCorrect + onlyA) / n;
  const pB = (bothCorrect + onlyB) / n;
  const chance = pA * pB + (1 - pA) * (1 - pB);
  const kappa = chance === 1 ? null : (observed - chance) / (1 - chance);
  return { a, b, n, bothCorrect, bothWrong, onlyA, onlyB, agreement: observed, kappa };
}

/** Every pair (i < j, in the given order) of the judges' verdicts. */
export function pairwiseAgreement(verdicts: JudgedItems['verdicts']): PairAgreement[] {
  const pairs: PairAgreement[] = [];
  for (let i = 0; i < verdicts.length; i++) {
    for (let j = i + 1; j < verdicts.length; j++) {
      const a = verdicts[i]!;
      const b = verdicts[j]!;
      pairs.push(
        pairAgreement(
          a.judge,
          a.verdicts.map((v) => v.correct),
          b.judge,
          b.verdicts.map((v) => v.correct),
        ),
      );
    }
  }
  return pairs;
}

/**
 * Runs every judge on the same items, one judge after the other (a model judge has the GPU to itself; an OpenAI
 * judge runs its own requests concurrently), and compares them pairwise.
 */
export async function gradeWithJudges(judges: readonly Judge[], items: readonly GradeItem[]): Promise<JudgedItems> {
  const names = new Set<string>();
  for (const judge of judges) {
    if (names.has(judge.name)) throw new RangeError(`gradeWithJudges: the judge ${judge.name} is listed twice`);
    names.add(judge.name);
  }
  const verdicts: { judge: string; verdicts: Verdict[] }[] = [];
  for (const judge of judges) {
    const got = await judge.grade(items);
    if (got.length !== items.length) throw new Error(`${judge.name} returned ${got.length} verdicts for ${items.length} items`);
    verdicts.push({ judge: judge.name, verdicts: got });
  }
  return { verdicts, agreement: pairwiseAgreement(verdicts) };
}
