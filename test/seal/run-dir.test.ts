/**
 * The run directory on disk: layout, refusing foreign directories, the lock between processes (stale locks broken),
 * resume after a kill (finished candidates kept, the rest redone, same final result as an uninterrupted run), a torn
 * last record cut with a warning, config mismatch / --force-config / more rounds, adapter paths, and the report.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterSubdir, RUN_FILES, RunDir, RunDirError, RunLockedError, taskPathSegment, type OpenRunOptions } from '../../runtime-node/run-dir.ts';
import { parseEventLog } from '../../src/seal/events.ts';
import { RunConfigMismatchError } from '../../src/seal/run-config.ts';
import { nextRound, roundMetrics, type RunState } from '../../src/seal/run-state.ts';
import { Killed, runFakeLoop, TASKS, testConfig, xmlProblem, svgElements, type LoopStats } from './helpers.ts';

const NODE = 'Deno' in globalThis ? 'node' : process.execPath;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts test/seal/run-child.ts on `dir`; resolves with the child once it wrote `budget` records and holds the lock. */
function childRun(dir: string, budget: number): Promise<ReturnType<typeof spawn>> {
  return new Promise((ok, fail) => {
    const child = spawn(NODE, ['--import', 'tsx', 'test/seal/run-child.ts', dir, String(budget)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) ok(child);
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', fail);
    child.on('close', (code) => fail(new Error(`child exited (${code}) before it was ready: ${err}`)));
  });
}
const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'seal-run-'));
  tempDirs.push(d);
  return d;
}

function options(extra: Partial<OpenRunOptions> = {}): OpenRunOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return { config: testConfig(), invocation: { pid: process.pid }, onWarning: (m) => warnings.push(m), warnings, ...extra };
}

function readEvents(dir: string) {
  return parseEventLog(new Uint8Array(readFileSync(join(dir, RUN_FILES.events))));
}

/** A pid that no longer runs (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(NODE, ['-e', '0']);
  if (!r.pid) throw new Error('could not start a child process');
  return r.pid;
}

function outcome(state: RunState) {
  return [...state.rounds.values()].map((r) => ({
    metrics: roundMetrics(r),
    scores: [...r.candidates.values()].map((c) => [c.task, c.candidate, c.score?.reward]).sort(),
  }));
}

describe('run directory', () => {
  it('a new run: config.json, events.jsonl with run-started, the lock held while open and removed on close', async () => {
    const dir = join(tempDir(), 'run');
    const run = await RunDir.open(dir, options());
    expect(run.resumed).toBe(false);
    expect(readdirSync(dir).sort()).toEqual([RUN_FILES.config, RUN_FILES.events, RUN_FILES.lock].sort());
    const config = JSON.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8'));
    expect(config).toMatchObject({ format: 'seal-run', version: 1, config: { domain: 'arc', seed: 7 } });
    expect(config.configHash).toMatch(/^sha256:/);
    const lock = JSON.parse(readFileSync(join(dir, RUN_FILES.lock), 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid, host: hostname() });
    expect(readEvents(dir).events.map((e) => e.type)).toEqual(['run-started']);
    run.close();
    expect(existsSync(join(dir, RUN_FILES.lock))).toBe(false);
    run.close();
    expect(() => run.append({ type: 'warning', message: 'x' })).toThrow(/closed/);
  });

  it('refuses a non-empty directory that holds no run, and a file, leaving nothing behind', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await expect(RunDir.open(dir, options())).rejects.toThrow(/is not empty and holds no SEAL run .* new or empty --run directory/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    await expect(RunDir.open(join(dir, 'notes.txt'), options())).rejects.toThrow(RunDirError);
  });

  it('appends one line per record, in order, readable at once, as the state folds them', async () => {
    for (const stepSyncMs of [0, 1000]) {
      const dir = tempDir();
      const run = await RunDir.open(dir, options({ stepSyncMs }));
      const t0 = performance.now();
      runFakeLoop(run, { stepsPerCandidate: 10 });
      const ms = performance.now() - t0;
      const lines = run.state.events;
      // Every record is in the file before close (a killed process loses none).
      const parsed = readEvents(dir);
      run.close();
      expect(parsed.torn).toBeNull();
      expect(parsed.events).toHaveLength(lines);
      expect(parsed.events.map((e) => e.seq)).toEqual(Array.from({ length: lines }, (_, i) => i + 1));
      console.log(
        `run-dir: ${lines} records (${parsed.events.filter((e) => e.type === 'ttt-step').length} TTT steps) appended in ${ms.toFixed(0)} ms ` +
          `(${(ms / lines).toFixed(2)} ms per record) with stepSyncMs ${stepSyncMs}`,
      );
    }
  });

  it('resumes after a kill: the stale lock is broken, finished candidates kept, the rest redone, same result as without the kill', async () => {
    const clean = await RunDir.open(tempDir(), options());
    runFakeLoop(clean);
    const expected = outcome(clean.state);
    clean.close();

    for (const budget of [1, 40, 90]) {
      const dir = tempDir();
      const first = await RunDir.open(dir, options());
      expect(() => runFakeLoop(first, { budget })).toThrow(Killed);
      const finished = new Set<string>();
      for (const r of first.state.rounds.values()) for (const c of r.candidates.values()) if (c.score) finished.add(`${r.round}/${c.task}/${c.candidate}`);
      first.close();
      // A kill leaves the lock of a process that no longer runs.
      writeFileSync(join(dir, RUN_FILES.lock), JSON.stringify({ pid: deadPid(), host: hostname(), started: '2026-01-01T00:00:00Z', nonce: 'x' }));

      const o = options();
      const second = await RunDir.open(dir, o);
      expect(second.resumed).toBe(true);
      expect(o.warnings.join('\n')).toMatch(/removed the stale lock .* no longer runs/);
      expect(second.resumeSummary()).toMatch(/resuming round \d|every round/);
      const stats: LoopStats = { sampled: [], trained: [] };
      runFakeLoop(second, { stats });
      for (const key of stats.trained) expect(finished.has(key), `budget ${budget}: ${key} redone`).toBe(false);
      expect(finished.size + stats.trained.length).toBe(2 * TASKS.length * 3);
      expect(outcome(second.state), `budget ${budget}`).toEqual(expected);
      expect(second.state.resumes).toBe(1);
      second.close();
      expect(readEvents(dir).events.filter((e) => e.type === 'run-resumed')).toHaveLength(1);
    }
  });

  it('cuts a torn last record with a warning, keeps its bytes, and continues the sequence', async () => {
    const dir = tempDir();
    const first = await RunDir.open(dir, options());
    expect(() => runFakeLoop(first, { budget: 9 })).toThrow(Killed);
    const intact = first.state.events;
    first.close();
    appendFileSync(join(dir, RUN_FILES.events), '{"v":1,"seq":11,"time":"2026-01-01T00:00:00.000Z","type":"ttt-step","round":0,"ta');

    const o = options();
    const second = await RunDir.open(dir, o);
    expect(o.warnings.join('\n')).toMatch(/line 11 is incomplete .*killed while writing it/);
    expect(o.warnings.join('\n')).toMatch(/cut the torn last record .*kept in .*events\.jsonl\.torn-/);
    const kept = readdirSync(dir).find((f) => f.startsWith(`${RUN_FILES.events}.torn-`))!;
    expect(readFileSync(join(dir, kept), 'utf8')).toMatch(/"type":"ttt-step","round":0,"ta$/);
    expect(second.state.events).toBe(intact + 1); // + run-resumed
    runFakeLoop(second);
    second.close();
    const parsed = readEvents(dir);
    expect(parsed.torn).toBeNull();
    expect(parsed.warnings).toEqual([]);
    expect(parsed.events.map((e) => e.seq)).toEqual(Array.from({ length: parsed.events.length }, (_, i) => i + 1));
  });

  it('refuses corruption that is not a torn tail', async () => {
    const dir = tempDir();
    const run = await RunDir.open(dir, options());
    run.append({ type: 'warning', message: 'one' });
    run.close();
    const text = readFileSync(join(dir, RUN_FILES.events), 'utf8').split('\n');
    text[0] = text[0]!.slice(0, 30);
    writeFileSync(join(dir, RUN_FILES.events), text.join('\n'));
    await expect(RunDir.open(dir, options())).rejects.toThrow(/line 1 is corrupt .* not the last line/);
    expect(existsSync(join(dir, RUN_FILES.lock))).toBe(false);
  });

  it('two processes cannot run in one directory; stale locks are broken', async () => {
    const dir = tempDir();
    const a = await RunDir.open(dir, options());
    await expect(RunDir.open(dir, options())).rejects.toThrow(RunLockedError);
    await expect(RunDir.open(dir, options())).rejects.toThrow(new RegExp(`in use by pid ${process.pid} on ${hostname()}`));
    a.close();

    // Held by a live process (our parent) on this host: refused.
    const lockPath = join(dir, RUN_FILES.lock);
    writeFileSync(lockPath, JSON.stringify({ pid: process.ppid, host: hostname(), started: 'earlier', nonce: 'n' }));
    await expect(RunDir.open(dir, options())).rejects.toThrow(/in use by pid \d+ .* two processes cannot run in one directory/);

    // Another host: live while its heartbeat is fresh, stale after lockStaleMs without one.
    writeFileSync(lockPath, JSON.stringify({ pid: 1, host: 'other-host.invalid', started: 'earlier', nonce: 'n' }));
    await expect(RunDir.open(dir, options({ lockStaleMs: 60_000 }))).rejects.toThrow(/if that process is gone, delete/);
    const old = new Date(Date.now() - 120_000);
    utimesSync(lockPath, old, old);
    const o = options({ lockStaleMs: 60_000 });
    const b = await RunDir.open(dir, o);
    expect(o.warnings.join()).toMatch(/removed the stale lock .* other-host\.invalid .* no heartbeat for \d+ s/);
    b.close();
  });

  it('another process running in the directory is refused; after it is SIGKILLed the run resumes where it stopped', async () => {
    const dir = tempDir();
    const child = await childRun(dir, 50);
    try {
      await expect(RunDir.open(dir, options())).rejects.toThrow(new RegExp(`in use by pid ${child.pid} on ${hostname()}`));
    } finally {
      const closed = new Promise((ok) => child.once('close', ok));
      child.kill('SIGKILL');
      await closed;
    }
    expect(existsSync(join(dir, RUN_FILES.lock))).toBe(true);
    const o = options();
    const run = await RunDir.open(dir, o);
    expect(o.warnings.join()).toMatch(new RegExp(`removed the stale lock .*pid ${child.pid} .* no longer runs`));
    expect(run.state.events).toBe(1 + 50 + 1); // run-started, the child's 50 records, run-resumed
    const stats: LoopStats = { sampled: [], trained: [] };
    runFakeLoop(run, { stats });
    expect(run.state.status).toBe('finished');
    expect(stats.trained.length).toBeLessThan(2 * TASKS.length * 3);
    run.close();
  });

  it('two openers racing over a stale lock: exactly one gets the directory', async () => {
    const dir = tempDir();
    (await RunDir.open(dir, options())).close();
    writeFileSync(join(dir, RUN_FILES.lock), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'x', nonce: 'y' }));
    const results = await Promise.allSettled([RunDir.open(dir, options()), RunDir.open(dir, options())]);
    const opened = results.filter((r) => r.status === 'fulfilled');
    expect(opened).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(RunLockedError);
    (opened[0] as PromiseFulfilledResult<RunDir>).value.close();
  });

  it('a config mismatch is a clear error (the lock released); --force-config records the change; more rounds extend the run', async () => {
    const dir = tempDir();
    const first = await RunDir.open(dir, options());
    runFakeLoop(first);
    first.close();

    const other = testConfig({ seed: 99 });
    await expect(RunDir.open(dir, options({ config: other }))).rejects.toThrow(RunConfigMismatchError);
    await expect(RunDir.open(dir, options({ config: other }))).rejects.toThrow(/seed: 7 -> 99[\s\S]*--force-config/);
    expect(existsSync(join(dir, RUN_FILES.lock))).toBe(false);

    const o = options({ config: other, forceConfig: true });
    const forced = await RunDir.open(dir, o);
    expect(o.warnings.join()).toMatch(/changed configuration \(--force-config\): seed/);
    expect(forced.state.config!.seed).toBe(99);
    expect(forced.state.configChanges).toHaveLength(1);
    forced.close();
    expect(JSON.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8')).config.seed).toBe(99);

    const longer = testConfig({ seed: 99, rounds: 3 });
    const extended = await RunDir.open(dir, options({ config: longer }));
    expect(nextRound(extended.state)).toBe(2);
    const stats: LoopStats = { sampled: [], trained: [] };
    runFakeLoop(extended, { stats });
    expect(stats.trained.every((k) => k.startsWith('2/'))).toBe(true);
    expect(stats.trained).toHaveLength(TASKS.length * 3);
    extended.close();
    expect(JSON.parse(readFileSync(join(dir, RUN_FILES.config), 'utf8')).config.rounds).toBe(3);
  });

  it('config.json without any record (killed right after creating it) starts afresh', async () => {
    const dir = tempDir();
    const run = await RunDir.open(dir, options());
    run.close();
    writeFileSync(join(dir, RUN_FILES.events), '');
    const again = await RunDir.open(dir, options({ config: testConfig({ seed: 3 }) }));
    expect(again.resumed).toBe(false);
    expect(again.state.config!.seed).toBe(3);
    again.close();
  });

  it('adapter and policy folders: layout, leftovers of an interrupted try cleared, finished ones refused', async () => {
    const dir = tempDir();
    const run = await RunDir.open(dir, options());
    run.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a/../b', 'c'], candidatesPerTask: 2 });
    const rel = await run.prepareAdapterDir(0, 'a/../b', 1);
    expect(rel).toBe('adapters/round-0/a~2f..~2fb/candidate-1');
    mkdirSync(run.path(rel), { recursive: true });
    writeFileSync(join(run.path(rel), 'adapter_model.safetensors'), 'partial');
    mkdirSync(join(run.path(rel), '..', '.candidate-1.tmp-123-abc'));
    expect(await run.prepareAdapterDir(0, 'a/../b', 1)).toBe(rel);
    expect(existsSync(run.path(rel))).toBe(false);
    expect(readdirSync(join(run.path(rel), '..'))).toEqual([]);
    run.append({ type: 'candidate-scored', round: 0, task: 'c', candidate: 0, reward: 0, solved: false, tests: [] });
    await expect(run.prepareAdapterDir(0, 'c', 0)).rejects.toThrow(/is finished; its adapter is not rewritten/);
    expect(await run.preparePolicyDir(0)).toBe('policy/round-0');
    run.append({ type: 'policy-checkpoint-saved', round: 0, path: 'policy/round-0', examples: 0 });
    await expect(run.preparePolicyDir(0)).rejects.toThrow(/not rewritten/);
    run.close();
  });

  it('task ids become distinct, safe path segments', () => {
    const ids = ['6150a2bd-0', 'a/b', 'a~2fb', '..', '.hidden', 'x y', 'é', '<script>'];
    const segs = ids.map(taskPathSegment);
    expect(new Set(segs).size).toBe(ids.length);
    for (const s of segs) {
      expect(s).toMatch(/^[A-Za-z0-9_~-][A-Za-z0-9_.~-]*$/);
    }
    expect(taskPathSegment('6150a2bd-0')).toBe('6150a2bd-0');
    expect(adapterSubdir(2, 'x', 3)).toBe('adapters/round-2/x/candidate-3');
    expect(() => taskPathSegment('')).toThrow(/empty/);
  });

  it('writes report.html and self-edits.jsonl when a round finishes and at the end; a failure is recorded', async () => {
    const dir = tempDir();
    const run = await RunDir.open(dir, options({ config: testConfig({ rounds: 1, command: 'eval' }) }));
    run.append({ type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a'], candidatesPerTask: 1 });
    run.append({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 0, attempt: 0, text: '{"x":1}', edit: { x: 1 } });
    run.append({ type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [{ id: 'a-0', correct: true }] });
    await run.finishRound(0);
    const html = readFileSync(join(dir, RUN_FILES.report), 'utf8');
    expect(html).toMatch(/<td class="num">100\.0%<\/td>/);
    for (const svg of svgElements(html)) expect(xmlProblem(svg)).toBeNull();
    const lines = readFileSync(join(dir, RUN_FILES.selfEdits), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ round: 0, task: 'a', candidate: 0, chosen: true, reward: 1, solved: true, text: '{"x":1}' })]);
    expect(run.summary()).toMatch(/round 0 +base model +1\/1 +1\/1 +100\.0%/);
    await run.fail(new Error('GPU lost'));
    expect(readEvents(dir).events.at(-1)).toMatchObject({ type: 'run-failed', error: 'GPU lost' });
    expect(readFileSync(join(dir, RUN_FILES.report), 'utf8')).toMatch(/failed.*GPU lost/);
    expect(existsSync(join(dir, RUN_FILES.lock))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);

    const again = await RunDir.open(dir, options({ config: testConfig({ rounds: 1, command: 'eval' }) }));
    expect(again.state.status).toBe('running');
    await again.finish();
    expect(readEvents(dir).events.at(-1)!.type).toBe('run-finished');
  });
});
