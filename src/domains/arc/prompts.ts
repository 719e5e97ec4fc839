/**
 * The chat messages of the ARC domain, in our own wording, with the reference's structure (arclib/messagers.py
 * GPTTextMessageRepresenterV2 and self-edit.get_prompt):
 *
 * Solving a problem (TTT training examples and inference queries):
 *   system     instruction, then one line per demonstration: "<input grid> -> <output grid>#"
 *   user       "<test input grid> ->"
 *   assistant  "<test output grid>#"   (the answer; "#" ends it)
 * Grids in the numpy format of grid-format.ts.
 *
 * Requesting a self-edit:
 *   system     instruction
 *   user       the train examples (never the test input) as "Input:\n<rows>\n\nOutput:\n<rows>\n\n" with rows of
 *              space-separated colours, then "------\n\n" and the description of the JSON to write.
 *
 * Contents are written already trimmed: the Llama 3 template trims every message (so the reference's user turn
 * "<grid> -> " was rendered as "<grid> ->"), other templates (Qwen2) do not, and trimmed contents render the same in
 * both. Nothing here carries a date: the date a template prints (Llama 3's "Today Date") is pinned by
 * src/text/chat-template.ts, never the clock. BOS is the tokenizer's job: render these messages with the model's
 * chat template and encode with encodeChat / the SFT data path, which put BOS in exactly once (the reference doubled
 * it in training and in the self-edit prompt). Training examples are rendered without a generation prompt, so no
 * trailing assistant header is trained on (another reference defect).
 */
import type { ChatMessage } from '../../text/chat-template.ts';
import { formatGrid, formatGridRows } from './grid-format.ts';
import type { ArcExample, ArcProblem, Grid } from './grid.ts';

/** Ends every answer (and every demonstration output). */
export const ANSWER_END = '#';
/** Between a demonstration's input and output, and after the test input. */
export const IO_SEPARATOR = ' -> ';

export const SOLVE_INSTRUCTION =
  'Each example below shows an input grid and the output grid a hidden rule produces from it. ' +
  'Work out the rule and apply it to the test input. Answer with the output grid alone, in the same notation.\n' +
  'Grids are written as numpy arrays, one example per entry: input -> output#';

export const SELF_EDIT_SYSTEM = 'You configure how a model is trained to solve a puzzle. You answer with exactly the JSON that is asked for.';

export const SELF_EDIT_INSTRUCTION = [
  'Above are the solved examples of one grid puzzle. Before the model attempts the puzzle, it is fine-tuned on',
  'variations of these examples. Decide how that training is done.',
  '',
  '1. Data generation. For each tool, true to use it or false to leave it out:',
  '    - use_basic_augmentations: rotated, flipped, transposed, mirrored and shifted copies of the examples',
  '    - use_size_augmentations: copies with every grid enlarged two times (both sides, only the height, only the width)',
  '    - use_chain_augmentations: copies rotated, flipped or transposed and then enlarged two times',
  '    - use_repeat_augmentations: copies with every grid tiled twice (downwards, sideways, both)',
  '',
  '2. Training. Give:',
  '    - strategy: "train_using_output_tokens" (learn only the answers) or "train_using_all_tokens" (learn the whole text)',
  '    - learning_rate: a number',
  '    - num_train_epochs: a whole number',
  '',
  'Write a single JSON object and nothing else, shaped like this:',
  '{"data_generation": {"use_basic_augmentations": <true|false>, "use_size_augmentations": <true|false>, ' +
    '"use_chain_augmentations": <true|false>, "use_repeat_augmentations": <true|false>}, ' +
    '"training": {"strategy": <strategy>, "learning_rate": <number>, "num_train_epochs": <integer>}}',
].join('\n');

/**
 * The instruction used when SELF_EDIT_INSTRUCTION does not fit a small model's context (stories260K: 512 tokens):
 * schema-constrained decoding still makes every sample a valid self-edit, only the explanation is left out.
 */
export const SELF_EDIT_INSTRUCTION_COMPACT = 'Write the training JSON.';

/** The answer text of a grid: "<grid>#". */
export function answerText(grid: Grid): string {
  return formatGrid(grid) + ANSWER_END;
}

export interface SolvePromptOptions {
  /** Replaces SOLVE_INSTRUCTION (the first part of the system message). */
  instruction?: string;
}

/** The system and user messages that ask for a problem's test output. */
export function solvePrompt(problem: ArcProblem, options: SolvePromptOptions = {}): ChatMessage[] {
  const lines = [options.instruction ?? SOLVE_INSTRUCTION];
  for (const d of problem.demos) lines.push(formatGrid(d.input) + IO_SEPARATOR + answerText(d.output));
  return [
    { role: 'system', content: lines.join('\n').trim() },
    { role: 'user', content: (formatGrid(problem.test.input) + IO_SEPARATOR).trim() },
  ];
}

/** The whole conversation of a training example: solvePrompt plus the answer. The problem's test output must be known. */
export function solveConversation(problem: ArcProblem, options: SolvePromptOptions = {}): ChatMessage[] {
  if (!problem.test.output) throw new Error('solveConversation: the problem has no test output to answer with');
  return [...solvePrompt(problem, options), { role: 'assistant', content: answerText(problem.test.output) }];
}

export interface SelfEditPromptOptions {
  system?: string;
  instruction?: string;
}

/** The messages that ask the model for a self-edit of a task, from its train examples only. */
export function selfEditPrompt(train: readonly ArcExample[], options: SelfEditPromptOptions = {}): ChatMessage[] {
  let examples = '';
  for (const ex of train) examples += `Input:\n${formatGridRows(ex.input)}\n\nOutput:\n${formatGridRows(ex.output)}\n\n`;
  return [
    { role: 'system', content: options.system ?? SELF_EDIT_SYSTEM },
    { role: 'user', content: `${examples}------\n\n${options.instruction ?? SELF_EDIT_INSTRUCTION}`.trim() },
  ];
}
