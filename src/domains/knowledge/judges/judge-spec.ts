/**
 * How a judge is named on the command line and in a run's config: `squad` (exact match, or F1 >= 0.5),
 * `squad:em`, `squad:f1=T`, `model:<dir|hub-id>`, `openai:<model>`; several as a comma list.
 */
import { DEFAULT_SQUAD_RULE, type SquadRule, squadJudgeName } from './squad-judge.ts';

export type JudgeSpec =
  | { readonly kind: 'squad'; readonly name: string; readonly rule: SquadRule }
  /** `model` is the directory or Hub id as written. */
  | { readonly kind: 'model'; readonly name: string; readonly model: string }
  | { readonly kind: 'openai'; readonly name: string; readonly model: string };

/** The forms a judge spec takes, for messages and help. */
export const JUDGE_SPEC_FORMS =
  'squad (exact match, or F1 >= 0.5), squad:em, squad:f1=T (exact match, or F1 >= T, T in [0, 1]), model:<dir|hub-id>, openai:<model>';

/** A judge spec that is none of the forms; the message lists them. */
export class JudgeSpecError extends Error {}

function specError(text: string, what: string): JudgeSpecError {
  return new JudgeSpecError(`${what} '${text}': a judge is one of ${JUDGE_SPEC_FORMS}`);
}

/** One judge spec. */
export function parseJudgeSpec(text: string): JudgeSpec {
  const spec = text.trim();
  if (spec === 'squad') return { kind: 'squad', name: spec, rule: DEFAULT_SQUAD_RULE };
  if (spec === 'squad:em') return { kind: 'squad', name: spec, rule: { f1Threshold: null } };
  const f1 = /^squad:f1=(.*)$/.exec(spec);
  if (f1) {
    const t = Number(f1[1]);
    if (f1[1]!.trim() === '' || !(t >= 0 && t <= 1)) throw specError(text, 'the F1 threshold of');
    const rule = { f1Threshold: t };
    return { kind: 'squad', name: squadJudgeName(rule), rule };
  }
  const prefixed = /^(model|openai):(.*)$/s.exec(spec);
  if (prefixed) {
    const kind = prefixed[1] as 'model' | 'openai';
    const model = prefixed[2]!.trim();
    if (model === '') throw specError(text, `no ${kind === 'model' ? 'model directory or Hub id' : 'model name'} in`);
    return { kind, name: `${kind}:${model}`, model };
  }
  throw specError(text, 'unknown judge');
}

/** A comma list of judge specs (at least one, each once). */
export function parseJudgeList(text: string): JudgeSpec[] {
  const specs = text.split(',').map((part) => parseJudgeSpec(part));
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.name)) throw new JudgeSpecError(`the judge ${spec.name} is listed twice in '${text}'`);
    seen.add(spec.name);
  }
  return specs;
}
