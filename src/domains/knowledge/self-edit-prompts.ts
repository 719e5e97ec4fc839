/**
 * The five self-edit prompts of the SEAL paper's knowledge-incorporation experiments (docs/reference/seal-knowledge.md
 * §2.2), reproduced byte for byte from the reference (Continual-Intelligence/SEAL, MIT,
 * knowledge-incorporation/src/data_generation/make_squad_data.py, MAKE_SQUAD_DATA_TEMPLATES_BASE): they are the
 * experimental condition, so unlike the ARC domain's messages they are not reworded.
 *
 * They are plain text for a base model: no chat template, no system message; the model continues the text. The
 * title and context go in exactly as the data file has them. Each ends where the model's answer starts: a newline
 * after "Implications:" / "Rewritten passages:", and "Question 1: " with its trailing space for self-qa (so a
 * self-qa completion starts in the middle of its first question; train-sequences.ts knows).
 */
import type { SquadPassage } from './passages.ts';

export const SELF_EDIT_PROMPT_KINDS = ['implications', 'implications-long', 'implications-very-long', 'rewrite', 'self-qa'] as const;

export type SelfEditPromptKind = (typeof SELF_EDIT_PROMPT_KINDS)[number];

/** The paper's main prompt (its headline numbers). */
export const DEFAULT_SELF_EDIT_PROMPT: SelfEditPromptKind = 'implications';

/** The text before the passage, and the text after it, of each kind. */
const TEMPLATES: Readonly<Record<SelfEditPromptKind, { readonly head: string; readonly tail: string }>> = {
  implications: {
    head: "Let's read the following passage and produce a list of implications derived directly or indirectly from the content.\n\n",
    tail: '\n\nImplications:\n',
  },
  'implications-long': {
    head: "Let's read the following passage and produce a long list of implications derived directly or indirectly from the content.\n\n",
    tail: '\n\nImplications:\n',
  },
  'implications-very-long': {
    head: "Let's read the following passage and produce a very long list of implications derived directly or indirectly from the content.\n\n",
    tail: '\n\nImplications:\n',
  },
  rewrite: {
    head: "Let's read the following passage and rewrite it in a few different ways, each one separated by a newline.\n\n",
    tail: '\n\nRewritten passages:\n',
  },
  'self-qa': {
    head: "Let's read the following passage and rewrite it in a question-answer format.\n\n",
    tail: '\n\nQuestion 1: ',
  },
};

export function isSelfEditPromptKind(value: string): value is SelfEditPromptKind {
  return (SELF_EDIT_PROMPT_KINDS as readonly string[]).includes(value);
}

/** The prompt text that asks a base model for a self-edit of the passage (to be continued as is). */
export function selfEditPromptText(kind: SelfEditPromptKind, passage: Pick<SquadPassage, 'title' | 'context'>): string {
  const { head, tail } = TEMPLATES[kind];
  return `${head}Passage:\n${passage.title}\n${passage.context}${tail}`;
}
