/**
 * `seal knowledge show` and `seal knowledge sequences`: what SEAL's knowledge-incorporation domain does with one
 * passage, without a model or a GPU: the self-edit prompt the model continues, and the training sequences a
 * completion of it becomes (src/domains/knowledge).
 */
import { readFileSync } from 'node:fs';
import {
  DEFAULT_SELF_EDIT_PROMPT,
  SELF_EDIT_PROMPT_KINDS,
  selfEditPromptText,
  trainingSequences,
  type SquadDataset,
  type SquadPassage,
} from '../src/domains/knowledge/index.ts';
import { loadKnowledgeData } from './knowledge-data.ts';
import { EXIT } from './exit-codes.ts';
import { runKnowledgeGrade } from './knowledge-grade.ts';
import { KNOWLEDGE_RUN_USAGE, runKnowledgeRun } from './knowledge-run.ts';
import { numberFlag, oneOf, parseFlags, requireString, UsageError } from './flags.ts';

const DATA_FLAG = `  --data FILE            a SQuAD data file: a JSON list of {"title", "context", "questions": [{"question", "answer"}]}
                         (e.g. the reference's squad_val.json; default: the 20 passages in the package's
                         examples/data/squad, the first 20 of the paper's evaluation set)`;

const PASSAGE_FLAG = `  --passage N            (required) the passage id: its index in the data file (0 is the first)`;

const PROMPT_FLAG = `  --prompt KIND          the self-edit prompt: ${SELF_EDIT_PROMPT_KINDS.join(', ')}
                         (${DEFAULT_SELF_EDIT_PROMPT})`;

export const KNOWLEDGE_SHOW_USAGE = `Usage: seal knowledge show --passage N [--prompt KIND] [--data FILE]
  Print the self-edit prompt of a passage exactly as the model continues it (plain text, no chat template: byte for
  byte the SEAL paper's prompt), and nothing else. Needs no model or GPU.
${PASSAGE_FLAG}
${PROMPT_FLAG}
${DATA_FLAG}`;

export const KNOWLEDGE_SEQUENCES_USAGE = `Usage: seal knowledge sequences --passage N --completion-file F [--prompt KIND] [--compat] [--data FILE]
  Print the training sequences a completion (a self-edit) of the passage's prompt becomes, as a JSON array of
  strings: split on --- and into lines (a preamble before a list starting "1." dropped), question-answer pairs kept
  together, each prefixed by the title, the passage itself last. Needs no model or GPU.
${PASSAGE_FLAG}
  --completion-file F    (required) the completion: the text the model wrote after the prompt, as it is
${PROMPT_FLAG.replace('the self-edit prompt:', 'the prompt the completion continues:')}
  --compat               the SEAL reference's rules exactly, its defect included: "Answer 1:" is not seen as an
                         answer, so each question and each answer of a self-QA completion becomes its own sequence
                         (default: fixed; see docs/knowledge.md)
${DATA_FLAG}`;

/** `seal knowledge --help`: every knowledge subcommand. */
export const KNOWLEDGE_USAGE = `Usage:
  seal knowledge show --passage N [--prompt KIND] [--data FILE]
      Print a passage's self-edit prompt exactly (seal knowledge show --help).
  seal knowledge sequences --passage N --completion-file F [--prompt KIND] [--compat] [--data FILE]
      Print the training sequences of a completion, as JSON (seal knowledge sequences --help).
  seal knowledge grade --judge J --question Q --gold G [--gold G2 ...] --prediction P
      Grade one answer with a judge, as JSON (seal knowledge grade --help).
${KNOWLEDGE_RUN_USAGE}
  Prompt kinds: ${SELF_EDIT_PROMPT_KINDS.join(', ')}.`;

/** The id --passage gives (checked before the data file is read). */
const passageIdFlag = (value: string | undefined) =>
  numberFlag(requireString(value, '--passage'), '--passage', 0, { min: 0, integer: true, max: Number.MAX_SAFE_INTEGER });

/** The passage of that id in the data. */
function passageIn(data: SquadDataset, id: number): SquadPassage {
  const passage = data.passages[id];
  if (!passage) throw new UsageError(`--passage ${id}: ${data.source} has ${data.passages.length} passages, ids 0-${data.passages.length - 1}`);
  return passage;
}

const promptFlag = (value: string | undefined) => oneOf(value, '--prompt', SELF_EDIT_PROMPT_KINDS) ?? DEFAULT_SELF_EDIT_PROMPT;

function runShow(argv: string[]): number {
  const values = parseFlags(argv, { data: { type: 'string' }, passage: { type: 'string' }, prompt: { type: 'string' } });
  const prompt = promptFlag(values.prompt);
  const id = passageIdFlag(values.passage);
  const passage = passageIn(loadKnowledgeData(values.data), id);
  process.stdout.write(selfEditPromptText(prompt, passage));
  return EXIT.ok;
}

function runSequences(argv: string[]): number {
  const values = parseFlags(argv, {
    data: { type: 'string' },
    passage: { type: 'string' },
    prompt: { type: 'string' },
    'completion-file': { type: 'string' },
    compat: { type: 'boolean', default: false },
  });
  const prompt = promptFlag(values.prompt);
  const id = passageIdFlag(values.passage);
  const file = requireString(values['completion-file'], '--completion-file');
  let completion: string;
  try {
    completion = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--completion-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const passage = passageIn(loadKnowledgeData(values.data), id);
  const sequences = trainingSequences(passage, completion, { prompt, compat: values.compat });
  process.stdout.write(`${JSON.stringify(sequences, null, 2)}\n`);
  return EXIT.ok;
}

/** `seal knowledge SUBCOMMAND ...`. */
export async function runKnowledge(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'show':
      return runShow(rest);
    case 'sequences':
      return runSequences(rest);
    case 'grade':
      return runKnowledgeGrade(rest);
    case 'train':
    case 'eval':
    case 'baseline':
      return runKnowledgeRun(sub, rest);
    default:
      throw new UsageError(
        sub === undefined
          ? 'knowledge needs a subcommand: show, sequences, grade, train, eval or baseline'
          : `unknown knowledge subcommand '${sub}' (show, sequences, grade, train, eval, baseline)`,
      );
  }
}
