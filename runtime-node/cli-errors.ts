/**
 * How the `seal` CLI reports an error, for every command in one place: one `seal:` line on stderr and an exit code
 * from EXIT. The errors a user can fix (a wrong flag, a broken model or data file, no GPU, a locked run directory)
 * are known here by class; anything else is an internal error, whose stack is printed only with SEAL_DEBUG=1.
 */
import { ArcDataError } from '../src/domains/arc/index.ts';
import { SelfEditFitError } from '../src/domains/arc/self-edit-fit.ts';
import { JudgeError } from '../src/domains/knowledge/judges/judge.ts';
import { KnowledgeDataError } from '../src/domains/knowledge/passages.ts';
import { DeviceLostError, GpuUnavailableError } from '../src/gpu/errors.ts';
import { HubError } from '../src/model/hub-protocol.ts';
import { ModelLoadError } from '../src/inference/load-model.ts';
import { EventLogError } from '../src/seal/events.ts';
import { RunConfigMismatchError } from '../src/seal/run-config.ts';
import { ChatTemplateError } from '../src/text/chat-template.ts';
import { TokenizerLoadError } from '../src/text/tokenizer.ts';
import { SftDataError } from '../src/train/sft-data.ts';
import { SftDivergedError } from '../src/train/sft.ts';
import { oneLine } from '../src/util/one-line.ts';
import { AdapterDirError } from './adapter-files.ts';
import { ArcUsageError } from './arc-command.ts';
import { ArcRunError } from './arc-run.ts';
import { KnowledgeRunError } from './knowledge-run.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { ExportError } from './export-model.ts';
import { isParseArgsError, parseArgsMessage, UsageError } from './flags.ts';
import { ModelDirError } from './model-dir.ts';
import { RunDirError, RunLockedError } from './run-dir.ts';

/** Errors whose message says what is wrong with an input and how to fix it: printed as is (on one line), exit 1. */
const INPUT_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [
  ModelLoadError,
  ModelDirError,
  TokenizerLoadError,
  ChatTemplateError,
  HubError,
  AdapterDirError,
  ExportError,
  ArcDataError,
  KnowledgeDataError,
  JudgeError,
  ArcRunError,
  KnowledgeRunError,
  SelfEditFitError,
  SftDataError,
  SftDivergedError,
  RunDirError,
  RunConfigMismatchError,
  EventLogError,
  DeviceLostError,
];

/** What the CLI prints for an error, and its exit code. */
export interface ErrorReport {
  code: ExitCode;
  /** The `seal:` lines (the first one says what is wrong). */
  lines: string[];
}

/**
 * The report of an error thrown by `command` ('generate', 'arc train', or null when argv named no command): usage
 * errors point to the command's --help; a stack only for an internal error, and only when `debug`.
 */
export function describeError(e: unknown, command: string | null, debug = false): ErrorReport {
  const message = isParseArgsError(e) ? parseArgsMessage(e.message) : e instanceof Error ? e.message : String(e);
  if (e instanceof UsageError || e instanceof ArcUsageError || isParseArgsError(e)) {
    return { code: EXIT.usage, lines: [`seal: ${oneLine(message)}`, `Run 'seal ${command === null ? '' : `${command} `}--help' for usage.`] };
  }
  if (e instanceof GpuUnavailableError) return { code: EXIT.noGpu, lines: [`seal: ${oneLine(message)}`] };
  if (e instanceof RunLockedError) return { code: EXIT.runLocked, lines: [`seal: ${oneLine(message)}`] };
  if (INPUT_ERRORS.some((c) => e instanceof c)) return { code: EXIT.error, lines: [`seal: ${oneLine(message)}`] };
  const internal = `seal: internal error: ${oneLine(message)}`;
  if (debug) return { code: EXIT.error, lines: [internal, (e instanceof Error && e.stack) || message] };
  return { code: EXIT.error, lines: [`${internal} (rerun with SEAL_DEBUG=1 for the stack)`] };
}

/** Prints the report of `e` on stderr and returns its exit code. */
export function reportError(e: unknown, command: string | null): ExitCode {
  const report = describeError(e, command, process.env.SEAL_DEBUG === '1');
  for (const line of report.lines) console.error(line);
  return report.code;
}
