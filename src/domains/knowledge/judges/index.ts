/**
 * The judges of the knowledge domain: `squad` (the official SQuAD v1.1 metric), `model:<dir|hub-id>` (a local
 * instruct model on our engine) and `openai:<model>` (an OpenAI-compatible endpoint), the last two with the
 * reference's yes/no grading prompt and rule; a verdict cache; several judges at once with their agreement.
 * docs/knowledge-judges.md describes each judge, its rule and its cost.
 */
export { gradeWithJudges, pairAgreement, pairwiseAgreement, type JudgedItems, type PairAgreement } from './agreement.ts';
export { goldAnswers, type GradeItem, type Judge, JudgeError, type Verdict } from './judge.ts';
export { JUDGE_SPEC_FORMS, type JudgeSpec, JudgeSpecError, parseJudgeList, parseJudgeSpec } from './judge-spec.ts';
export { DEFAULT_MODEL_JUDGE_REPLY_TOKENS, ModelJudge, type ModelJudgeOptions } from './model-judge.ts';
export {
  DEFAULT_OPENAI_BASE_URL,
  type FetchFunction,
  NO_API_KEY_MESSAGE,
  OpenAiJudge,
  type OpenAiJudgeOptions,
  type RetryNotice,
  retryAfterMs,
} from './openai-judge.ts';
export { DEFAULT_SQUAD_RULE, SquadJudge, type SquadRule, squadVerdict } from './squad-judge.ts';
export { exactMatch, normalizeAnswer, type SquadScore, squadScore, tokenF1 } from './squad-metric.ts';
export { MemoryVerdictCache, type VerdictCache, type VerdictKey, verdictKeyString } from './verdict-cache.ts';
export { gradeYesNo, gradingPrompt, yesNoVerdict } from './yes-no-grading.ts';
