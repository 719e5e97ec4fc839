/**
 * The benchmark's JSON report is rewritten after every case, so a run cut short (a device lease ending, a timeout)
 * keeps what it finished: killed after its first case, the file holds that case with complete: false; a whole run
 * ends with complete: true.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE } from '../harness/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// A tiny model of the Llama-3.2-1B architecture: cases take a second or two on lavapipe.
const ARGS = [
  'sft',
  '--models',
  'Llama-3.2-1B',
  '--layers',
  '1',
  '--shape',
  'hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=1,head_dim=32,vocab_size=512',
  '--seq',
  '40',
  '--steps',
  '1',
  '--precision',
  'f32',
];

interface Report {
  complete: boolean;
  results: { adapters: number; precision: string }[];
}

/** Runs the bench; `stopAfter`: kill it once stdout shows that many finished cases. */
function runBench(out: string, extra: string[], stopAfter?: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [join(ROOT, 'dist/bench.mjs'), ...ARGS, ...extra, '--out', out], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stopAfter !== undefined && (stdout.match(/^ {2}K=\d+.*tokens\/step/gm) ?? []).length >= stopAfter) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

function readReport(dir: string): Report {
  const files = readdirSync(dir).filter((f) => f.startsWith('sft-') && f.endsWith('.json'));
  expect(files.length, readdirSync(dir).join(', ')).toBe(1);
  return JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as Report;
}

describe('bench report', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'seal-bench-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a run killed after its first case keeps that case (complete: false); a whole run says complete: true', async () => {
    const cut = tmp();
    const killed = await runBench(cut, ['--k', '1,2,3'], 1);
    expect(killed.code, killed.stdout).not.toBe(0);
    const partial = readReport(cut);
    expect(partial.complete).toBe(false);
    expect(partial.results.map((r) => r.adapters)).toEqual([1]);

    const whole = tmp();
    const done = await runBench(whole, ['--k', '1,2']);
    expect(done.code, done.stdout).toBe(0);
    const report = readReport(whole);
    expect(report.complete).toBe(true);
    expect(report.results.map((r) => `${r.adapters} ${r.precision}`)).toEqual(['1 f32', '2 f32']);
  }, 300_000);
});
