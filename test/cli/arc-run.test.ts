/**
 * `seal arc train` end to end on stories260K (the built CLI, child processes): two tiny ARC tasks (2x2 grids, so
 * prompts fit the model's 512-token context), K = 2 self-edits each, one TTT step per candidate, scoring, and the
 * policy SFT of the round. The run is killed (SIGKILL) as soon as its first candidate is scored, then resumed with the
 * same command: it finishes without redoing any scored candidate, reuses the recorded self-edits, retrains the
 * unscored candidates to the same losses, and writes the report and the policy adapter. Bad invocations fail with one
 * clear line before any GPU work. Every kernel compiles in the child processes only.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapterDir } from '../../runtime-node/adapter-files.ts';
import { pidAlive, readHeldLock } from '../../runtime-node/lock-file.ts';
import { parseSelfEdit } from '../../src/domains/arc/index.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { parseEventLog, type RunEvent } from '../../src/seal/events.ts';
import { NODE, seal } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENV = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

/** Two tasks of 2x2 grids: mirror left-right, and flip upside down. */
const CHALLENGES = {
  aa000001: {
    train: [
      {
        input: [
          [1, 2],
          [3, 4],
        ],
        output: [
          [2, 1],
          [4, 3],
        ],
      },
      {
        input: [
          [5, 0],
          [0, 6],
        ],
        output: [
          [0, 5],
          [6, 0],
        ],
      },
    ],
    test: [
      {
        input: [
          [7, 8],
          [9, 1],
        ],
      },
    ],
  },
  bb000002: {
    train: [
      {
        input: [
          [1, 1],
          [0, 0],
        ],
        output: [
          [0, 0],
          [1, 1],
        ],
      },
      {
        input: [
          [2, 0],
          [2, 0],
        ],
        output: [
          [2, 0],
          [2, 0],
        ],
      },
    ],
    test: [
      {
        input: [
          [3, 3],
          [0, 3],
        ],
      },
    ],
  },
};
const SOLUTIONS = {
  aa000001: [
    [
      [8, 7],
      [1, 9],
    ],
  ],
  bb000002: [
    [
      [0, 3],
      [3, 3],
    ],
  ],
};

const events = (run: string): RunEvent[] => parseEventLog(new Uint8Array(readFileSync(join(run, 'events.jsonl')))).events;
const slot = (e: { task: string; candidate: number }) => `${e.task}/${e.candidate}`;

describe('seal arc train (stories260K, tiny tasks)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seal-arc-run-'));
  const tasks = join(dir, 'tiny_challenges.json');
  const longInstruction = join(dir, 'instruction.txt');
  let model: string;
  let args: string[];
  const withSeed = (seed: string) => args.map((a, i) => (args[i - 1] === '--seed' ? seed : a));
  beforeAll(() => {
    model = sharedPath('models/stories260K');
    writeFileSync(tasks, JSON.stringify(CHALLENGES));
    writeFileSync(join(dir, 'tiny_solutions.json'), JSON.stringify(SOLUTIONS));
    writeFileSync(longInstruction, 'Think about the puzzle above very carefully. '.repeat(20));
    // No --self-edit-instruction or --max-new-tokens: the run fits them to stories260K (the compact instruction, a
    // budget for its ~230-token self-edits), with a note for each.
    args = [
      '--model',
      model,
      '--tasks',
      tasks,
      '--self-edits',
      '2',
      '--seed',
      '1',
      '--ttt-max-epochs',
      '2',
      '--ttt-max-steps',
      '1',
      '--ttt-max-examples',
      '4',
      '--ttt-batch-size',
      '1',
      '--ttt-warmup',
      '0',
      '--ttt-rank',
      '2',
      '--ttt-alpha',
      '4',
      '--ttt-targets',
      'q,v',
      '--answer-max-tokens',
      '4',
      '--policy-rank',
      '2',
      '--policy-max-steps',
      '1',
      '--policy-batch-size',
      '2',
      '--winner-threshold=-1',
    ];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a round killed after its first scored candidate resumes, redoes nothing scored, and finishes with its report and policy', async () => {
    const run = join(dir, 'run');
    const argv = [join(ROOT, 'bin/seal.mjs'), 'arc', 'train', ...args, '--run', run];
    // The first process: SIGKILL as soon as a candidate-scored record is in the log.
    const killed = await new Promise<{ code: number | null; signal: string | null; stderr: string }>((done, fail) => {
      const child = spawn(NODE, argv, { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const poll = setInterval(() => {
        const log = join(run, 'events.jsonl');
        if (existsSync(log) && readFileSync(log, 'utf8').includes('"type":"candidate-scored"')) child.kill('SIGKILL');
      }, 25);
      child.on('error', fail);
      child.on('close', (code, signal) => {
        clearInterval(poll);
        done({ code, signal, stderr });
      });
    });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // bin/seal.mjs runs the command in a child process that kills itself once its parent is gone: wait for the
    // lock's holder to be dead, as a user rerunning the command after a crash would find it.
    const held = await readHeldLock(join(run, 'run.lock'));
    for (let i = 0; held?.holder && pidAlive(held.holder.pid) && i < 200; i++) await new Promise((r) => setTimeout(r, 50));
    if (held?.holder) expect(pidAlive(held.holder.pid)).toBe(false);
    expect(killed.stderr).toMatch(
      /seal: note: a self-edit takes about \d+ tokens with this tokenizer: the self-edit budget is raised from 128 to \d+ new tokens/,
    );
    expect(killed.stderr).toMatch(
      /seal: note: the self-edit prompt of task aa000001 is \d+ tokens with the full instruction, too long .* using the compact instruction/,
    );
    const before = events(run);
    const scoredBefore = new Set(before.filter((e) => e.type === 'candidate-scored').map((e) => slot(e as never)));
    expect(scoredBefore.size).toBeGreaterThanOrEqual(1);
    expect(before.some((e) => e.type === 'round-finished' || e.type === 'run-finished')).toBe(false);

    // The same command resumes and finishes.
    const r = seal('arc', 'train', ...args, '--run', run);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming .*: resuming round 0: \d of 4 candidates finished/);
    expect(r.stdout).toMatch(/SEAL arc train: finished;.* 2 tasks x 2 self-edits, 1 round\(s\), seed 1/);
    expect(r.stdout).toMatch(/round 0 +base model +4\/4/);
    const all = events(run);
    const resumedAt = all.findIndex((e) => e.type === 'run-resumed');
    expect(resumedAt).toBe(before.length);
    const after = all.slice(resumedAt);

    // Self-edits: every slot has one valid sample (constrained decoding), drawn only by the first process.
    const sampled = all.filter((e): e is RunEvent & { type: 'self-edit-sampled' } => e.type === 'self-edit-sampled');
    expect(new Set(sampled.map(slot))).toEqual(new Set(['aa000001/0', 'aa000001/1', 'bb000002/0', 'bb000002/1']));
    for (const s of sampled) {
      expect(s.invalid, s.text).toBeUndefined();
      expect(parseSelfEdit(s.text).ok).toBe(true);
    }
    expect(after.some((e) => e.type === 'self-edit-sampled')).toBe(false);

    // Nothing scored before the kill is started, trained or scored again; every slot is scored exactly once.
    for (const e of after) {
      if (e.type === 'candidate-started' || e.type === 'ttt-step' || e.type === 'candidate-scored')
        expect(scoredBefore.has(slot(e)), `${e.type} of ${slot(e)}`).toBe(false);
    }
    const scored = all.filter((e): e is RunEvent & { type: 'candidate-scored' } => e.type === 'candidate-scored');
    expect(scored.map(slot).sort()).toEqual(['aa000001/0', 'aa000001/1', 'bb000002/0', 'bb000002/1']);
    // TTT ran (one step each, finite loss) and scoring ran (7 augmented queries per test input, voted).
    for (const s of scored) {
      expect(s.skipped).toBeUndefined();
      expect(s.tests).toHaveLength(1);
      expect(s.tests[0]).toMatchObject({ id: `${s.task}-0`, correct: false, prediction: { queries: 7 } });
      const lastStart = all.findLastIndex((e) => e.type === 'candidate-started' && slot(e) === slot(s));
      const steps = all.slice(lastStart).filter((e) => e.type === 'ttt-step' && slot(e) === slot(s));
      expect(steps.length, slot(s)).toBe(1);
      expect(Number.isFinite((steps[0] as { loss: number }).loss)).toBe(true);
    }
    // A candidate trained before the kill but not scored is retrained (alone now) to the same loss (to f32 rounding).
    for (const key of new Set(before.filter((e) => e.type === 'ttt-step').map((e) => slot(e as never)))) {
      if (scoredBefore.has(key)) continue;
      const first = before.find((e) => e.type === 'ttt-step' && slot(e) === key) as { loss: number };
      const again = after.find((e) => e.type === 'ttt-step' && slot(e) === key) as { loss: number };
      expect(Math.abs(again.loss - first.loss), key).toBeLessThanOrEqual(1e-5 * Math.abs(first.loss));
    }

    // The M-step: every valid self-edit wins (threshold -1), one SFT step, the policy saved as a PEFT adapter.
    expect(after.find((e) => e.type === 'policy-sft-started')).toMatchObject({ round: 0, examples: 4, plannedSteps: 1 });
    expect(after.filter((e) => e.type === 'policy-sft-step')).toHaveLength(1);
    expect(after.find((e) => e.type === 'policy-checkpoint-saved')).toMatchObject({ round: 0, path: 'policy/round-0', examples: 4 });
    const config = parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')));
    const policy = await loadAdapterDir(join(run, 'policy/round-0'), config);
    expect(policy.config).toMatchObject({ rank: 2, alpha: 16, targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    expect(policy.modules.some((m) => m.b.some((x) => x !== 0))).toBe(true);
    expect(all.map((e) => e.type).slice(-2)).toEqual(['round-finished', 'run-finished']);

    const report = readFileSync(join(run, 'report.html'), 'utf8');
    expect(report).toContain('SEAL arc train');
    expect(report).toContain('aa000001');
    expect(readFileSync(join(run, 'self-edits.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(existsSync(join(run, 'run.lock'))).toBe(false);

    // The finished run directory refuses another configuration, naming the fields and the ways out.
    const other = seal('arc', 'train', ...withSeed('2'), '--run', run);
    expect(other.code, other.stderr).toBe(1);
    expect(other.stderr).toMatch(/seal: .* different configuration[\s\S]*seed: 1 -> 2[\s\S]*--force-config/);
  }, 300_000); // ~20 s with lavapipe's shader cache warm, ~50 s cold; two processes compile every kernel on a cold cache

  it('bad invocations fail with one clear line before any GPU work', () => {
    const bad = (argv: string[], code: number, message: RegExp) => {
      const r = seal('arc', ...argv);
      expect(r.code, r.stderr).toBe(code);
      // Notes and warnings are 'seal: note:' / 'seal: warning:' lines; the error is the one other 'seal:' line.
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('seal: ') && !/^seal: (note|warning): /.test(l));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    };
    const run = join(dir, 'bad-run');
    bad(['train', '--model', model, '--run', run], 2, /--tasks is required/);
    bad(['train', ...args, '--run', run, '--rounds', '0'], 2, /--rounds must be an integer >= 1/);
    bad(['train', ...args, '--run', run, '--precision', 'half'], 2, /--precision must be one of f32, mixed, got 'half'/);
    bad(['baseline', ...args, '--run', run], 2, /needs --baseline in-context\|base-self-edits\|oracle/);
    bad(['eval', ...args.map((a) => (a === tasks ? `${tasks}:aa000001,zz999999` : a)), '--run', run], 1, /has no task "zz999999"/);
    bad(['train', ...args.map((a) => (a === tasks ? join(dir, 'nothing_challenges.json') : a)), '--run', run], 2, /challenges file .* does not exist/);
    // An instruction the user chose is kept: one that cannot fit stories260K's 512-token context is an error.
    bad(
      ['train', ...args, '--self-edit-instruction', longInstruction, '--run', run],
      1,
      /self-edit prompt of task aa000001 is \d+ tokens: with \d+ new tokens it does not fit the model's 512-token context; use smaller tasks, a shorter --self-edit-instruction FILE/,
    );
    expect(existsSync(run)).toBe(false);
  });
});
