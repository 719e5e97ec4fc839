/**
 * The per-blob download lock of the Hub cache: two real processes resolving the same model at once download each
 * blob exactly once and both end with an intact snapshot; stale locks (dead pid on this host, or no sign of life for
 * longer than the timeout) are broken with a warning and the download resumes from what the dead holder left.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveHubModel } from '../../runtime-node/hub.ts';
import { REPO, sha256, SHA } from './fake-hub.ts';
import { hubFixtures } from './fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The children are Node programs: under Deno, process.execPath is deno itself, so use the `node` on PATH. */
const NODE = 'Deno' in globalThis ? 'node' : process.execPath;
const MODEL = 'model.safetensors';

const { tempCache, fakeHub } = hubFixtures('seal-lock-');

interface ChildResult {
  pid: number;
  snapshot: string;
  notes: string[];
  warnings: string[];
  bytes: number;
  total: number;
}

/** Runs test/hub/resolve-child.ts in its own node process; resolves with its JSON line (rejects on a non-zero exit). */
function resolveInChild(endpoint: string, cache: string, staleMs: number): Promise<ChildResult> {
  return new Promise((ok, fail) => {
    const child = spawn(NODE, ['--import', 'tsx', 'test/hub/resolve-child.ts', endpoint, cache, String(staleMs)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => {
      if (code !== 0) return fail(new Error(`child exited with ${code}: ${stderr}`));
      try {
        ok(JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult);
      } catch {
        fail(new Error(`child printed no result: ${stdout}\n${stderr}`));
      }
    });
  });
}

/** The pid of a process that has just exited (so no process has it, barring immediate reuse). */
function deadPid(): Promise<number> {
  return new Promise((ok, fail) => {
    const child = spawn(NODE, ['-e', ''], { stdio: 'ignore' });
    child.on('error', fail);
    child.on('close', () => ok(child.pid!));
  });
}

function blobsDir(cache: string): string {
  return join(cache, 'models--seal-test--stories260K', 'blobs');
}

describe('Hub download lock', () => {
  it('two processes resolving at once: each blob is downloaded once, both get the intact snapshot', async () => {
    // The weights trickle out (about 1.5 s) and only after both processes asked for the model info: they overlap.
    const hub = await fakeHub({ throttle: { chunkBytes: 32 * 1024, intervalMs: 45 }, holdLfsUntilInfoRequests: 2 });
    const cache = tempCache();
    const [a, b] = await Promise.all([resolveInChild(hub.endpoint, cache, 30_000), resolveInChild(hub.endpoint, cache, 30_000)]);

    expect(a.snapshot).toBe(join(cache, 'models--seal-test--stories260K', 'snapshots', SHA));
    expect(b.snapshot).toBe(a.snapshot);
    const model = hub.files.get(MODEL)!;
    expect(
      createHash('sha256')
        .update(readFileSync(join(a.snapshot, MODEL)))
        .digest('hex'),
    ).toBe(sha256(model));
    // Exactly one full download of the weights: one GET, no Range, every byte sent once.
    expect(hub.contentGets(MODEL).map((r) => r.headers.range)).toEqual([undefined]);
    expect(hub.bytesServed.get(MODEL)).toBe(model.length);
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) expect(hub.contentGets(name).length, name).toBe(1);
    // One of them waited for the other (and said so on its progress line); a live lock is never broken.
    const waited = [a, b].filter((r) => r.notes.some((n) => /^waiting for pid \d+ on .+ to finish it$/.test(n)));
    expect(waited.length).toBe(1);
    const holder = waited[0] === a ? b : a;
    expect(waited[0]!.notes.some((n) => n.includes(`pid ${holder.pid} on ${hostname()}`))).toBe(true);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    for (const r of [a, b]) expect(r.bytes).toBe(r.total);
    expect(readdirSync(blobsDir(cache)).filter((f) => /\.(lock|incomplete)$|\.stale-/.test(f))).toEqual([]);
  });

  it('breaks the lock of a dead process on this host and resumes its partial download', async () => {
    const hub = await fakeHub();
    const cache = tempCache();
    const etag = hub.etag(MODEL);
    mkdirSync(blobsDir(cache), { recursive: true });
    const pid = await deadPid();
    writeFileSync(join(blobsDir(cache), `${etag}.lock`), JSON.stringify({ pid, host: hostname(), started: Date.now(), nonce: 'dead' }));
    writeFileSync(join(blobsDir(cache), `${etag}.incomplete`), hub.files.get(MODEL)!.subarray(0, 100_000));
    const warnings: string[] = [];
    const snapshot = await resolveHubModel(REPO, { endpoint: hub.endpoint, cacheDir: cache, token: '', offline: false, onWarning: (m) => warnings.push(m) });
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(new RegExp(`broke the stale download lock .*${etag}\\.lock: pid ${pid} on .* no longer runs`));
    expect(hub.contentGets(MODEL).map((r) => r.headers.range)).toEqual(['bytes=100000-']);
    expect(readFileSync(join(snapshot, MODEL)).equals(hub.files.get(MODEL)!)).toBe(true);
    expect(readdirSync(blobsDir(cache)).filter((f) => /\.(lock|incomplete)$|\.stale-/.test(f))).toEqual([]);
  });

  it('breaks a lock that shows no sign of life for longer than lockStaleMs, and waits on one that does', async () => {
    const hub = await fakeHub();
    const cache = tempCache();
    const lock = join(blobsDir(cache), `${hub.etag(MODEL)}.lock`);
    mkdirSync(blobsDir(cache), { recursive: true });
    // Another host's process: its pid says nothing here, only the lock's age does.
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'some-other-host', started: Date.now(), nonce: 'quiet' }));
    const started = Date.now();
    const warnings: string[] = [];
    const notes: string[] = [];
    const options = {
      endpoint: hub.endpoint,
      cacheDir: cache,
      token: '',
      offline: false,
      lockStaleMs: 600,
      onWarning: (m: string) => warnings.push(m),
      onProgress: (p: { file: string }) => notes.push(p.file),
    };
    const snapshot = await resolveHubModel(REPO, options);
    // It waited (the lock was fresh), then broke it once 600 ms passed without a heartbeat or .incomplete growth.
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(notes).toContain(`${MODEL} (waiting for pid 1 on some-other-host to finish it)`);
    expect(warnings.length).toBe(1);
    const quiet = warnings[0]!.match(/^broke the stale download lock .*\.lock: pid 1 on some-other-host showed no progress for (\d+\.\d) s$/);
    expect(Number(quiet?.[1]), warnings[0]).toBeGreaterThanOrEqual(0.6);
    expect(readFileSync(join(snapshot, MODEL)).equals(hub.files.get(MODEL)!)).toBe(true);

    // An old lock (mtime long past) from another host is broken at once.
    const again = tempCache();
    mkdirSync(blobsDir(again), { recursive: true });
    const oldLock = join(blobsDir(again), `${hub.etag(MODEL)}.lock`);
    writeFileSync(oldLock, JSON.stringify({ pid: 1, host: 'some-other-host', started: 0, nonce: 'old' }));
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(oldLock, past, past);
    const quick = Date.now();
    warnings.length = 0;
    await resolveHubModel(REPO, { ...options, cacheDir: again, lockStaleMs: 60_000 });
    expect(Date.now() - quick).toBeLessThan(5_000);
    expect(warnings).toEqual([expect.stringMatching(/showed no progress for 3[56]\d\d\.\d s/)]);
  });
});
