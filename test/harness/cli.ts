/** Runs the built `seal` CLI (bin/seal.mjs -> dist/cli.mjs, built by the global setup) as a child process. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI is a Node program: under Deno, process.execPath is deno itself, so use the `node` on PATH. */
export const NODE = 'Deno' in globalThis ? 'node' : process.execPath;

export interface SealResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function sealWithEnv(env: Record<string, string>, ...args: string[]): SealResult {
  const r = spawnSync(NODE, [join(ROOT, 'bin/seal.mjs'), ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function seal(...args: string[]): SealResult {
  return sealWithEnv({}, ...args);
}

/** The CLI's own messages on stderr (Dawn prints its warnings there too). */
export function sealMessages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('seal: '));
}

/** A failing command: the exit code, exactly one `seal:` line matching `message`, and no stack trace. */
export function expectCleanFailure(r: SealResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = sealMessages(r.stderr);
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}
