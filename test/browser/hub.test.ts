/**
 * Hub models through runtime-browser/hub.ts against local fake hubs (test/browser/hub-server.ts): each cache mode
 * downloads stories260K with byte-accurate progress and loads it (weights read from Blobs) to logits that match the
 * f64 reference computed in Node; a second load from OPFS / Cache Storage makes no request at all and greedy-generates
 * the reference's continuation; an aborted OPFS download resumes with a Range request, a dropped connection within the
 * same load too; sizes come from HEAD when the model info lacks them; a sharded checkpoint fetches its index first and
 * then only the shards it names; 401, 404, no network and a full quota fail with clear messages.
 * In headless Chromium every mode runs (the servers come from the globalSetup); under Node or Deno the test starts
 * the servers itself and runs the modes the runtime has (Deno: Cache Storage and memory; Node: memory).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { HubError, type HubCacheMode, type HubProgress } from '../../runtime-browser/hub.ts';
import { deleteCachedModel, fetchHubFiles, loadHubModel } from '../../runtime-browser/hub.ts';
import { loadModel, type LoadedModel } from '../../src/inference/load-model.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, TOL } from '../harness/numerics.ts';
import type { HubTestInfo } from './hub-server.ts';

const PERSISTENT: HubCacheMode[] = [
  ...(typeof (globalThis.navigator as Navigator | undefined)?.storage?.getDirectory === 'function' ? ['opfs' as const] : []),
  ...(typeof globalThis.caches?.open === 'function' ? ['cache-storage' as const] : []),
];
/** Modes whose runtime reports a storage quota (navigator.storage.estimate): browsers, not Deno. */
const QUOTA_MODES = typeof (globalThis.navigator as Navigator | undefined)?.storage?.estimate === 'function' ? PERSISTENT : [];
const MODEL = 'model.safetensors';

let env: HubTestInfo;
let ctx: GpuContext;
let stopServers: (() => Promise<void>) | null = null;

beforeAll(async () => {
  const provided = inject('hubTest');
  if (provided) env = provided;
  else {
    // Node / Deno: no globalSetup of the browser config; start the servers here (a computed path keeps bundlers off).
    const path = './hub-server.ts';
    const started = await ((await import(/* @vite-ignore */ path)) as typeof import('./hub-server.ts')).startHubTestEnv();
    env = started.info;
    stopServers = started.stop;
  }
  ctx = await testContext();
});

afterAll(async () => {
  for (const cache of PERSISTENT) await deleteCachedModel(env.repo, { cache });
  await stopServers?.();
});

interface ServerView {
  count: number;
  log: { method: string; url: string; range: string | null; authorization: string | null }[];
}

/** What a fake hub has been asked so far (this query is not counted). */
async function requests(endpoint: string): Promise<ServerView> {
  return (await (await fetch(`${endpoint}/__requests`, { cache: 'no-store' })).json()) as ServerView;
}

async function sha256(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

const totalBytes = () => Object.values(env.files).reduce((sum, f) => sum + f.size, 0);

/** Progress over a whole download: one total, overall bytes never going back and ending at it, every file complete. */
function expectProgress(progress: HubProgress[], from = 0): void {
  const total = totalBytes();
  expect(progress.length).toBeGreaterThan(Object.keys(env.files).length);
  expect(progress.every((p) => p.overallTotal === total)).toBe(true);
  expect(progress[0]!.overallLoaded).toBe(from);
  progress.forEach((p, i) => {
    expect(p.loaded).toBeLessThanOrEqual(p.total);
    expect(p.total).toBe(env.files[p.file]!.size);
    if (i > 0) expect(p.overallLoaded).toBeGreaterThanOrEqual(progress[i - 1]!.overallLoaded);
  });
  expect(progress.at(-1)!.overallLoaded).toBe(total);
  const lastPerFile = new Map(progress.map((p) => [p.file, p.loaded]));
  for (const [name, { size }] of Object.entries(env.files)) {
    if (from === 0) expect(lastPerFile.get(name), name).toBe(size);
  }
}

type Model = LoadedModel;

/** The loaded model tokenizes the prompt like Node, and its logits there match the f64 reference. */
async function expectReferenceLogits(model: Model): Promise<void> {
  const ids = model.tokenizer.encode(env.prompt);
  expect(ids).toEqual(env.promptIds);
  const rows = await model.transformer.logits({ ids });
  rows.forEach((row, i) => {
    expectClose(row, env.promptLogits[i]!, TOL.f32, `prompt logits row ${i}`);
  });
}

/** Greedy generation from the prompt gives the reference continuation computed in Node (about 10 s on SwiftShader). */
async function expectReferenceGeneration(model: Model): Promise<void> {
  expect(await model.transformer.generate(env.promptIds, env.greedy.length)).toEqual(env.greedy);
}

describe.each(PERSISTENT)('browser Hub source, cache: %s', (cache) => {
  it('downloads with monotone byte progress, matches the Node reference, loads again with zero requests and generates', async () => {
    await deleteCachedModel(env.repo, { cache });
    const before = (await requests(env.endpoint)).count;
    const progress: HubProgress[] = [];
    const model = await loadHubModel(ctx, env.repo, {
      endpoint: env.endpoint,
      cache,
      onProgress: (p) => progress.push({ ...p }),
      transformer: { matmul: 'f32' },
    });
    try {
      expect(model.fromCache).toBe(false);
      expect(model.commit).toBe(env.commit);
      expectProgress(progress);
      await expectReferenceLogits(model);
    } finally {
      model.dispose();
    }
    const first = await requests(env.endpoint);
    expect(first.count).toBeGreaterThan(before);
    console.log(`cache ${cache}: first load ${first.count - before} requests, ${progress.at(-1)!.overallLoaded} bytes in ${progress.length} progress events`);
    expect(
      first.log.slice(before).some((r) => /pytorch_model\.bin|original/.test(r.url)),
      'only needed files are fetched',
    ).toBe(false);

    const again = await loadHubModel(ctx, env.repo, {
      endpoint: env.endpoint,
      cache,
      onProgress: () => expect.unreachable('no download'),
      transformer: { matmul: 'f32' },
    });
    try {
      expect(again.fromCache).toBe(true);
      await expectReferenceLogits(again);
      await expectReferenceGeneration(again);
    } finally {
      again.dispose();
    }
    const files = await fetchHubFiles(env.repo, { endpoint: env.endpoint, cache });
    expect((await requests(env.endpoint)).count, 'a cached model loads without any request').toBe(first.count);
    expect([...files.blobs.keys()].sort()).toEqual(Object.keys(env.files).sort());
    for (const [name, blob] of files.blobs) expect(await sha256(blob), name).toBe(env.files[name]!.sha256);
  });
});

describe('browser Hub source, cache: none', () => {
  it('downloads on every load (nothing stored), with the same progress, and the model matches the Node reference', async () => {
    for (let round = 0; round < 2; round++) {
      const before = (await requests(env.endpoint)).count;
      const progress: HubProgress[] = [];
      const model = await loadHubModel(ctx, env.repo, {
        endpoint: env.endpoint,
        cache: 'none',
        onProgress: (p) => progress.push({ ...p }),
        transformer: { matmul: 'f32' },
      });
      try {
        expect(model.fromCache).toBe(false);
        expectProgress(progress);
        await expectReferenceLogits(model);
        // Generation once (it is slow on SwiftShader); the persistent modes generate from their cached copy.
        if (round === 0 && PERSISTENT.length === 0) await expectReferenceGeneration(model);
      } finally {
        model.dispose();
      }
      const log = (await requests(env.endpoint)).log.slice(before);
      // One GET per file's bytes (the weights through the redirect), plus the model info.
      expect(log.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/')).length).toBe(1);
      expect(log.some((r) => r.url.startsWith('/api/models/'))).toBe(true);
    }
  });
});

describe('browser Hub source, a hub that lists no sizes and drops a connection', () => {
  it('learns sizes from HEAD requests and resumes the dropped download within the same load', async () => {
    const progress: HubProgress[] = [];
    const files = await fetchHubFiles(env.repo, { endpoint: env.flakyEndpoint, cache: 'none', onProgress: (p) => progress.push({ ...p }) });
    for (const [name, blob] of files.blobs) expect(await sha256(blob), name).toBe(env.files[name]!.sha256);
    const log = (await requests(env.flakyEndpoint)).log;
    expect(log.filter((r) => r.method === 'HEAD').length).toBe(Object.keys(env.files).length + 1); // + the redirect's target
    const gets = log.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
    expect(gets.map((r) => r.range?.replace(/\d+/, 'N') ?? null)).toEqual([null, 'bytes=N-']);
    const resumedFrom = Number(gets[1]!.range!.match(/\d+/)![0]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(300_000);
    expectProgress(progress);
  });
});

describe('browser Hub source, a sharded checkpoint', () => {
  it('fetches the index first, then exactly the shards it names, and the model matches the Node reference', async () => {
    const progress: HubProgress[] = [];
    const files = await fetchHubFiles(env.repo, { endpoint: env.shardedEndpoint, cache: 'none', onProgress: (p) => progress.push({ ...p }) });
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const index = 'model.safetensors.index.json';
    const expected = [...Object.keys(env.files).filter((n) => n !== MODEL), index, ...shards];
    expect([...files.blobs.keys()].sort()).toEqual(expected.sort());
    expect(
      (await requests(env.shardedEndpoint)).log.some((r) => r.url.includes('consolidated')),
      'a consolidated copy is never fetched',
    ).toBe(false);
    // The index was read before the progress started: it counts as done from the first event on.
    const total = [...files.blobs.values()].reduce((sum, b) => sum + b.size, 0);
    expect(progress[0]!.overallLoaded).toBe(files.blobs.get(index)!.size);
    expect(progress.every((p) => p.overallTotal === total)).toBe(true);
    expect(progress.at(-1)!.overallLoaded).toBe(total);
    const model = await loadModel(ctx, files.files, { matmul: 'f32' });
    try {
      expect(model.weights.tensors.size).toBeGreaterThan(0);
      await expectReferenceLogits(model);
    } finally {
      model.dispose();
    }
  });
});

describe('Hub model errors', () => {
  it('401 on a gated model says to pass a token, and the token then works', async () => {
    const gated = fetchHubFiles(env.repo, { endpoint: env.gatedEndpoint, cache: 'none' });
    await expect(gated).rejects.toThrow(HubError);
    await expect(gated).rejects.toThrow(
      /seal-test\/stories260K is a gated or private model \(HTTP 401 for the model info\): accept its licence on the hub .* pass an access token: loadHubModel\(ctx, id, \{ token \}\)/,
    );
    const before = (await requests(env.gatedEndpoint)).count;
    const files = await fetchHubFiles(env.repo, { endpoint: env.gatedEndpoint, cache: 'none', token: env.token });
    expect(await sha256(files.blobs.get(MODEL)!)).toBe(env.files[MODEL]!.sha256);
    const log = (await requests(env.gatedEndpoint)).log.slice(before).filter((r) => r.method !== 'OPTIONS'); // preflights carry no headers
    expect(log.length).toBeGreaterThan(0);
    expect(log.every((r) => r.authorization === `Bearer ${env.token}`)).toBe(true);
  });

  it('404 names a wrong id or revision; an unreachable hub says no network', async () => {
    await expect(fetchHubFiles('seal-test/missing', { endpoint: env.endpoint, cache: 'none' })).rejects.toThrow(
      /^seal-test\/missing@main not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404 for the model info\): check the model id and revision/,
    );
    await expect(fetchHubFiles(`${env.repo}@no-such-branch`, { endpoint: env.endpoint, cache: 'none' })).rejects.toThrow(/@no-such-branch not found/);
    await expect(fetchHubFiles('not an id', { cache: 'none' })).rejects.toThrow(/is not a Hugging Face model id/);
    const unreachable = fetchHubFiles(env.repo, { endpoint: 'http://127.0.0.1:9', cache: 'none' });
    await expect(unreachable).rejects.toThrow(HubError);
    await expect(unreachable).rejects.toThrow(/^cannot reach http:\/\/127\.0\.0\.1:9 \(.+\): no network\?/);
  });
});

describe.each(QUOTA_MODES)('Hub model storage, cache: %s', (cache) => {
  it('a quota too small for the model fails before any download and says how much is needed', async () => {
    const storage = globalThis.navigator.storage;
    await deleteCachedModel(env.repo, { cache });
    const before = (await requests(env.endpoint)).count;
    Object.defineProperty(storage, 'estimate', { value: async () => ({ quota: 1_000_000, usage: 400_000 }), configurable: true });
    try {
      await expect(fetchHubFiles(env.repo, { endpoint: env.endpoint, cache })).rejects.toThrow(
        new RegExp(
          `needs ${(totalBytes() / 1e6).toFixed(1)} MB more of browser storage \\(cache: '${cache}'\\) but only 0\\.6 MB is free \\(quota 1\\.0 MB, used 0\\.4 MB\\)`,
        ),
      );
    } finally {
      delete (storage as unknown as Record<string, unknown>).estimate;
    }
    const log = (await requests(env.endpoint)).log.slice(before);
    expect(
      log.filter((r) => r.method === 'GET' && !r.url.startsWith('/api/')),
      'no file was downloaded',
    ).toEqual([]);
  });
});

// Resuming needs a store that keeps partial files across loads: OPFS.
describe.each(PERSISTENT.filter((m) => m === 'opfs'))('Hub model download resume, cache: %s', (cache) => {
  it('an aborted download keeps its bytes and the next load resumes them with a Range request', async () => {
    await deleteCachedModel(env.repo, { cache });
    const before = (await requests(env.slowEndpoint)).count;
    const abort = new AbortController();
    const aborted = fetchHubFiles(env.repo, {
      endpoint: env.slowEndpoint,
      cache,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.file === MODEL && p.loaded > 300_000) abort.abort();
      },
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });

    const progress: HubProgress[] = [];
    const files = await fetchHubFiles(env.repo, { endpoint: env.slowEndpoint, cache, onProgress: (p) => progress.push({ ...p }) });
    expect(await sha256(files.blobs.get(MODEL)!)).toBe(env.files[MODEL]!.sha256);
    const gets = (await requests(env.slowEndpoint)).log.slice(before).filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
    expect(gets.length).toBe(2);
    expect(gets[0]!.range).toBeNull();
    const resumedFrom = Number(gets[1]!.range?.match(/^bytes=(\d+)-$/)?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThan(env.files[MODEL]!.size);
    // The second load's progress starts from what was kept (the small files and the partial weights).
    expectProgress(progress, totalBytes() - env.files[MODEL]!.size + resumedFrom);
  });
});
