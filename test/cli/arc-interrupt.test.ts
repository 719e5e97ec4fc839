/**
 * Ctrl-C during `seal arc train` (the built CLI on stories260K and examples/arc-tiny): SIGINT once the first candidate
 * has started training; the process records an `interrupted` event, releases the run's lock, rewrites the report,
 * prints the command that resumes, and exits 130; the same command then resumes (counting as interrupted only the
 * candidate that had started) and finishes. Also: every file a flag names is checked before the run directory is
 * created or touched.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEventLog, type RunEvent } from '../../src/seal/events.ts';
import { EXIT } from '../../runtime-node/exit-codes.ts';
import { expectCleanFailure, NODE, seal } from '../harness/cli.ts';
import { snapshot } from '../harness/snapshot.ts';
import { sharedPath } from '../harness/shared.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TASKS = join(ROOT, 'examples/arc-tiny/tiny_challenges.json');
const events = (run: string): RunEvent[] => parseEventLog(new Uint8Array(readFileSync(join(run, 'events.jsonl')))).events;

describe('seal arc train: Ctrl-C and validation before the run directory', () => {
  const model = sharedPath('models/stories260K');
  const dir = mkdtempSync(join(tmpdir(), 'seal-arc-interrupt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = join(dir, 'run');
  // One task x 2 self-edits trained together, up to 5 TTT steps each: long enough to be interrupted mid-training.
  const common = [
    '--model',
    model,
    '--tasks',
    `${TASKS}:tiny0001`,
    '--self-edits',
    '2',
    '--ttt-max-steps',
    '5',
    '--ttt-warmup',
    '0',
    '--ttt-rank',
    '2',
    '--ttt-targets',
    'q,v',
    '--answer-max-tokens',
    '4',
  ];
  const args = ['arc', 'train', ...common, '--policy-rank', '2', '--policy-max-steps', '1', '--winner-threshold=-1', '--run', run];

  it('SIGINT after the first candidate started: interrupted event, lock released, resume line, exit 130; the same command finishes', async () => {
    const stopped = await new Promise<{ code: number | null; signal: string | null; stderr: string }>((done, fail) => {
      const child = spawn(NODE, [join(ROOT, 'bin/seal.mjs'), ...args], {
        env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let sent = false;
      child.stderr!.on('data', (d) => (stderr += d));
      const poll = setInterval(() => {
        const log = join(run, 'events.jsonl');
        if (!sent && existsSync(log) && readFileSync(log, 'utf8').includes('"type":"candidate-started"')) {
          sent = true;
          child.kill('SIGINT');
        }
      }, 10);
      child.on('error', fail);
      child.on('close', (code, signal) => {
        clearInterval(poll);
        done({ code, signal, stderr });
      });
    });
    expect(stopped.code, stopped.stderr).toBe(EXIT.interrupted);
    expect(stopped.stderr).not.toMatch(/^\s+at /m);
    const log = events(run);
    const last = log[log.length - 1]!;
    expect(last).toMatchObject({ type: 'interrupted', signal: 'SIGINT' });
    expect(log.some((e) => e.type === 'run-failed' || e.type === 'run-finished')).toBe(false);
    expect(existsSync(join(run, 'run.lock'))).toBe(false);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('<span class="status interrupted">interrupted</span>');
    // The candidates that started and were not scored: the ones the resume line calls interrupted.
    const started = new Set(
      log.filter((e) => e.type === 'candidate-started').map((e) => `${(e as { task: string }).task}/${(e as { candidate: number }).candidate}`),
    );
    const scored = new Set(
      log.filter((e) => e.type === 'candidate-scored').map((e) => `${(e as { task: string }).task}/${(e as { candidate: number }).candidate}`),
    );
    const unfinished = [...started].filter((s) => !scored.has(s)).length;
    expect(unfinished).toBeGreaterThanOrEqual(1);
    const interruptedPart = ` \\(${unfinished} interrupted, redone from the start\\)`;
    expect(stopped.stderr).toMatch(
      new RegExp(`seal: interrupted by SIGINT: round 0: ${scored.size} of 2 candidates finished, ${2 - scored.size} to do${interruptedPart}; recorded in `),
    );
    expect(stopped.stderr).toContain(`seal: to resume, run the same command: seal ${args.join(' ')}`);

    // The lock is free: the same command resumes at once and finishes.
    const resumed = seal(...args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resuming round 0: ${scored.size} of 2 candidates finished, ${2 - scored.size} to do${interruptedPart}`));
    const all = events(run);
    expect(all.map((e) => e.type).slice(-2)).toEqual(['round-finished', 'run-finished']);
    expect(
      new Set(all.filter((e) => e.type === 'candidate-scored').map((e) => `${(e as { task: string }).task}/${(e as { candidate: number }).candidate}`)).size,
    ).toBe(2);
    expect(existsSync(join(run, 'run.lock'))).toBe(false);
  }, 300_000);

  it('a missing --policy, --chat-template or instruction file fails with one usage line and leaves no run directory', () => {
    const fresh = join(dir, 'never-created');
    const evalWith = (...extra: string[]) => seal('arc', 'eval', ...common, '--run', fresh, ...extra);
    expectCleanFailure(evalWith('--policy', join(dir, 'no-such-policy')), EXIT.usage, /--policy: .*no-such-policy is not a PEFT adapter folder/);
    expectCleanFailure(evalWith('--chat-template', join(dir, 'none.jinja')), EXIT.usage, /--chat-template: cannot read .*none\.jinja/);
    expectCleanFailure(evalWith('--self-edit-instruction', join(dir, 'none.txt')), EXIT.usage, /--self-edit-instruction: cannot read .*none\.txt/);
    expect(existsSync(fresh)).toBe(false);
  });

  it('TTT capped under its warmup is warned with the numbers before the run starts', () => {
    // A non-empty folder that holds no run: the command stops at the run directory, after the settings are checked.
    const notARun = join(dir, 'not-a-run');
    mkdirSync(notARun, { recursive: true });
    writeFileSync(join(notARun, 'something.txt'), 'x');
    const r = seal('arc', 'eval', ...common, '--ttt-warmup', '11', '--run', notARun);
    expect(r.code, r.stderr).toBe(EXIT.error);
    expect(r.stderr).toMatch(/seal: .*not-a-run is not empty and holds no SEAL run/);
    // Steps k = 0..4 of 5 run at k/11 of the self-edit's rate: the last at 4/11 = 0.364.
    expect(r.stderr).toContain(
      "seal: warning: TTT of 5 steps (--ttt-max-steps) after 11 warmup steps (--ttt-warmup), in units of each self-edit's learning rate: " +
        'warmup (11 steps) >= planned steps (5): the learning rate never reaches its peak 1e+0 (it ends at 3.64e-1)',
    );
  });

  it('an existing run directory is byte-identical after a command that fails on a flag', () => {
    mkdirSync(run, { recursive: true });
    const before = snapshot(run);
    expect(before.size).toBeGreaterThan(0);
    const bad = seal(...args, '--chat-template', join(dir, 'typo.jinja'));
    expectCleanFailure(bad, EXIT.usage, /--chat-template: cannot read .*typo\.jinja/);
    expect(snapshot(run)).toEqual(before);
  });
});
