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
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import type { ModelFiles } from '../src/model/load-model.ts';
import { parseHubId } from '../src/model/hub-protocol.ts';
import { EventLogError, eventLine, parseEventLog, stampEvent, type Invocation, type RunEvent, type RunEventInput } from '../src/seal/events.ts';
import { fingerprintModel, type FingerprintMethod, type ModelIdentity, type ModelSource } from '../src/seal/model-identity.ts';
import { RunProgressDisplay, type ProgressStream } from '../src/seal/progress.ts';
import { renderReportHtml, type ReportOptions } from '../src/seal/report.ts';
import { checkResumeConfig, checkRunConfig, configHash, type RunConfig } from '../src/seal/run-config.ts';
import {
  applyEvent,
  finishedCandidateCount,
  foldEvents,
  isCandidateFinished,
  resumeSummary,
  roundMetrics,
  selfEditRecords,
  type RunState,
} from '../src/seal/run-state.ts';
import type { Sha256Factory } from '../src/seal/sha256.ts';
import { formatRunSummary } from '../src/seal/summary.ts';
import { fileSource } from './file-source.ts';
import { LockFile, mtimeMs, readHeldLock, removeLockIfUnchanged } from './lock-file.ts';

export const RUN_FILES = {
  config: 'config.json',
  events: 'events.jsonl',
  lock: 'run.lock',
  report: 'report.html',
  selfEdits: 'self-edits.jsonl',
} as const;

/** The run directory cannot be used; the message names it and what to do. */
export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunDirError';
  }
}

/** Another live process holds the directory's lock. */
export class RunLockedError extends RunDirError {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

/**
 * A task id as one path segment: letters, digits, '.', '_' and '-' stay; every other character (and a leading '.')
 * becomes '~' plus its UTF-8 bytes in hex, so distinct ids give distinct segments and nothing escapes the folder.
 */
export function taskPathSegment(task: string): string {
  if (task === '') throw new RangeError('a task id must not be empty');
  let out = '';
  for (const ch of task) {
    const safe = /[A-Za-z0-9_-]/.test(ch) || (ch === '.' && out !== '');
    out += safe ? ch : [...new TextEncoder().encode(ch)].map((b) => `~${b.toString(16).padStart(2, '0')}`).join('');
  }
  return out;
}

/** The adapter folder of a candidate, relative to the run directory. */
export function adapterSubdir(round: number, task: string, candidate: number): string {
  return `adapters/round-${round}/${taskPathSegment(task)}/candidate-${candidate}`;
}

/** The policy checkpoint folder of a round, relative to the run directory. */
export function policySubdir(round: number): string {
  return `policy/round-${round}`;
}

/** node:crypto's SHA-256 (same digests as the pure one, much faster over whole checkpoints). */
export const nodeSha256: Sha256Factory = () => {
  const h = createHash('sha256');
  return { update: (bytes) => void h.update(bytes), digestHex: () => h.digest('hex') };
};

/** A local model directory as ModelFiles (text and byte ranges; null for files it does not have). */
function dirFiles(dir: string): ModelFiles {
  return {
    where: dir,
    text: async (name) => (existsSync(join(dir, name)) ? readFile(join(dir, name), 'utf8') : null),
    source: async (name) => (existsSync(join(dir, name)) ? fileSource(join(dir, name)) : null),
  };
}

/**
 * The hub origin of a model given as `spec` and resolved to `dir`: when spec is a hub id and dir is its cache
 * snapshot (…/snapshots/<commit>), {repo, revision, commit}; otherwise undefined.
 */
export function hubSourceOf(spec: string, dir: string): ModelSource['hub'] | undefined {
  if (existsSync(resolve(spec))) return undefined;
  let id;
  try {
    id = parseHubId(spec);
  } catch {
    return undefined;
  }
  const commit = resolve(dir).split(sep).pop() ?? '';
  return /^[0-9a-f]{40}$/.test(commit) ? { repo: id.repo, revision: id.revision, commit } : undefined;
}

/** The identity of a local model directory (see src/seal/model-identity.ts); `spec` is what the user passed. */
export async function fingerprintModelDir(dir: string, options: { method?: FingerprintMethod; spec?: string } = {}): Promise<ModelIdentity> {
  const abs = resolve(dir);
  const hub = options.spec !== undefined ? hubSourceOf(options.spec, abs) : undefined;
  return fingerprintModel(dirFiles(abs), { method: options.method, sha256: nodeSha256, source: { path: abs, ...(hub ? { hub } : {}) } });
}

/** Writes a file so that readers see the old or the new content, never a mix: temp file, fsync, rename, fsync dir. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${path.split(sep).pop()}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  syncDir(dirname(path));
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

/**
 * run.lock: created with O_EXCL so one process at a time runs in the directory. The holder refreshes the file's
 * mtime (heartbeat) and removes it when done, or at exit. A lock left by a dead process is broken with a warning: at
 * once when its pid no longer runs on this host, after `staleMs` without a heartbeat when it was taken on another
 * host (a shared file system). A live holder is an error naming it.
 */
export class RunLock {
  private readonly onExit = () => this.release();

  private constructor(private readonly file: LockFile) {
    process.once('exit', this.onExit);
  }

  static async acquire(path: string, options: { staleMs?: number; warn: (message: string) => void }): Promise<RunLock> {
    const staleMs = options.staleMs ?? 10 * 60_000;
    for (let attempt = 0; ; attempt++) {
      const file = await LockFile.tryCreate(path, Math.max(1000, Math.min(60_000, staleMs / 4)));
      if (file) return new RunLock(file);
      if (attempt >= 3) throw new RunLockedError(`could not take the lock ${path}: other processes keep taking it; choose another --run directory`);
      await RunLock.breakIfStale(path, staleMs, options.warn);
    }
  }

  /** Throws RunLockedError for a live holder; removes a stale lock (with a warning). */
  private static async breakIfStale(path: string, staleMs: number, warn: (message: string) => void): Promise<void> {
    const held = await readHeldLock(path);
    if (!held) return; // released meanwhile
    const quietMs = Date.now() - (await mtimeMs(path));
    const who = held.holder ? `${held.who} (since ${held.holder.started})` : held.who;
    const sameHost = held.holder !== null && held.holder.host === hostname();
    const dead = sameHost ? held.deadOnThisHost : quietMs > staleMs;
    if (!dead) {
      throw new RunLockedError(
        `the run directory ${dirname(path)} is in use by ${who}: two processes cannot run in one directory. ` +
          `Wait for it to finish, or choose another --run directory${sameHost ? '' : `; if that process is gone, delete ${path}`}`,
      );
    }
    if (await removeLockIfUnchanged(path, held.text)) {
      warn(`removed the stale lock ${path}: ${who} ${sameHost ? 'no longer runs' : `showed no heartbeat for ${Math.round(quietMs / 1000)} s`}`);
    }
  }

  release(): void {
    process.removeListener('exit', this.onExit);
    this.file.release();
  }
}

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
        await writeFile(keep, log.torn.bytes);
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
    const parent = dirname(abs);
    const name = abs.split(sep).pop()!;
    await rm(abs, { recursive: true, force: true });
    await mkdir(parent, { recursive: true });
    for (const e of await readdir(parent)) if (e.startsWith(`.${name}.tmp-`)) await rm(join(parent, e), { recursive: true, force: true });
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
