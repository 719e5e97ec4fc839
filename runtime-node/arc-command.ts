/**
 * `seal arc show` and `seal arc dataset`: look at what SEAL does with one ARC task without running anything on the
 * GPU: the prompts the model sees, and the TTT examples a self-edit produces.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  augmentationsFor,
  buildTttDataset,
  loadArcDataset,
  parseSelfEdit,
  planTttRun,
  selfEditPrompt,
  solvePrompt,
  type ArcDataset,
  type ArcTestTask,
  type ChatTokenCounter,
} from '../src/domains/arc/index.ts';
import { encodeChat, type ChatMessage } from '../src/text/chat-template.ts';
import { ARC_RUN_USAGE, runArcRun } from './arc-run.ts';
import { ARC_1B_SUBSET_FILES, embeddedArcDir } from './examples.ts';
import { writeFileAtomic } from './durable-write.ts';
import { CHAT_TEMPLATE_OPTION, type ChatTemplateFile, chooseChatTemplate, readChatTemplateFlag } from './chat-template-flag.ts';
import { parseFlags } from './flags.ts';
import { loadModelTokenizer, modelDirFiles } from './model-dir.ts';

export class ArcUsageError extends Error {}

const ARC_DATA_NOTE = `  ARC data: --data names a Kaggle-format challenges file (its solutions file is found beside it); without it the task is
  looked up in arc-agi_{evaluation,training}_challenges.json (or the SEAL 1B subset files) under $SEAL_ARC_DATA, then
  ./data/arc, then in the subsets shipped in the package's examples/data/arc.`;

const MODEL_FLAGS = `  --model DIR            a model whose tokenizer renders and counts the prompts (default: none; no GPU is used)
  --chat-template FILE   with --model: a Jinja chat template instead of the model's (default: the model's, else the
                         plain one arc train uses for a model without one)`;

export const ARC_SHOW_USAGE = `Usage: seal arc show --task ID [--data CHALLENGES.json] [--model DIR [--chat-template FILE]]
  Print the messages SEAL shows the model for a task: the self-edit request and, per test input, the solving prompt
  (with --model: rendered through the chat template arc train uses, with token counts).
  --task ID              (required) the ARC task id
  --data FILE            the challenges file (default: found as below)
${MODEL_FLAGS}
${ARC_DATA_NOTE}`;

export const ARC_DATASET_USAGE = `Usage: seal arc dataset --task ID --self-edit JSON|@FILE [--data CHALLENGES.json] [--model DIR [--chat-template FILE]]
                        [--no-cap] [--seed S] [--dump FILE]
  Build the TTT examples a self-edit produces for the task: counts per leave-n list and filter, the cap, and the
  training plan (steps, skip reasons).
  --task ID              (required) the ARC task id
  --self-edit JSON|@FILE (required) the self-edit: its JSON text, or @ and a file holding it
  --data FILE            the challenges file (default: found as below)
${MODEL_FLAGS.replace('renders and counts the prompts', 'applies the token-length filter')}
  --no-cap               keep every example (default: at most 250, a seeded sample)
  --seed S               the seed of the augmentations and the cap, in [0, 2^32) (0)
  --dump FILE            also write the examples as JSONL chat rows (default: none)
${ARC_DATA_NOTE}`;

/** `seal arc --help`: every arc subcommand. */
export const ARC_USAGE = `Usage:
  seal arc show --task ID [--data CHALLENGES.json] [--model DIR [--chat-template FILE]]
      Print the messages SEAL shows the model for a task (seal arc show --help).
  seal arc dataset --task ID --self-edit JSON|@FILE [--data CHALLENGES.json] [--model DIR [--chat-template FILE]]
                   [--no-cap] [--seed S] [--dump FILE]
      Build the TTT examples a self-edit produces for the task (seal arc dataset --help).
${ARC_RUN_USAGE}
${ARC_DATA_NOTE}`;

/** The challenges files to search for a task: --data, or the standard names in the standard places. */
function challengeFiles(data: string | undefined): string[] {
  if (data !== undefined) {
    if (!existsSync(data)) throw new ArcUsageError(`--data ${data} does not exist`);
    return [resolve(data)];
  }
  const dirs = [process.env.SEAL_ARC_DATA, 'data/arc', embeddedArcDir()].filter((d): d is string => Boolean(d));
  const names = [...['evaluation', 'training'].map((s) => `arc-agi_${s}_challenges.json`), ...Object.values(ARC_1B_SUBSET_FILES)];
  const files = dirs.flatMap((d) => names.map((n) => join(d, n))).filter((f) => existsSync(f));
  if (!files.length) throw new ArcUsageError(`no ARC data found in ${dirs.join(', ')}: pass --data <challenges.json> or set SEAL_ARC_DATA`);
  return files.map((f) => resolve(f));
}

/** The test tasks (one per test input) of task `id`, from the first challenges file that has it. */
function findTask(id: string, data: string | undefined): { dataset: ArcDataset; tasks: ArcTestTask[]; file: string } {
  for (const file of challengeFiles(data)) {
    const challenges = readFileSync(file, 'utf8');
    if (!challenges.includes(`"${id}"`)) continue;
    const solutionsFile = file.replace(/challenges/, 'solutions');
    const solutions = solutionsFile !== file && existsSync(solutionsFile) ? readFileSync(solutionsFile, 'utf8') : undefined;
    const dataset = loadArcDataset({ challenges, solutions, taskIds: [id], challengesSource: file, solutionsSource: solutionsFile });
    const tasks = dataset.tasks.filter((t) => t.taskId === id);
    if (!tasks.length) {
      const why = dataset.excluded.find((e) => e.taskId === id)?.reason ?? 'not usable';
      throw new ArcUsageError(`task ${id} in ${file} cannot be used: ${why}`);
    }
    return { dataset, tasks, file };
  }
  throw new ArcUsageError(`task ${id} is in none of: ${challengeFiles(data).join(', ')}`);
}

/**
 * A chat token counter (and renderer) for --model, or null: the template `seal arc train` would use (--chat-template,
 * the model's, or the plain stand-in for a model without one).
 */
async function chatTools(
  model: string | undefined,
  chatTemplateFlag: ChatTemplateFile | undefined,
): Promise<{ count: ChatTokenCounter; render: (m: readonly ChatMessage[]) => string } | null> {
  if (model === undefined) {
    if (chatTemplateFlag) throw new ArcUsageError('--chat-template needs --model (the template renders with its tokenizer)');
    return null;
  }
  const tokenizer = await loadModelTokenizer(model);
  const chat = (await chooseChatTemplate(modelDirFiles(model), tokenizer, chatTemplateFlag, 'plain'))!;
  if (chat.kind === 'plain') console.error(`seal: note: ${model} has no chat template; prompts are rendered with a plain one (system, user, answer + EOS)`);
  const template = chat.template;
  return {
    count: (messages) => encodeChat(tokenizer, messages, { template }).length,
    render: (messages) => template.render(messages),
  };
}

function printMessages(title: string, messages: readonly ChatMessage[], tools: Awaited<ReturnType<typeof chatTools>>): void {
  console.log(`=== ${title}${tools ? ` (${tools.count(messages)} tokens)` : ''} ===`);
  if (tools) console.log(tools.render(messages));
  else for (const m of messages) console.log(`--- ${m.role} ---\n${m.content}`);
  console.log();
}

async function runShow(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { task: { type: 'string' }, data: { type: 'string' }, model: { type: 'string' }, ...CHAT_TEMPLATE_OPTION });
  if (!values.task) throw new ArcUsageError('--task is required');
  const chatTemplateFlag = readChatTemplateFlag(values['chat-template']);
  const { tasks, file } = findTask(values.task, values.data);
  const tools = await chatTools(values.model, chatTemplateFlag);
  console.log(`task ${values.task} from ${file}: ${tasks[0]!.train.length} train examples, ${tasks.length} test input(s)\n`);
  printMessages('self-edit request', selfEditPrompt(tasks[0]!.train), tools);
  for (const t of tasks) {
    printMessages(`solve ${t.name}`, solvePrompt({ demos: t.train, test: { input: t.testInput } }), tools);
  }
  return 0;
}

async function runDataset(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    task: { type: 'string' },
    data: { type: 'string' },
    model: { type: 'string' },
    ...CHAT_TEMPLATE_OPTION,
    'self-edit': { type: 'string' },
    'no-cap': { type: 'boolean', default: false },
    seed: { type: 'string' },
    dump: { type: 'string' },
  });
  if (!values.task) throw new ArcUsageError('--task is required');
  if (values['self-edit'] === undefined) throw new ArcUsageError('--self-edit is required (JSON text, or @file)');
  const raw = values['self-edit'].startsWith('@') ? readSelfEditFile(values['self-edit'].slice(1)) : values['self-edit'];
  const parsed = parseSelfEdit(raw);
  if (!parsed.ok) throw new ArcUsageError(`--self-edit: ${parsed.reason}`);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff))
    throw new ArcUsageError(`--seed must be an integer in [0, 2^32), got '${values.seed}'`);
  const chatTemplateFlag = readChatTemplateFlag(values['chat-template']);
  const { tasks } = findTask(values.task, values.data);
  const tools = await chatTools(values.model, chatTemplateFlag);
  const dataset = buildTttDataset(tasks[0]!.train, augmentationsFor(parsed.edit.augmentations), {
    countTokens: tools?.count,
    ...(values['no-cap'] ? { maxExamples: Number.MAX_SAFE_INTEGER } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  const plan = planTttRun(parsed.edit, dataset.examples.length);
  for (const a of parsed.adjustments) console.log(`adjusted ${a.field}: ${JSON.stringify(a.from)} -> ${JSON.stringify(a.to)} (${a.reason})`);
  console.log(`task ${values.task}: ${dataset.examples.length} TTT examples${dataset.capped ? ` (capped from ${dataset.beforeCap})` : ''}`);
  for (const l of dataset.lists) {
    console.log(
      `  leave-${l.leaveN}-out: ${l.initial} initial, ${l.augmented} augmented, ${l.oversize} over the size limit, ${l.distinct} distinct, ` +
        `${l.permuted} permuted, ${l.total} total, ${l.overTokenLimit} over the token limit${tools ? '' : ' (no --model: not checked)'}, ${l.kept} kept`,
    );
  }
  console.log(
    `training: ${plan.skip ? 'skipped' : plan.train ? `${plan.steps} optimizer steps, ${plan.epochs} epoch(s), loss on ${plan.lossMode}` : 'no optimizer step (0 epochs)'}`,
  );
  for (const r of plan.reasons) console.log(`  ${r}`);
  if (values.dump) {
    await writeFileAtomic(
      values.dump,
      dataset.examples.map((e) => `${JSON.stringify({ messages: e.messages, recipe: e.recipe, leave_n: e.leaveN })}\n`).join(''),
    );
    console.log(`wrote ${dataset.examples.length} examples to ${values.dump}`);
  }
  return 0;
}

function readSelfEditFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ArcUsageError(`--self-edit: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function runArc(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'show':
      return runShow(rest);
    case 'dataset':
      return runDataset(rest);
    case 'train':
    case 'eval':
    case 'baseline':
      return runArcRun(sub, rest);
    default:
      throw new ArcUsageError(
        sub === undefined
          ? 'arc needs a subcommand: show, dataset, train, eval or baseline'
          : `unknown arc subcommand '${sub}' (show, dataset, train, eval, baseline)`,
      );
  }
}
