/**
 * The event log of a SEAL run (events.jsonl): one JSON record per line, appended and flushed one at a time, never
 * rewritten. It is the single source of truth of a run: run-state.ts folds it into what is finished, the report is
 * drawn from it, and resuming reads nothing else.
 *
 * Every record has `v` (format version), `seq` (1-based line number), `time` (ISO 8601) and `type`. Compatibility:
 *   - unknown fields are kept and ignored (a newer writer may add fields without bumping `v`);
 *   - an unknown `type` is skipped with a warning (a newer writer may add record types without bumping `v`);
 *   - a record whose `v` is above EVENT_FORMAT_VERSION is refused: a breaking change bumps `v`, and an older
 *     reader must not guess.
 * Rounds, candidates and test indices are 0-based. Non-finite numbers (a diverged loss) are written as null.
 *
 * Reading (parseEventLog) tolerates exactly one kind of damage, the one a kill or power loss leaves: an incomplete
 * or unparsable last line ("torn"), reported so the writer can warn and cut it off. Damage anywhere else is an error.
 */
import { isJsonObject, type JsonValue } from './json.ts';
import type { RunConfig } from './run-config.ts';

export const EVENT_FORMAT_VERSION = 1;

/** Which policy a round samples its self-edits from: the run's base model or the checkpoint a round saved. */
export type PolicyRef = { kind: 'base' } | { kind: 'checkpoint'; round: number; path: string; fingerprint?: string };

/** A value the domain changed or ignored while validating a self-edit, and why (e.g. a clamped learning rate). */
export interface EditAdjustment {
  field: string;
  /** JSON-serializable (the ARC domain's SelfEditAdjustment fits as is). */
  from?: unknown;
  to?: unknown;
  reason: string;
}

/** The outcome on one test input (ARC: one test grid; knowledge: one question). */
export interface TestOutcome {
  /** The test input's id, e.g. "6150a2bd-0" or a question id. */
  id: string;
  correct: boolean;
  /** What the adapted model answered (ARC: its two attempt grids); JSON-serializable. */
  prediction?: unknown;
}

/** Where and how a process ran (informational, never hashed). */
export interface Invocation {
  argv?: string[];
  cwd?: string;
  host?: string;
  pid?: number;
  /** e.g. { name: "seal-webgpu", version: "0.1.0", node: "v20.20.2" }. */
  software?: Record<string, string>;
  /** The GPU adapter, when known. */
  device?: string;
}

/** Round metrics as recorded in 'round-finished' (run-state.ts computes them). */
export interface RoundMetrics {
  round: number;
  tasks: number;
  candidatesPerTask: number;
  /** Scored (task, self-edit) pairs; equals tasks x candidatesPerTask when the round is complete. */
  pairs: number;
  /** Pairs whose adapted model solved the task. */
  successes: number;
  /** successes / pairs: the paper's "success rate" (null with no pairs). */
  successRate: number | null;
  meanReward: number | null;
  /** Tasks solved by at least one of their candidates. */
  tasksSolved: number;
  /** Pairs scored that trained 0 steps or whose training left the model as it was (run-state.ts zeroStepReason). */
  skipped: number;
}

export interface RunStartedEvent {
  type: 'run-started';
  config: RunConfig;
  configHash: string;
  invocation: Invocation;
}
export interface RunResumedEvent {
  type: 'run-resumed';
  configHash: string;
  rounds: number;
  finishedCandidates: number;
  invocation: Invocation;
}
export interface ConfigChangedEvent {
  type: 'config-changed';
  config: RunConfig;
  configHash: string;
  previousHash: string;
  changes: { path: string; from?: JsonValue; to?: JsonValue }[];
}
export interface RoundStartedEvent {
  type: 'round-started';
  round: number;
  policy: PolicyRef;
  tasks: string[];
  candidatesPerTask: number;
}
/** One sampled self-edit for a candidate slot. An invalid sample has edit null and a reason; the slot may be resampled. */
export interface SelfEditSampledEvent {
  type: 'self-edit-sampled';
  round: number;
  task: string;
  candidate: number;
  /** 0-based sample number for this slot (resampling after an invalid one increments it). */
  attempt: number;
  /** The raw generated text. */
  text: string;
  /** The parsed (and clamped) self-edit as the domain records it (JSON-serializable, e.g. the ARC SelfEdit), or null when invalid. */
  edit: unknown;
  invalid?: string;
  adjustments?: EditAdjustment[];
  /** Generated tokens. */
  tokens?: number;
}
/** The candidate's inner loop (TTT) begins; TTT steps before a later 'candidate-started' belong to an abandoned try. */
export interface CandidateStartedEvent {
  type: 'candidate-started';
  round: number;
  task: string;
  candidate: number;
  examples?: number;
  plannedSteps?: number;
  /** Why the training differs from what the self-edit asked for (a step budget, a cap). */
  notes?: string[];
  /**
   * Set when the candidate runs but its training cannot change the model, and why: 0 planned steps (over the step
   * budget: 0 epochs), or a learning rate of 0 at every step (e.g. warmup >= the planned steps). It counts as skipped.
   */
  untrained?: string;
}
export interface TttStepEvent {
  type: 'ttt-step';
  round: number;
  task: string;
  candidate: number;
  /** 1-based optimizer step. */
  step: number;
  loss: number | null;
  lr: number;
  /** Tokens in the loss this step. */
  tokens: number;
  epoch?: number;
  gradNorm?: number | null;
}
/** A candidate is finished exactly when this record exists. */
export interface CandidateScoredEvent {
  type: 'candidate-scored';
  round: number;
  task: string;
  candidate: number;
  /** The reward the outer loop uses (ARC: 1 solved, 0 not; knowledge: adapted accuracy). */
  reward: number;
  /** Whether the adapted model solved the task (ARC: every test input right under pass@2). */
  solved: boolean;
  tests: TestOutcome[];
  /** Set when nothing was trained or evaluated (invalid self-edit, over the step budget): why. */
  skipped?: string;
  /** The PEFT adapter directory, relative to the run directory (null: not kept). */
  adapter?: string | null;
  /** Wall-clock seconds of the phases. */
  seconds?: { ttt?: number; eval?: number };
}
/** A reference without self-edits (e.g. "ICL": the un-adapted model), per task; `round` null for a run-wide one. */
export interface BaselineScoredEvent {
  type: 'baseline-scored';
  name: string;
  round: number | null;
  task: string;
  reward: number;
  solved: boolean;
  tests: TestOutcome[];
}
export interface RoundFinishedEvent {
  type: 'round-finished';
  round: number;
  metrics: RoundMetrics;
}
export interface PolicySftStartedEvent {
  type: 'policy-sft-started';
  round: number;
  examples: number;
  plannedSteps?: number;
}
export interface PolicySftStepEvent {
  type: 'policy-sft-step';
  round: number;
  step: number;
  loss: number | null;
  lr: number;
  tokens: number;
  epoch?: number;
}
/** The policy trained in `round` (the M-step) is saved; it generates round + 1's self-edits. */
export interface PolicyCheckpointSavedEvent {
  type: 'policy-checkpoint-saved';
  round: number;
  path: string;
  fingerprint?: string;
  examples: number;
}
export interface RunFinishedEvent {
  type: 'run-finished';
}
export interface RunFailedEvent {
  type: 'run-failed';
  error: string;
  stack?: string;
}
/** The process was stopped by a signal (Ctrl-C, SIGTERM); the run resumes with the same command. */
export interface InterruptedEvent {
  type: 'interrupted';
  /** e.g. "SIGINT". */
  signal: string;
}
export interface WarningEvent {
  type: 'warning';
  message: string;
}

/** What a writer passes to append (the writer stamps v, seq and time). */
export type RunEventInput =
  | RunStartedEvent
  | RunResumedEvent
  | ConfigChangedEvent
  | RoundStartedEvent
  | SelfEditSampledEvent
  | CandidateStartedEvent
  | TttStepEvent
  | CandidateScoredEvent
  | BaselineScoredEvent
  | RoundFinishedEvent
  | PolicySftStartedEvent
  | PolicySftStepEvent
  | PolicyCheckpointSavedEvent
  | RunFinishedEvent
  | RunFailedEvent
  | InterruptedEvent
  | WarningEvent;

export type EventType = RunEventInput['type'];

interface Stamp {
  v: number;
  seq: number;
  time: string;
}

/** A record of the log. */
export type RunEvent = RunEventInput & Stamp;
export type EventOf<T extends EventType> = Extract<RunEvent, { type: T }>;

/** The record for `input`, stamped; throws a clear error if the input is malformed (a writer bug). */
export function stampEvent(input: RunEventInput, seq: number, time: Date): RunEvent {
  const event = { v: EVENT_FORMAT_VERSION, seq, time: time.toISOString(), ...input } as RunEvent;
  const problem = checkFields(event as unknown as Record<string, unknown>);
  if (problem !== null) throw new TypeError(`bad '${input.type}' event: ${problem}`);
  return event;
}

/** The JSON line of a record (newline included). */
export function eventLine(event: RunEvent): string {
  return `${JSON.stringify(event)}\n`;
}

type FieldKind =
  | 'int'
  | 'nat'
  | 'number'
  | 'number|null'
  | 'string'
  | 'string|null'
  | 'bool'
  | 'object'
  | 'array'
  | 'string[]'
  | 'tests'
  | 'json'
  | 'policy'
  | 'int|null';
type FieldSpec = Record<string, FieldKind | `${FieldKind}?`>;

const SLOT: FieldSpec = { round: 'nat', task: 'string', candidate: 'nat' };
const FIELDS: Record<EventType, FieldSpec> = {
  'run-started': { config: 'object', configHash: 'string', invocation: 'object' },
  'run-resumed': { configHash: 'string', rounds: 'nat', finishedCandidates: 'nat', invocation: 'object' },
  'config-changed': { config: 'object', configHash: 'string', previousHash: 'string', changes: 'array' },
  'round-started': { round: 'nat', policy: 'policy', tasks: 'string[]', candidatesPerTask: 'nat' },
  'self-edit-sampled': { ...SLOT, attempt: 'nat', text: 'string', edit: 'json', invalid: 'string?', adjustments: 'array?', tokens: 'nat?' },
  'candidate-started': { ...SLOT, examples: 'nat?', plannedSteps: 'nat?', notes: 'string[]?', untrained: 'string?' },
  'ttt-step': { ...SLOT, step: 'nat', loss: 'number|null', lr: 'number', tokens: 'nat', epoch: 'number?', gradNorm: 'number|null?' },
  'candidate-scored': { ...SLOT, reward: 'number', solved: 'bool', tests: 'tests', skipped: 'string?', adapter: 'string|null?', seconds: 'object?' },
  'baseline-scored': { name: 'string', round: 'int|null', task: 'string', reward: 'number', solved: 'bool', tests: 'tests' },
  'round-finished': { round: 'nat', metrics: 'object' },
  'policy-sft-started': { round: 'nat', examples: 'nat', plannedSteps: 'nat?' },
  'policy-sft-step': { round: 'nat', step: 'nat', loss: 'number|null', lr: 'number', tokens: 'nat', epoch: 'number?' },
  'policy-checkpoint-saved': { round: 'nat', path: 'string', fingerprint: 'string?', examples: 'nat' },
  'run-finished': {},
  'run-failed': { error: 'string', stack: 'string?' },
  interrupted: { signal: 'string' },
  warning: { message: 'string' },
};

function kindOk(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'int':
      return Number.isSafeInteger(v);
    case 'nat':
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case 'int|null':
      return v === null || Number.isSafeInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'number|null':
      return v === null || (typeof v === 'number' && Number.isFinite(v));
    case 'string':
      return typeof v === 'string';
    case 'string|null':
      return v === null || typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'object':
      return isJsonObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string[]':
      return Array.isArray(v) && v.every((s) => typeof s === 'string');
    case 'json':
      return v !== undefined;
    case 'tests':
      return Array.isArray(v) && v.every((t) => isJsonObject(t) && typeof t.id === 'string' && typeof t.correct === 'boolean');
    case 'policy':
      return isJsonObject(v) && (v.kind === 'base' || (v.kind === 'checkpoint' && Number.isSafeInteger(v.round) && typeof v.path === 'string'));
  }
}

/** null when the record's known fields have the right types, else what is wrong. */
function checkFields(record: Record<string, unknown>): string | null {
  const spec = FIELDS[record.type as EventType];
  if (!Number.isSafeInteger(record.v) || (record.v as number) < 1) return `"v" must be a positive integer, got ${JSON.stringify(record.v)}`;
  if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 1) return `"seq" must be a positive integer, got ${JSON.stringify(record.seq)}`;
  if (typeof record.time !== 'string') return '"time" must be an ISO date string';
  for (const [field, declared] of Object.entries(spec)) {
    const optional = declared.endsWith('?');
    const kind = (optional ? declared.slice(0, -1) : declared) as FieldKind;
    const value = record[field];
    if (value === undefined && optional) continue;
    if (!kindOk(kind, value)) return `field "${field}" must be ${kind.replace('nat', 'an integer >= 0')}, got ${JSON.stringify(value) ?? 'nothing'}`;
  }
  if (record.type === 'self-edit-sampled' && (record.edit === null) !== (typeof record.invalid === 'string')) {
    return 'a self-edit is either valid (edit set, no "invalid") or invalid (edit null and an "invalid" reason)';
  }
  return null;
}

/** A corrupt log (damage that a kill cannot explain), or a log from a newer format. */
export class EventLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventLogError';
  }
}

export type ParsedLine = { ok: true; event: RunEvent } | { ok: true; event: null; warning: string } | { ok: false; reason: string };

/** Parses one line (without its newline). An unknown type is ok with a warning and no event. */
export function parseEventLine(line: string): ParsedLine {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (e) {
    return { ok: false, reason: `not JSON (${(e as Error).message})` };
  }
  if (!isJsonObject(record) || typeof record.type !== 'string') return { ok: false, reason: 'not an event record (no "type")' };
  if (Number.isSafeInteger(record.v) && (record.v as number) > EVENT_FORMAT_VERSION) {
    throw new EventLogError(
      `event format v${record.v as number} is newer than this version of seal reads (v${EVENT_FORMAT_VERSION}): upgrade seal-webgpu to open this run`,
    );
  }
  if (!Object.hasOwn(FIELDS, record.type)) {
    return { ok: true, event: null, warning: `unknown event type "${record.type}" (written by a newer version?) ignored` };
  }
  const problem = checkFields(record);
  return problem === null ? { ok: true, event: record as unknown as RunEvent } : { ok: false, reason: problem };
}

export interface ParsedEventLog {
  events: RunEvent[];
  /** Unknown types skipped, a torn last line cut. */
  warnings: string[];
  /** Bytes of the intact prefix: everything after it is the torn last line. */
  validBytes: number;
  /** Intact lines (events plus skipped unknown types): the next record's seq is lines + 1. */
  lines: number;
  /** The torn last line, if any (its bytes and why it is unusable). */
  torn: { line: number; bytes: Uint8Array; reason: string } | null;
}

/**
 * Parses events.jsonl. Records must be complete lines; the last line may be torn (no newline, or not a valid
 * record), which a kill mid-write leaves: it is reported in `torn` and a warning, and the events before it stand.
 * Any other bad line throws EventLogError naming the line.
 */
export function parseEventLog(bytes: Uint8Array, name = 'events.jsonl'): ParsedEventLog {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const events: RunEvent[] = [];
  const warnings: string[] = [];
  let start = 0;
  let line = 0;
  while (start < bytes.byteLength) {
    line++;
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.byteLength : newline;
    const isLast = newline < 0 || newline + 1 >= bytes.byteLength;
    let parsed: ParsedLine;
    try {
      parsed =
        newline < 0 ? { ok: false, reason: 'no newline at its end (the write was cut off)' } : parseEventLine(decoder.decode(bytes.subarray(start, end)));
    } catch (e) {
      if (e instanceof EventLogError) throw new EventLogError(`${name} line ${line}: ${e.message}`);
      parsed = { ok: false, reason: `not UTF-8 text (${(e as Error).message})` };
    }
    if (!parsed.ok) {
      if (!isLast) {
        throw new EventLogError(
          `${name} line ${line} is corrupt (${parsed.reason}) and is not the last line, so it is not a write cut off by a kill; ` +
            'the run cannot be resumed safely from this log: inspect the file, or start a new --run directory',
        );
      }
      const reason = parsed.reason;
      warnings.push(`${name} line ${line} is incomplete (${reason}): the process was probably killed while writing it; the line is ignored`);
      return { events, warnings, validBytes: start, lines: line - 1, torn: { line, bytes: bytes.slice(start), reason } };
    }
    if (parsed.event === null) warnings.push(`${name} line ${line}: ${parsed.warning}`);
    else {
      if (parsed.event.seq !== line) warnings.push(`${name} line ${line} has seq ${parsed.event.seq} (expected ${line})`);
      events.push(parsed.event);
    }
    start = end + 1;
  }
  return { events, warnings, validBytes: bytes.byteLength, lines: line, torn: null };
}
