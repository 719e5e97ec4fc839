/**
 * `seal knowledge grade`: one answer graded by one judge, printed as one JSON object, to try a judge (its prompt,
 * its rule, its endpoint) on a case before a run depends on it.
 */
import { type JudgeSpec, JudgeSpecError, parseJudgeSpec } from '../src/domains/knowledge/judges/index.ts';
import { CHAT_TEMPLATE_OPTION, readChatTemplateFlag } from './chat-template-flag.ts';
import { EXIT } from './exit-codes.ts';
import { optionalNumberFlag, parseFlags, requireString, UsageError } from './flags.ts';
import { openJudges } from './knowledge-judges.ts';
import { FileVerdictCache } from './verdict-cache.ts';

export const KNOWLEDGE_GRADE_USAGE = `Usage: seal knowledge grade --judge J --question Q --gold G [--gold G2 ...] --prediction P [flags]
  Grade one answer and print one JSON object: {"judge", "correct"}, with "em" and "f1" (SQuAD exact match and token
  F1) for squad judges, and the grader's "reply" for model: and openai: judges (docs/knowledge-judges.md).
  --judge J              (required) one judge:
                           squad                exact match, or F1 >= 0.5 (the official SQuAD v1.1 metric)
                           squad:em             exact match only
                           squad:f1=T           exact match, or F1 >= T (T in [0, 1])
                           model:<dir|hub-id>   a local instruct model on the GPU, asked the reference's yes/no prompt
                           openai:<model>       an OpenAI-compatible Chat Completions endpoint, the same prompt
  --question Q           (required) the question
  --gold G               (required) the gold answer; repeat the flag for several (the best one counts)
  --prediction P         (required) the answer to grade (an empty one is wrong without asking a grader)
  --cache FILE           model:/openai: reuse the reply stored in this verdict cache file, or store it there
                         (default: none)
  --max-new-tokens N     model: the grader's reply tokens at most, in [1, 4096] (16)
  --chat-template FILE   model: a Jinja chat template instead of the model's (default: the model's; a model without
                         one gets the prompt as plain text)
  --gpu-adapter NAME     model: the WebGPU adapter, by name (default: the first high-performance adapter)
  --backend B            model: Dawn backend: vulkan, metal, d3d12 (default: the platform's)
  --disable-features F   model: comma list of WebGPU features not to use (default: none)
  openai: reads OPENAI_API_KEY (required; any non-empty value for a local server that checks none) and
  OPENAI_BASE_URL (default https://api.openai.com/v1).`;

const MODEL_ONLY_FLAGS = ['max-new-tokens', 'chat-template', 'gpu-adapter', 'backend', 'disable-features'] as const;

export async function runKnowledgeGrade(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    judge: { type: 'string' },
    question: { type: 'string' },
    gold: { type: 'string', multiple: true },
    prediction: { type: 'string' },
    cache: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    ...CHAT_TEMPLATE_OPTION,
    'gpu-adapter': { type: 'string' },
    backend: { type: 'string' },
    'disable-features': { type: 'string' },
  });
  let spec: JudgeSpec;
  try {
    spec = parseJudgeSpec(requireString(values.judge, '--judge'));
  } catch (e) {
    if (e instanceof JudgeSpecError) throw new UsageError(`--judge: ${e.message}`);
    throw e;
  }
  const question = requireString(values.question, '--question');
  const gold = values.gold ?? [];
  if (gold.length === 0) throw new UsageError('--gold is required');
  const prediction = requireString(values.prediction, '--prediction');
  if (spec.kind !== 'model') {
    const misplaced = MODEL_ONLY_FLAGS.find((f) => values[f] !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} is for model: judges, not ${spec.name}`);
  }
  if (spec.kind === 'squad' && values.cache !== undefined) throw new UsageError('--cache is for model: and openai: judges: squad needs no cache');
  const maxNewTokens = optionalNumberFlag(values['max-new-tokens'], '--max-new-tokens', { min: 1, max: 4096, integer: true });
  const chatTemplate = readChatTemplateFlag(values['chat-template']);

  const cache = values.cache === undefined ? undefined : FileVerdictCache.open(values.cache);
  const opened = await openJudges([spec], {
    cache,
    device: { adapter: values['gpu-adapter'], backend: values.backend, disableFeatures: values['disable-features']?.split(',').filter(Boolean) },
    modelJudge: { maxNewTokens, chatTemplate },
    // Retries are progress, not errors: no `seal:` prefix (that line is kept for what stops the command).
    openaiJudge: {
      onRetry: (judge, n) => console.error(`${judge}: ${n.problem}; retry ${n.retry} of ${n.maxRetries} in ${(n.waitMs / 1000).toFixed(1)} s`),
    },
  });
  try {
    const [verdict] = await opened.judges[0]!.grade([{ question, gold, prediction }]);
    console.log(JSON.stringify({ judge: spec.name, ...verdict }));
    return EXIT.ok;
  } finally {
    opened.close();
  }
}
