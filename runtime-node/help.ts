/**
 * The `seal` help texts, one table of command -> usage, so `seal <command> [sub] --help`, `-h` and `seal help
 * <command>` are answered here before a command runs (the command modules need no help code), and the version.
 * The texts of sft, arc and knowledge live beside their flags (sft-command.ts, arc-command.ts, arc-run.ts,
 * knowledge-command.ts, knowledge-grade.ts).
 */
import packageJson from '../package.json' with { type: 'json' };
import { ARC_DATASET_USAGE, ARC_SHOW_USAGE, ARC_USAGE } from './arc-command.ts';
import { ARC_RUN_HELP } from './arc-run.ts';
import { EXIT } from './exit-codes.ts';
import { UsageError } from './flags.ts';
import { KNOWLEDGE_SEQUENCES_USAGE, KNOWLEDGE_SHOW_USAGE, KNOWLEDGE_USAGE } from './knowledge-command.ts';
import { KNOWLEDGE_GRADE_USAGE } from './knowledge-grade.ts';
import { KNOWLEDGE_RUN_HELP } from './knowledge-run.ts';
import { SFT_USAGE } from './sft-command.ts';

/** `seal --version`: the package's name and version. */
export const VERSION_LINE = `${packageJson.name} ${packageJson.version}`;

/** The flags of every command that creates a GPU device. */
export const DEVICE_FLAGS_USAGE = `  --gpu-adapter NAME     the WebGPU adapter to use, by name (seal doctor shows it; default: the first
                         high-performance adapter)
  --backend B            Dawn backend: vulkan, metal, d3d12 (default: the platform's)
  --disable-features F   comma list of WebGPU features not to use, e.g. shader-f16,subgroups (default: none)
  --verbose              also show Dawn's own warnings (e.g. limits it reduced; hidden by default)`;

const MODEL_FLAG = `  --model DIR            (required) a local Hugging Face model directory (config.json, model.safetensors or a
                         sharded index, tokenizer.json) or a Hub id org/name[@revision]`;

export const TOP_USAGE = `seal — SEAL (self-adapting language models) on WebGPU (${VERSION_LINE})

Usage: seal <command> [flags]            seal <command> --help: the command's flags and their defaults

Commands:
  doctor       the GPU adapter, its features and limits, the kernel paths used, and a self-test of each
  tokenize     a text's token ids and tokens, as JSON
  logits       the logits of a token sequence, as JSON
  generate     continue a prompt: streamed, several samples, or constrained by a JSON Schema
  sft          LoRA fine-tuning on a JSONL file, writing a PEFT adapter
  merge        merge a LoRA adapter into its model, writing a plain Hugging Face model
  arc          SEAL on ARC tasks: arc show | dataset | train | eval | baseline (seal arc --help)
  knowledge    SEAL on SQuAD passages (knowledge incorporation): knowledge show | sequences | grade | train | eval | baseline (seal knowledge --help)
  help [COMMAND [SUBCOMMAND]]            this text, or a command's
  seal --version (-V)                    the version

--model DIR is a local Hugging Face model directory (config.json, model.safetensors or a sharded index,
  tokenizer.json) or a Hub id org/name[@revision], downloaded once into the Hugging Face cache (HF_HUB_CACHE,
  HF_HOME; HF_TOKEN for gated models; HF_ENDPOINT; HF_HUB_OFFLINE=1) and then used offline.
Commands that run on the GPU take --gpu-adapter NAME, --backend B, --disable-features F and --verbose.

Exit codes:
  ${EXIT.ok}    done
  ${EXIT.error}    an error: a broken model, adapter or data file, a failed self-test, an internal error (SEAL_DEBUG=1
       prints its stack)
  ${EXIT.usage}    a wrong flag or argument (one line says which; the command's --help lists them)
  ${EXIT.noGpu}    no WebGPU adapter, or not the one --gpu-adapter / --backend asked for
  ${EXIT.runLocked}    the run directory is in use by another live seal process
  ${EXIT.interrupted}  interrupted (Ctrl-C or SIGTERM): the run recorded it; the same command resumes it

Benchmarks: npm run bench -- kernels   (see README)`;

const DOCTOR_USAGE = `Usage: seal doctor [--json] [--gpu-adapter NAME] [--backend B] [--disable-features F] [--verbose]
  Show the GPU adapter, its features and limits, the kernel paths that will be used, and run a self-test of every
  matmul kernel the device offers against an f64 product (exit ${EXIT.error} when one fails).
  --json                 the report as JSON, with the Dawn flags used (default: text)
  --adapter NAME         deprecated spelling of --gpu-adapter
${DEVICE_FLAGS_USAGE}`;

const TOKENIZE_USAGE = `Usage: seal tokenize --model DIR --text TEXT [--no-special]
  Print {"ids": [...], "tokens": [...]} as JSON. Needs no GPU.
${MODEL_FLAG}
  --text TEXT            (required) the text to tokenize
  --no-special           add no BOS or other special tokens (default: added as the tokenizer does)`;

const ADAPTER_FLAG = `  --adapter ADAPTER_DIR  a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) applied to the
                         model without merging (default: none)`;

const LOGITS_USAGE = `Usage: seal logits --model DIR --ids 1,2,3 [--adapter ADAPTER_DIR] [device flags]
  Print {"logits": [[...], ...]} as JSON: one row of vocab-size logits per input position (f32 matmuls).
${MODEL_FLAG}
  --ids LIST             (required) comma-separated token ids, each below the vocabulary size
${ADAPTER_FLAG}
${DEVICE_FLAGS_USAGE}`;

const GENERATE_USAGE = `Usage: seal generate --model DIR --prompt TEXT [flags]
  Stream the continuation of the prompt to stdout.
${MODEL_FLAG}
  --prompt TEXT          (required) the prompt
  --chat                 render the model's chat template around the prompt (default: the plain prompt)
  --system TEXT          with --chat: a system message before the prompt (default: none)
  --max-new-tokens N     new tokens at most, in [0, 1048576] (256)
  --temperature T        0 = greedy (0)
  --top-p P              nucleus sampling, in (0, 1] (1 = off)
  --top-k K              sample among the K likeliest tokens (0 = off)
  --seed S               sampling seed, in [0, 2^32) (0)
  --n K                  K samples together (sample i draws from stream i of the seed), each printed as it ends (1)
  --json                 one JSON object per sample: {"index", "text", "finish_reason", "tokens"} (default: text)
  --json-schema FILE     constrain every sample to a JSON document valid under that JSON Schema (the supported
                         subset: README); the document ends generation; a sample cut by --max-new-tokens first is
                         reported on stderr (default: unconstrained)
${ADAPTER_FLAG}
${DEVICE_FLAGS_USAGE}`;

const MERGE_USAGE = `Usage: seal merge --model DIR --adapter ADAPTER_DIR --out OUT_DIR [--dtype bf16|f16|f32] [device flags]
  Merge a LoRA adapter into the model (W + s·B·A) and write the result to OUT_DIR as a plain Hugging Face model
  (safetensors, sharded over 5 GB; config and tokenizer files copied).
${MODEL_FLAG}
  --adapter ADAPTER_DIR  (required) the PEFT LoRA adapter to merge
  --out OUT_DIR          (required) a new or empty directory
  --dtype D              bf16, f16 or f32 (default: the base model's dtype)
${DEVICE_FLAGS_USAGE}`;

const HELP_USAGE = `Usage: seal help [COMMAND [SUBCOMMAND]]
  Print the usage of seal, or of a command (the same as seal COMMAND [SUBCOMMAND] --help).`;

/** Every command and subcommand's usage text. */
const USAGE_BY_COMMAND: Readonly<Record<string, string>> = {
  doctor: DOCTOR_USAGE,
  tokenize: TOKENIZE_USAGE,
  logits: LOGITS_USAGE,
  generate: GENERATE_USAGE,
  sft: SFT_USAGE,
  merge: MERGE_USAGE,
  arc: ARC_USAGE,
  'arc show': ARC_SHOW_USAGE,
  'arc dataset': ARC_DATASET_USAGE,
  'arc train': ARC_RUN_HELP,
  'arc eval': ARC_RUN_HELP,
  'arc baseline': ARC_RUN_HELP,
  knowledge: KNOWLEDGE_USAGE,
  'knowledge show': KNOWLEDGE_SHOW_USAGE,
  'knowledge sequences': KNOWLEDGE_SEQUENCES_USAGE,
  'knowledge grade': KNOWLEDGE_GRADE_USAGE,
  'knowledge train': KNOWLEDGE_RUN_HELP,
  'knowledge eval': KNOWLEDGE_RUN_HELP,
  'knowledge baseline': KNOWLEDGE_RUN_HELP,
  help: HELP_USAGE,
};

/** The usage text of a command ('arc train', ...); the top-level usage for anything else. */
export function usageOf(command: string | null): string {
  return (command !== null && USAGE_BY_COMMAND[command]) || TOP_USAGE;
}

/** The command (with its subcommand, for arc and knowledge) that argv names, or null when it names none that exists. */
export function commandOf(argv: readonly string[]): string | null {
  const [cmd, sub] = argv;
  if (cmd === undefined || !Object.hasOwn(USAGE_BY_COMMAND, cmd)) return null;
  if (sub !== undefined && Object.hasOwn(USAGE_BY_COMMAND, `${cmd} ${sub}`)) return `${cmd} ${sub}`;
  return cmd;
}

/** Whether argv asks for help (--help or -h anywhere before a `--`). */
export function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** `seal help [COMMAND [SUBCOMMAND]]`: the text to print; an unknown command is a UsageError. */
export function helpCommand(topic: readonly string[]): string {
  if (topic.length === 0) return TOP_USAGE;
  const command = commandOf(topic);
  if (command === null) throw new UsageError(`unknown command '${topic.join(' ')}'`);
  return usageOf(command);
}
