/**
 * The `model:<dir|hub-id>` judge: a local instruct model, run by our engine, asked the reference's yes/no grading
 * prompt (yes-no-grading.ts) and judged by its rule. The prompt is the one user message of a chat rendered with the
 * model's chat template and its generation prompt (the OpenAI judges get the same single user message); a model
 * without a chat template is given the prompt as plain text. Replies are greedy and batched: every prompt of a
 * grade() call goes through one generateBatch, continuous batching over the KV cache.
 */
import { generateBatch } from '../../../generate/generate.ts';
import type { Transformer } from '../../../inference/transformer.ts';
import type { ChatTemplate } from '../../../text/chat-template.ts';
import type { TextTokenizer } from '../../../text/tokenizer.ts';
import { type GradeItem, type Judge, JudgeError, type Verdict } from './judge.ts';
import type { VerdictCache } from './verdict-cache.ts';
import { gradeYesNo } from './yes-no-grading.ts';

export interface ModelJudgeOptions {
  /** The spec's name, 'model:<dir|hub-id>'. */
  name: string;
  /** The verdict cache's name for this grader (default `name`): it should change when the checkpoint does. */
  id?: string;
  transformer: Transformer;
  tokenizer: TextTokenizer;
  /** The model's chat template, or null to send the prompt as plain text. */
  chatTemplate: ChatTemplate | null;
  /** Reply tokens at most (default 16: 'yes' or 'no' and an end-of-turn token, with room for a short preamble). */
  maxNewTokens?: number;
  /** Sequences in the KV cache at once (default generateBatch's: min(prompts, 32)). */
  maxBatch?: number;
  /** Where replies are cached (default: nowhere; a local grader is cheap next to a paid one, but not free). */
  cache?: VerdictCache;
}

export const DEFAULT_MODEL_JUDGE_REPLY_TOKENS = 16;

export class ModelJudge implements Judge {
  readonly name: string;
  readonly id: string;
  private readonly maxNewTokens: number;

  constructor(private readonly options: ModelJudgeOptions) {
    this.name = options.name;
    this.id = options.id ?? options.name;
    this.maxNewTokens = options.maxNewTokens ?? DEFAULT_MODEL_JUDGE_REPLY_TOKENS;
  }

  /** The token ids the model is given for a grading prompt. */
  promptIds(prompt: string): number[] {
    const { tokenizer, chatTemplate } = this.options;
    const text = chatTemplate ? chatTemplate.render([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : prompt;
    // With special tokens: BOS where the model wants one, exactly once even if the template writes it (encode's rule).
    return tokenizer.encode(text, { addSpecialTokens: true });
  }

  grade(items: readonly GradeItem[]): Promise<Verdict[]> {
    const { cache } = this.options;
    return gradeYesNo(items, (prompts, onReply) => this.ask(prompts, onReply), cache && { cache, judge: this.id });
  }

  private async ask(prompts: readonly string[], onReply: (index: number, reply: string) => void): Promise<void> {
    const { transformer, tokenizer, maxBatch } = this.options;
    const context = transformer.config.maxPositionEmbeddings;
    const ids = prompts.map((prompt) => {
      const promptIds = this.promptIds(prompt);
      if (promptIds.length + this.maxNewTokens > context) {
        throw new JudgeError(
          `${this.name}: a grading prompt is ${promptIds.length} tokens, which with ${this.maxNewTokens} reply tokens exceeds the grader's ` +
            `${context}-token context: use a grader with a longer context, or shorter answers`,
        );
      }
      return promptIds;
    });
    // adapters -1: the grader is the model itself, even when its transformer also serves adapters (the run's model).
    const adapters = ids.map(() => -1);
    await generateBatch(transformer, tokenizer, {
      prompts: ids,
      maxNewTokens: this.maxNewTokens,
      temperature: 0,
      maxBatch,
      adapters,
      onDone: (index, reply) => onReply(index, reply.text),
    });
  }
}
