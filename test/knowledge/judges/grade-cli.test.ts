/**
 * `seal knowledge grade` as a user runs it (bin/seal.mjs): the JSON it prints for each kind of judge (openai:
 * against a local server through OPENAI_BASE_URL, model: on stories260K), the verdict cache file, --help, and the
 * one-line errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCleanFailure, NODE, type SealResult, seal, sealWithEnv } from '../../harness/cli.ts';
import { sharedPath } from '../../harness/shared.ts';
import { startGraderServer } from './grader-server.ts';

const BIN = fileURLToPath(new URL('../../../bin/seal.mjs', import.meta.url));
const GRADE = ['knowledge', 'grade'];
const CASE = ['--question', 'Which team won Super Bowl 50?', '--gold', 'Denver Broncos', '--prediction', 'The Denver Broncos won.'];

/** Runs the CLI without blocking this process (the grader server answers from it). */
function sealAsync(env: Record<string, string>, ...args: string[]): Promise<SealResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'seal-grade-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('seal knowledge grade', () => {
  it('squad: one JSON object with correct, em and f1', () => {
    // pred [broncos], gold [denver, broncos]: P 1, R 1/2, F1 2/3
    const r = seal(...GRADE, '--judge', 'squad', '--question', 'q', '--gold', 'Denver Broncos', '--prediction', 'the Broncos');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify({ judge: 'squad', correct: true, em: 0, f1: 2 / 3 })}\n`);
    // Several gold answers: the best counts; squad:em needs an exact match.
    const two = seal(...GRADE, '--judge', 'squad:em', '--question', 'q', '--gold', 'Denver Broncos', '--gold', 'Broncos', '--prediction', 'the Broncos');
    expect(JSON.parse(two.stdout)).toEqual({ judge: 'squad:em', correct: true, em: 1, f1: 1 });
  });

  it('openai: asks the endpoint of OPENAI_BASE_URL; with --cache, a second run asks nothing', async () => {
    const server = await startGraderServer();
    try {
      const env = { OPENAI_API_KEY: 'sk-local', OPENAI_BASE_URL: server.url };
      const cache = join(tmp, 'verdicts.json');
      const first = await sealAsync(env, ...GRADE, '--judge', 'openai:gpt-4.1', ...CASE, '--cache', cache);
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toEqual({ judge: 'openai:gpt-4.1', correct: true, reply: 'yes' });
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-local');
      const second = await sealAsync(env, ...GRADE, '--judge', 'openai:gpt-4.1', ...CASE, '--cache', cache);
      expect(JSON.parse(second.stdout)).toEqual({ judge: 'openai:gpt-4.1', correct: true, reply: 'yes', cached: true });
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('openai: a retried request shows as a progress line, not as an error', async () => {
    const server = await startGraderServer({ script: (n) => (n === 0 ? { status: 503 } : undefined) });
    try {
      const r = await sealAsync({ OPENAI_API_KEY: 'sk-local', OPENAI_BASE_URL: server.url }, ...GRADE, '--judge', 'openai:gpt-4.1', ...CASE);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ correct: true, reply: 'yes' });
      expect(r.stderr).toMatch(/^openai:gpt-4\.1: HTTP 503; retry 1 of 6 in \d\.\d s$/m);
      expect(r.stderr).not.toMatch(/^seal:/m);
    } finally {
      await server.close();
    }
  });

  it('openai: without OPENAI_API_KEY, one line saying to set it', () => {
    const r = sealWithEnv({ OPENAI_API_KEY: '' }, ...GRADE, '--judge', 'openai:gpt-4.1', ...CASE);
    expectCleanFailure(r, 1, /^seal: openai:gpt-4\.1: OPENAI_API_KEY is not set: export your API key/);
    expect(r.stdout).toBe('');
  });

  it('model: grades on the GPU with a local model', () => {
    const r = seal(...GRADE, '--judge', `model:${sharedPath('models/stories260K')}`, ...CASE, '--max-new-tokens', '4');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { judge: string; correct: boolean; reply: string };
    expect(out.judge).toBe(`model:${sharedPath('models/stories260K')}`);
    expect(Object.keys(out)).toEqual(['judge', 'correct', 'reply']);
    expect(typeof out.reply).toBe('string');
  });

  it('--help prints the usage with every judge form', () => {
    const r = seal(...GRADE, '--help');
    expect(r.code).toBe(0);
    for (const form of ['squad:em', 'squad:f1=T', 'model:<dir|hub-id>', 'openai:<model>', 'OPENAI_BASE_URL']) expect(r.stdout).toContain(form);
  });

  it('a bad judge spec, a missing flag, a flag for another judge: one seal: line each, exit 2', () => {
    const bad = seal(...GRADE, '--judge', 'gpt4', ...CASE);
    expectCleanFailure(bad, 2, /^seal: --judge: unknown judge 'gpt4': a judge is one of squad .*squad:em, squad:f1=T .*model:<dir\|hub-id>, openai:<model>$/);
    expectCleanFailure(seal(...GRADE, '--judge', 'squad', '--question', 'q', '--prediction', 'p'), 2, /^seal: --gold is required$/);
    expectCleanFailure(seal(...GRADE, '--judge', 'squad', ...CASE, '--cache', join(tmp, 'c.json')), 2, /^seal: --cache is for model: and openai: judges/);
    expectCleanFailure(seal(...GRADE, '--judge', 'openai:gpt-4.1', ...CASE, '--max-new-tokens', '3'), 2, /^seal: --max-new-tokens is for model: judges/);
  });
});
