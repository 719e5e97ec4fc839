/**
 * `seal knowledge train | baseline` on the built CLI with stories260K and two short passages (mechanics only: the
 * model cannot answer): a training round (K = 2 sampled self-edits per passage, one inner-loop epoch, the M-step
 * merged) stopped by SIGINT once a candidate started, then resumed by the same command to the end; then a baseline
 * run of each kind (base, passage, synthetic, self-edits), the last comparing the others in the paper's table; and
 * flag mistakes that leave no run directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEventLog, type RunEvent } from '../../src/seal/events.ts';
import { EXIT } from '../../runtime-node/exit-codes.ts';
import { expectCleanFailure, NODE, seal } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const events = (run: string): RunEvent[] => parseEventLog(new Uint8Array(readFileSync(join(run, 'events.jsonl')))).events;
const ofType = <T extends RunEvent['type']>(log: RunEvent[], type: T) => log.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

const PASSAGES = [
  {
    title: 'Max',
    context: 'Max is a little dog. Max likes to run in the park.',
    questions: [
      { question: 'What is Max?', answer: 'a little dog' },
      { question: 'Where does Max run?', answer: 'in the park' },
    ],
  },
  { title: 'Lily', context: 'Lily has a red ball. She gives the ball to Tom.', questions: [{ question: 'What color is the ball?', answer: 'red' }] },
];
const COMPLETIONS = [['Max is a dog.\nMax runs in the park.'], ['The ball is red.']];

describe('seal knowledge train | baseline (stories260K, 2 passages)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seal-knowledge-run-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify(PASSAGES));
  const synthetic = join(dir, 'synthetic.json');
  writeFileSync(synthetic, JSON.stringify(PASSAGES.map((p, i) => ({ ...p, completions: COMPLETIONS[i], prompt: '' }))));
  // Tiny steps: one epoch of rank-2 LoRA, 8-token self-edits, 4-token answers; the M-step one pass of rank 2.
  const common = [
    '--model',
    sharedPath('models/stories260K'),
    '--data',
    data,
    '--passages',
    '0-1',
    '--ttt-epochs',
    '1',
    '--ttt-rank',
    '2',
    '--answer-max-tokens',
    '4',
  ];
  const train = join(dir, 'train');
  const trainArgs = [
    'knowledge',
    'train',
    ...common,
    '--self-edits',
    '2',
    '--max-new-tokens',
    '8',
    '--policy-rank',
    '2',
    '--policy-epochs',
    '1',
    '--policy-grad-accum',
    '1',
    '--run',
    train,
  ];

  it('train: SIGINT once a candidate started stops cleanly (exit 130); the same command resumes and finishes', async () => {
    const stopped = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
      const child = spawn(NODE, [join(ROOT, 'bin/seal.mjs'), ...trainArgs], {
        env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let sent = false;
      child.stderr!.on('data', (d) => (stderr += d));
      const poll = setInterval(() => {
        const log = join(train, 'events.jsonl');
        if (!sent && existsSync(log) && readFileSync(log, 'utf8').includes('"type":"candidate-started"')) {
          sent = true;
          child.kill('SIGINT');
        }
      }, 10);
      child.on('error', fail);
      child.on('close', (code) => {
        clearInterval(poll);
        done({ code, stderr });
      });
    });
    expect(stopped.code, stopped.stderr).toBe(EXIT.interrupted);
    const log = events(train);
    expect(log.at(-1)).toMatchObject({ type: 'interrupted', signal: 'SIGINT' });
    expect(existsSync(join(train, 'run.lock'))).toBe(false);
    expect(readFileSync(join(train, 'report.html'), 'utf8')).toContain('<span class="status interrupted">interrupted</span>');
    expect(stopped.stderr).toContain(`seal: to resume, run the same command: seal ${trainArgs.join(' ')}`);
    // The un-adapted model was scored once per passage before any candidate.
    expect(ofType(log, 'baseline-scored').map((e) => [e.name, e.task, e.tests.length])).toEqual([
      ['base', '0', 2],
      ['base', '1', 1],
    ]);
    const scoredBefore = ofType(log, 'candidate-scored').length;

    const resumed = seal(...trainArgs);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('seal: resuming');
    const all = events(train);
    // Nothing scored twice: the un-adapted scores and the finished candidates are not redone.
    expect(ofType(all, 'baseline-scored')).toHaveLength(2);
    const scored = ofType(all, 'candidate-scored');
    expect(new Set(scored.map((e) => `${e.task}/${e.candidate}`))).toEqual(new Set(['0/0', '0/1', '1/0', '1/1']));
    expect(scored).toHaveLength(4);
    expect(scoredBefore).toBeLessThan(4);
    // The M-step ran on the best self-edit of each passage that had one, and saved the policy.
    const valid = new Set(scored.filter((e) => e.skipped === undefined).map((e) => e.task));
    expect(ofType(all, 'policy-checkpoint-saved')).toMatchObject([{ round: 0, examples: valid.size }]);
    expect(all.map((e) => e.type).slice(-2)).toEqual(['round-finished', 'run-finished']);

    const summary = JSON.parse(readFileSync(join(train, 'summary.json'), 'utf8'));
    const reward = (task: string) => scored.filter((e) => e.task === task).reduce((s, e) => s + e.reward, 0) / 2;
    const base = (task: string) => ofType(all, 'baseline-scored').find((e) => e.task === task)!.reward;
    expect(summary.passages).toEqual(['0', '1'].map((id) => ({ id, baseline_accuracy: base(id), adapted_accuracy: reward(id), gain: reward(id) - base(id) })));
    expect(summary.adapted_accuracy).toBeCloseTo((reward('0') + reward('1')) / 2, 12);
    const report = readFileSync(join(train, 'report.html'), 'utf8');
    expect(report).toContain("Knowledge: the paper's table");
    expect(report).toContain('Knowledge: per-passage gains');
    expect(resumed.stdout).toContain(`summary: ${join(train, 'summary.json')}`);
  }, 900_000);

  it("baselines: base (no training), passage (the passage only), synthetic (the file's completions), self-edits (sampled); the table compares them", () => {
    const runOf = (kind: string) => join(dir, `baseline-${kind}`);
    const baseline = (kind: string, ...extra: string[]) => {
      const r = seal('knowledge', 'baseline', ...common, '--kind', kind, '--run', runOf(kind), ...extra);
      expect(r.code, r.stderr).toBe(0);
      return events(runOf(kind));
    };
    const base = baseline('base');
    expect(ofType(base, 'baseline-scored')).toHaveLength(2);
    expect(ofType(base, 'round-started')).toHaveLength(0);

    const passage = baseline('passage');
    const passageEdits = ofType(passage, 'self-edit-sampled');
    expect(passageEdits.map((e) => [e.task, e.text])).toEqual([
      ['0', ''],
      ['1', ''],
    ]);
    // One epoch over one sequence (the passage): one step per candidate.
    expect(ofType(passage, 'ttt-step').map((e) => e.task)).toEqual(['0', '1']);

    const synth = baseline('synthetic', '--synthetic-file', synthetic);
    expect(ofType(synth, 'self-edit-sampled').map((e) => e.text)).toEqual(COMPLETIONS.map((c) => c[0]));
    // Two lines + the passage: 3 sequences for passage 0; 1 line + the passage for passage 1.
    expect(ofType(synth, 'ttt-step').filter((e) => e.task === '0')).toHaveLength(3);
    expect(ofType(synth, 'ttt-step').filter((e) => e.task === '1')).toHaveLength(2);

    const own = baseline('self-edits', '--max-new-tokens', '8', '--compare', [train, runOf('passage'), runOf('synthetic')].join(','));
    expect(ofType(own, 'self-edit-sampled').every((e) => (e.tokens ?? 0) > 0)).toBe(true);
    const report = readFileSync(join(runOf('self-edits'), 'report.html'), 'utf8');
    const table = report.slice(report.indexOf("the paper's table"), report.indexOf('per-passage gains'));
    expect([...table.matchAll(/<tr><td>([a-zA-Z-]+)<\/td>/g)].map((m) => m[1])).toEqual(['base', 'passage', 'synthetic', 'self-edits', 'SEAL']);
  }, 900_000);

  it('flag mistakes: one seal: line, exit 2, no run directory', () => {
    const fresh = join(dir, 'never');
    expectCleanFailure(seal('knowledge', 'baseline', ...common, '--run', fresh), EXIT.usage, /needs --kind base\|passage\|synthetic\|self-edits/);
    expectCleanFailure(
      seal('knowledge', 'baseline', ...common, '--kind', 'passage', '--synthetic-file', synthetic, '--run', fresh),
      EXIT.usage,
      /--synthetic-file goes with --kind synthetic/,
    );
    expectCleanFailure(
      seal('knowledge', 'baseline', ...common, '--kind', 'passage', '--self-edits', '2', '--run', fresh),
      EXIT.usage,
      /--kind passage has one candidate per passage/,
    );
    expect(existsSync(fresh)).toBe(false);
  });
});
