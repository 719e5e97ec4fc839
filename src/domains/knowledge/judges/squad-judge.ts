/**
 * The `squad` judge: the official SQuAD v1.1 exact match and token F1 (squad-metric.ts), and a rule that turns them
 * into correct / wrong. Free, deterministic and offline; docs/knowledge-judges.md says why the default rule is
 * "exact match, or F1 >= 0.5" and where it disagrees with a yes/no grader.
 */
import { goldAnswers, type GradeItem, type Judge, type Verdict } from './judge.ts';
import { squadScore } from './squad-metric.ts';

/** When a prediction counts as correct: its exact match, or (unless null) its F1 reaching the threshold. */
export interface SquadRule {
  /** null: exact match only. */
  readonly f1Threshold: number | null;
}

/** The default rule: exact match, or F1 >= 0.5. */
export const DEFAULT_SQUAD_RULE: SquadRule = { f1Threshold: 0.5 };

/** The rule's name in a judge spec: 'squad' (the default), 'squad:em', 'squad:f1=T'. */
export function squadJudgeName(rule: SquadRule): string {
  if (rule.f1Threshold === null) return 'squad:em';
  return rule.f1Threshold === DEFAULT_SQUAD_RULE.f1Threshold ? 'squad' : `squad:f1=${rule.f1Threshold}`;
}

/** The verdict of one prediction under `rule`. */
export function squadVerdict(item: GradeItem, rule: SquadRule = DEFAULT_SQUAD_RULE): Verdict {
  const { em, f1 } = squadScore(item.prediction, goldAnswers(item));
  // EM counts on its own: an empty normalized prediction matching an empty normalized gold has EM 1 but F1 0.
  const correct = em === 1 || (rule.f1Threshold !== null && f1 >= rule.f1Threshold);
  return { correct, em, f1 };
}

export class SquadJudge implements Judge {
  readonly name: string;
  readonly id: string;

  constructor(readonly rule: SquadRule = DEFAULT_SQUAD_RULE) {
    const t = rule.f1Threshold;
    if (t !== null && !(t >= 0 && t <= 1)) throw new RangeError(`squad judge: the F1 threshold must be in [0, 1], got ${t}`);
    this.name = squadJudgeName(rule);
    this.id = this.name;
  }

  async grade(items: readonly GradeItem[]): Promise<Verdict[]> {
    return items.map((item) => squadVerdict(item, this.rule));
  }
}
