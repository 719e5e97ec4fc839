/**
 * The layout of a SEAL run directory (see run-dir.ts for what each file holds): the names of its files, the
 * adapter and policy folders, task ids as path segments, and the error for a directory that cannot be used.
 */

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
