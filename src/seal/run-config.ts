/**
 * The configuration of a SEAL run (domain-agnostic), its hash, and the rule for resuming a run directory.
 *
 * The config holds everything that decides results: domain and command, the model's content fingerprint, the task
 * ids, self-edits per task, rounds, the seed, and the domain's fully resolved settings (every hyperparameter and
 * seed). It is written to config.json and into the first event of the log.
 *
 * The config hash is SHA-256 of canonical JSON of the config minus three fields:
 *   - `rounds`: a run may be extended by more rounds (or stopped earlier) without invalidating finished work;
 *   - `model.source` and `tasks.source`: where the model and tasks were read from (path, hub id), not what they are
 *     (the fingerprint and the task ids say that), so a moved checkout or cache still resumes.
 *
 * Resuming requires the same hash. On a mismatch the error lists the differing fields and offers two ways out: a new
 * --run directory (the normal answer), or --force-config, which continues the run under the new configuration: the
 * change is recorded in the event log ('config-changed', with the differences), finished candidates are kept as
 * they are (scored under the old configuration) and only unfinished work uses the new one; the report shows the
 * change. Forcing never deletes anything.
 */
import { canonicalJson, isJsonObject, toJsonValue, type JsonValue } from './json.ts';
import type { FingerprintMethod, ModelSource } from './model-identity.ts';
import { sha256Hex } from './sha256.ts';

export interface RunConfig {
  /** The domain, e.g. "arc" or "knowledge". */
  domain: string;
  /** The command, e.g. "train", "eval", "baseline". */
  command: string;
  model: { fingerprint: string; method: FingerprintMethod; source?: ModelSource };
  tasks: { ids: string[]; source?: string };
  /** Self-edits sampled per task per round (K). */
  selfEditsPerTask: number;
  /** Rounds of the outer loop (N); not part of the hash. */
  rounds: number;
  /** The run's master seed. */
  seed: number;
  /** The domain's fully resolved settings, e.g. ArcSettings: plain JSON (checkRunConfig refuses anything else). */
  settings: unknown;
}

/** A field that differs between two configs. */
export interface ConfigChange {
  /** Dotted path, e.g. "settings.ttt.batchSize" or "tasks.ids". */
  path: string;
  from: JsonValue | undefined;
  to: JsonValue | undefined;
}

/** Resuming with a config of another hash, without force. */
export class RunConfigMismatchError extends Error {
  constructor(
    message: string,
    readonly changes: readonly ConfigChange[],
  ) {
    super(message);
    this.name = 'RunConfigMismatchError';
  }
}

/** Throws a TypeError naming the field unless `config` is a usable RunConfig; returns it as plain JSON. */
export function checkRunConfig(config: RunConfig): RunConfig {
  const fail = (what: string): never => {
    throw new TypeError(`run config: ${what}`);
  };
  if (!isJsonObject(config)) fail('expected an object');
  for (const key of ['domain', 'command'] as const) if (typeof config[key] !== 'string' || config[key] === '') fail(`${key} must be a non-empty string`);
  if (!isJsonObject(config.model) || typeof config.model.fingerprint !== 'string' || !config.model.fingerprint)
    fail('model.fingerprint must be a non-empty string');
  if (typeof config.model.method !== 'string') fail('model.method must be a fingerprint method');
  if (!isJsonObject(config.tasks) || !Array.isArray(config.tasks.ids) || config.tasks.ids.some((t) => typeof t !== 'string' || t === ''))
    fail('tasks.ids must be a list of non-empty strings');
  if (new Set(config.tasks.ids).size !== config.tasks.ids.length) fail('tasks.ids has duplicates');
  if (!Number.isSafeInteger(config.selfEditsPerTask) || config.selfEditsPerTask < 1)
    fail(`selfEditsPerTask must be an integer >= 1, got ${config.selfEditsPerTask}`);
  if (!Number.isSafeInteger(config.rounds) || config.rounds < 1) fail(`rounds must be an integer >= 1, got ${config.rounds}`);
  if (!Number.isSafeInteger(config.seed)) fail(`seed must be an integer, got ${config.seed}`);
  return toJsonValue(config) as unknown as RunConfig;
}

/** The part of a config the hash covers (see the file comment). */
export function hashedConfigView(config: RunConfig): JsonValue {
  const { rounds: _rounds, model, tasks, ...rest } = config;
  const { source: _modelSource, ...modelRest } = model;
  const { source: _taskSource, ...tasksRest } = tasks;
  return toJsonValue({ ...rest, model: modelRest, tasks: tasksRest });
}

/** "sha256:<hex>" of the hashed view's canonical JSON. */
export function configHash(config: RunConfig): string {
  return `sha256:${sha256Hex(canonicalJson(hashedConfigView(config)))}`;
}

/** The fields where two JSON values differ (objects by key; arrays of different lengths as one change). */
export function configDiff(a: unknown, b: unknown, path = ''): ConfigChange[] {
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null) && (a === undefined) === (b === undefined)) return [];
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => configDiff(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => configDiff(v, b[i], `${path}[${i}]`));
  }
  return [{ path: path || '(config)', from: a as JsonValue | undefined, to: b as JsonValue | undefined }];
}

/** One change as "path: from -> to", long values shortened. */
export function formatChange(c: ConfigChange): string {
  const show = (v: JsonValue | undefined) => {
    if (v === undefined) return '(absent)';
    const text = JSON.stringify(v);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  };
  return `${c.path}: ${show(c.from)} -> ${show(c.to)}`;
}

export type ResumeDecision =
  | { kind: 'same'; roundsChanged: { from: number; to: number } | null }
  | { kind: 'forced'; changes: ConfigChange[]; roundsChanged: { from: number; to: number } | null };

/**
 * Whether a run started with `stored` may continue with `requested`: the same hash (rounds may differ), or
 * `force`. Otherwise throws RunConfigMismatchError naming each differing field and the two ways out.
 */
export function checkResumeConfig(stored: RunConfig, requested: RunConfig, options: { force?: boolean; runDir?: string } = {}): ResumeDecision {
  const roundsChanged = stored.rounds !== requested.rounds ? { from: stored.rounds, to: requested.rounds } : null;
  if (configHash(stored) === configHash(requested)) return { kind: 'same', roundsChanged };
  const changes = configDiff(hashedConfigView(stored), hashedConfigView(requested));
  if (options.force) return { kind: 'forced', changes, roundsChanged };
  const where = options.runDir ? `the run directory ${options.runDir}` : 'this run directory';
  const shown = changes.slice(0, 12).map((c) => `  ${formatChange(c)}`);
  if (changes.length > shown.length) shown.push(`  ... and ${changes.length - shown.length} more`);
  throw new RunConfigMismatchError(
    `${where} holds a run with a different configuration (${configHash(stored).slice(0, 19)}, requested ${configHash(requested).slice(0, 19)}):\n` +
      `${shown.join('\n')}\n` +
      'Pick a new --run directory for this configuration, or pass --force-config to continue this run under the new one ' +
      '(finished candidates are kept as scored; the change is recorded in the event log and the report).',
    changes,
  );
}
