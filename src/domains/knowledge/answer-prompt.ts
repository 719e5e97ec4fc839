/**
 * How the adapted (or un-adapted) model is asked a passage's question (docs/reference/seal-knowledge.md §2.5),
 * byte for byte as the reference (knowledge-incorporation/src/utils.py SQUAD_ANSWER_TEMPLATE_BASE, with the question
 * written as "Topic: {title}\n{question}" by query_server.py): plain text for a base model, no chat template, and no
 * passage in context (the model must have learned it). The answer is generated greedily, at most 64 tokens, ending at
 * the end-of-sequence token (settings.ts); the reference's judges see the same "Topic: ..." question text.
 */
import type { SquadPassage, SquadQuestion } from './passages.ts';

/** The question as the reference shows it to the answering model and the judge: "Topic: {title}\n{question}". */
export function questionText(passage: Pick<SquadPassage, 'title'>, question: Pick<SquadQuestion, 'question'>): string {
  return `Topic: ${passage.title}\n${question.question}`;
}

/** The prompt the model continues with its answer. */
export function answerPromptText(passage: Pick<SquadPassage, 'title'>, question: Pick<SquadQuestion, 'question'>): string {
  return `Let's answer a question directly and concisely.\nQuestion: ${questionText(passage, question)}\nAnswer:\n`;
}
