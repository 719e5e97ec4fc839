/** The question prompt (docs/reference/seal-knowledge.md §2.5), written out from the reference's template. */
import { describe, expect, it } from 'vitest';
import { answerPromptText, KNOWLEDGE_DEFAULTS, questionText } from '../../src/domains/knowledge/index.ts';

describe('answer prompt', () => {
  const passage = { title: 'Super Bowl 50' };
  const question = { question: 'Which NFL team represented the AFC at Super Bowl 50?' };

  it('is the reference template with "Topic: {title}" before the question, and no passage', () => {
    expect(answerPromptText(passage, question)).toBe(
      "Let's answer a question directly and concisely.\nQuestion: Topic: Super Bowl 50\nWhich NFL team represented the AFC at Super Bowl 50?\nAnswer:\n",
    );
  });

  it('the question text (shown to judges too) carries the topic', () => {
    expect(questionText(passage, question)).toBe('Topic: Super Bowl 50\nWhich NFL team represented the AFC at Super Bowl 50?');
  });

  it('answers are greedy with at most 64 new tokens', () => {
    expect(KNOWLEDGE_DEFAULTS.answer.maxNewTokens).toBe(64);
  });
});
