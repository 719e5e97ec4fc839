/**
 * The run directory of a SEAL run (`--run <dir>`): everything a run produces, under one folder per run, never
 * overwritten by another run.
 *
 *   <run>/config.json          the full configuration and its hash (written atomically; rewritten only when rounds
 *                              are extended or --force-config changes it)
 *   <run>/events.jsonl         the append-only event log (src/seal/events.ts), the single source of truth for resuming
 *                              and for the report: one write per record (a killed process loses nothing written), and
 *                              fdatasync after every record except TTT / policy-SFT steps, which are synced at most
 *                              once per `stepSyncMs` (default 1 s; 0 syncs every record): an OS crash can lose at most
 *                              that much of an unfinished candidate's loss curve, never a finished candidate
 *   <run>/run.lock             held while a process runs in the directory (pid, host, start; heartbeat in its mtime)
 *   <run>/adapters/round-R/<task>/candidate-K/   the candidate's TTT adapter (PEFT: adapter_config.json +
 *                              adapter_model.safetensors)
 *   <run>/policy/round-R/      the policy trained by round R's M-step (it samples round R + 1)
 *   <run>/report.html          the report (src/seal/report.ts), rewritten atomically when a round finishes and at the end
 *   <run>/self-edits.jsonl     every sampled self-edit with its candidate's reward: a view regenerated from the log
 *                              with the report (never read back)
 *   <run>/events.jsonl.torn-*  the bytes of a torn last record cut off when resuming (kept for inspection)
 *
 * Opening: a missing or empty directory starts a new run; a directory holding a run resumes it when its config hash
 * matches (see src/seal/run-config.ts for --force-config and extending rounds); any other non-empty directory is
 * refused. Task ids become path segments with unsafe characters escaped (taskPathSegment).
 *
 * The names and folders are run-layout.ts, the lock run-lock.ts, the model's identity model-fingerprint.ts (all
 * re-exported here); every file but the event log is written through durable-write.ts.
 */
import { closeSync, existsSync, fdatasyncSync, openSync, statSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EventLogError, eventLine, type Invocation, parseEventLog, type RunEvent, type RunEventInput, stampEvent } from '../src/seal/events.ts';
import { type ProgressStream, RunProgressDisplay } from '../src/seal/progress.ts';
import { type ReportOptions, renderReportHtml } from '../src/seal/report.ts';
import { checkResumeConfig, checkRunConfig, configHash, type RunConfig } from '../src/seal/run-config.ts';
import {
  applyEvent,
  finishedCandidateCount,
  foldEvents,
  isCandidateFinished,
  type RunState,
  resumeSummary,
  roundMetrics,
  selfEditRecords,
} from '../src/seal/run-state.ts';
import { formatRunSummary } from '../src/seal/summary.ts';
import { removeTempSiblings, writeFileAtomic } from './durable-write.ts';
import { adapterSubdir, policySubdir, RUN_FILES, RunDirError } from './run-layout.ts';
import { RunLock } from './run-lock.ts';

export { fingerprintModelDir, hubSourceOf, nodeSha256 } from './model-fingerprint.ts';
export { adapterSubdir, policySubdir, RUN_FILES, RunDirError, taskPathSegment } from './run-layout.ts';
export { RunLock, RunLockedError } from './run-lock.ts';

export interface OpenRunOptions {
  /** The requested configuration (a new run starts with it; a resumed run must match it). */
  config: RunConfig;
  /** Defaults: argv, cwd, host, pid and the Node version of this process. */
  invocation?: Invocation;
  /** Resume even when the config hash differs (the change is recorded; see src/seal/run-config.ts). */
  forceConfig?: boolean;
  /** A lock from another host is stale after this long without a heartbeat (ms, default 10 min). */
  lockStaleMs?: number;
  /** Warnings (a torn last record cut, a stale lock broken); default console.warn. */
  onWarning?: (message: string) => void;
  /** TTT and policy-SFT step records are fdatasync'ed at most this often (ms, default 1000; 0: every record). */
  stepSyncMs?: number;
  /** Where to draw the progress line (e.g. process.stderr); default none. */
  progress?: ProgressStream | null;
  report?: ReportOptions;
  /** Clock (tests). */
  now?: () => Date;
}

function defaultInvocation(): Invocation {
  return {
    argv: process.argv.slice(2),
    cwd: process.cwd(),
    host: hostname(),
    pid: process.pid,
    software: { runtime: 'Deno' in globalThis ? 'deno' : 'node', version: process.version },
  };
}

interface StoredConfigFile {
  format: 'seal-run';
  version: number;
  configHash: string;
  config: RunConfig;
}

/** An open run directory: the lock held, the log open for appending, the folded state kept current. */
export class RunDir {
  private fd: number | null;
  private lines: number;
  /** performance.now() of the last fdatasync. */
  private lastSync = -Infinity;
  private readonly progress: RunProgressDisplay | null;

  private constructor(
    readonly dir: string,
    /** The folded log, updated by every append. */
    readonly state: RunState,
    /** Whether the directory already held this run. */
    readonly resumed: boolean,
    /** Warnings met while opening. */
    readonly warnings: readonly string[],
    private readonly lock: RunLock,
    fd: number,
    lines: number,
    private readonly options: OpenRunOptions,
  ) {
    this.fd = fd;
    this.lines = lines;
    this.progress = options.progress ? new RunProgressDisplay({ stream: options.progress }) : null;
  }

  /** Creates or resumes the run in `dir` (see the file comment). */
  static async open(dir: string, options: OpenRunOptions): Promise<RunDir> {
    const abs = resolve(dir);
    const config = checkRunConfig(options.config);
    const warnings: string[] = [];
    const warn = (message: string) => {
      warnings.push(message);
      (options.onWarning ?? console.warn)(message);
    };
    if (existsSync(abs) && !statSync(abs).isDirectory()) throw new RunDirError(`${abs} exists and is not a directory: pass a new --run directory`);
    await mkdir(abs, { recursive: true });
    const lock = await RunLock.acquire(join(abs, RUN_FILES.lock), { staleMs: options.lockStaleMs, warn });
    let fd: number | null = null;
    try {
      const entries = (await readdir(abs)).filter((e) => e !== RUN_FILES.lock);
      const eventsPath = join(abs, RUN_FILES.events);
      const invocation = options.invocation ?? defaultInvocation();
      const now = options.now ?? (() => new Date());
      if (!entries.includes(RUN_FILES.config)) {
        if (entries.length > 0) {
          throw new RunDirError(
            `${abs} is not empty and holds no SEAL run (no ${RUN_FILES.config}): refusing to write into it; pass a new or empty --run directory`,
          );
        }
        await writeConfigFile(abs, config);
        fd = openSync(eventsPath, 'a');
        const run = new RunDir(abs, foldEvents([]), false, warnings, lock, fd, 0, options);
        run.append({ type: 'run-started', config, configHash: configHash(config), invocation });
        return run;
      }

      const stored = await readConfigFile(abs);
      const bytes = existsSync(eventsPath) ? new Uint8Array(await readFile(eventsPath)) : new Uint8Array(0);
      const log = parseEventLog(bytes, eventsPath);
      for (const w of log.warnings) warn(w);
      if (log.torn !== null) {
        const keep = `${eventsPath}.torn-${now().toISOString().replace(/[:.]/g, '-')}`;
        await writeFileAtomic(keep, log.torn.bytes);
        await truncate(eventsPath, log.validBytes);
        warn(`cut the torn last record of ${eventsPath} (kept in ${keep}); everything before it stands`);
      }
      const state = foldEvents(log.events);
      fd = openSync(eventsPath, 'a');
      const run = new RunDir(abs, state, state.config !== null, warnings, lock, fd, log.lines, options);
      if (state.config === null) {
        // config.json was written but the process died before the first record: nothing was done, start afresh.
        await writeConfigFile(abs, config);
        run.append({ type: 'run-started', config, configHash: configHash(config), invocation });
        return run;
      }
      const storedConfig = state.config;
      const decision = checkResumeConfig(storedConfig, config, { force: options.forceConfig, runDir: abs });
      if (decision.kind === 'forced' && decision.changes.length > 0) {
        run.append({ type: 'config-changed', config, configHash: configHash(config), previousHash: configHash(storedConfig), changes: decision.changes });
        warn(`continuing ${abs} under a changed configuration (--force-config): ${decision.changes.map((c) => c.path).join(', ')}`);
      }
      run.append({ type: 'run-resumed', configHash: configHash(config), rounds: config.rounds, finishedCandidates: finishedCandidateCount(state), invocation });
      if (decision.kind === 'forced' || decision.roundsChanged !== null || stored.configHash !== configHash(config)) await writeConfigFile(abs, config);
      return run;
    } catch (e) {
      if (fd !== null) closeSync(fd);
      lock.release();
      throw e;
    }
  }

  /** Appends one record (one write; fdatasync as the file comment says) and folds it into `state`; returns the stamped record. */
  append(input: RunEventInput): RunEvent {
    if (this.fd === null) throw new RunDirError(`the run ${this.dir} is closed`);
    const event = stampEvent(input, this.lines + 1, (this.options.now ?? (() => new Date()))());
    const bytes = Buffer.from(eventLine(event), 'utf8');
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(this.fd, bytes, written, bytes.byteLength - written);
    const step = input.type === 'ttt-step' || input.type === 'policy-sft-step';
    const now = performance.now();
    if (!step || now - this.lastSync >= (this.options.stepSyncMs ?? 1000)) {
      fdatasyncSync(this.fd);
      this.lastSync = now;
    }
    this.lines++;
    applyEvent(this.state, event);
    this.progress?.update(this.state, input.type !== 'ttt-step' && input.type !== 'policy-sft-step');
    return event;
  }

  /** An absolute path inside the run directory from a relative one (as events record them). */
  path(relative: string): string {
    return join(this.dir, relative);
  }

  /**
   * The adapter folder of an unfinished candidate, emptied of anything an interrupted try left (and of temporary
   * siblings), its parent created; returns the relative path (record it in 'candidate-scored'). Refuses a finished
   * candidate: its adapter is final.
   */
  async prepareAdapterDir(round: number, task: string, candidate: number): Promise<string> {
    if (isCandidateFinished(this.state, round, task, candidate)) {
      throw new RunDirError(`round ${round} task ${task} candidate ${candidate} is finished; its adapter is not rewritten`);
    }
    const rel = adapterSubdir(round, task, candidate);
    await this.clearForWriting(rel);
    return rel;
  }

  /** The policy folder of a round's M-step, cleared like prepareAdapterDir; refuses once its checkpoint is recorded. */
  async preparePolicyDir(round: number): Promise<string> {
    if (this.state.rounds.get(round)?.checkpoint) throw new RunDirError(`round ${round}'s policy checkpoint is recorded; it is not rewritten`);
    const rel = policySubdir(round);
    await this.clearForWriting(rel);
    return rel;
  }

  private async clearForWriting(rel: string): Promise<void> {
    const abs = this.path(rel);
    await rm(abs, { recursive: true, force: true });
    await mkdir(dirname(abs), { recursive: true });
    await removeTempSiblings(abs); // the run's lock is ours: any temporary sibling is an interrupted try's
  }

  /** Appends 'round-finished' with the round's metrics and rewrites the report. */
  async finishRound(round: number): Promise<void> {
    const r = this.state.rounds.get(round);
    if (!r) throw new RunDirError(`round ${round} was never started`);
    this.append({ type: 'round-finished', round, metrics: roundMetrics(r) });
    await this.writeReport();
  }

  /** Rewrites report.html and self-edits.jsonl (atomically) from the current state. */
  async writeReport(): Promise<void> {
    await writeFileAtomic(this.path(RUN_FILES.report), renderReportHtml(this.state, this.options.report));
    await writeFileAtomic(
      this.path(RUN_FILES.selfEdits),
      selfEditRecords(this.state)
        .map((r) => `${JSON.stringify(r)}\n`)
        .join(''),
    );
  }

  /** The plain-text summary for the terminal. */
  summary(): string {
    return formatRunSummary(this.state);
  }

  /** One line on where a resumed run stands. */
  resumeSummary(): string {
    return resumeSummary(this.state);
  }

  /** Records the end of the run, writes the report, and closes. */
  async finish(): Promise<void> {
    this.append({ type: 'run-finished' });
    await this.writeReport();
    this.close();
  }

  /** Records a failure (the error's message and stack), writes the report, and closes. */
  async fail(error: unknown): Promise<void> {
    const e = error instanceof Error ? error : new Error(String(error));
    this.append({ type: 'run-failed', error: e.message, ...(e.stack ? { stack: e.stack } : {}) });
    await this.writeReport();
    this.close();
  }

  /** Closes the log and releases the lock (no record written); safe to call twice. */
  close(): void {
    if (this.fd === null) return;
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
    this.progress?.finish();
    this.lock.release();
  }
}

async function writeConfigFile(dir: string, config: RunConfig): Promise<void> {
  const file: StoredConfigFile = { format: 'seal-run', version: 1, configHash: configHash(config), config };
  await writeFileAtomic(join(dir, RUN_FILES.config), `${JSON.stringify(file, null, 2)}\n`);
}

async function readConfigFile(dir: string): Promise<StoredConfigFile> {
  const path = join(dir, RUN_FILES.config);
  let file: StoredConfigFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as StoredConfigFile;
  } catch (e) {
    throw new RunDirError(`${path} is not valid JSON (${(e as Error).message}): this directory does not hold a usable run; pass a new --run directory`);
  }
  if (file?.format !== 'seal-run' || typeof file.config !== 'object') throw new RunDirError(`${path} is not a SEAL run config: pass a new --run directory`);
  if (file.version > 1) throw new EventLogError(`${path} was written by a newer seal (config format v${file.version}): upgrade seal-webgpu to open this run`);
  return file;
}
