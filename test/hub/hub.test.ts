/**
 * The Hub model source against a local imitation of the Hugging Face Hub on 127.0.0.1 (never any other address):
 * /api/models/{repo}/revision/{rev}, /{repo}/resolve/{sha}/{file} (LFS files redirect to a /cdn/ URL with X-Linked-Etag),
 * ETags and Range requests, serving the real files of ../shared/models/stories260K.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../runtime-node/cli.ts';
import { HubError, parseHubId, resolveHubModel, type DownloadProgress, type HubOptions } from '../../runtime-node/hub.ts';
import { loadModelDir, resolveModel } from '../../runtime-node/model-dir.ts';
import { createProgressBar, formatBytes, formatDuration } from '../../runtime-node/progress.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';
import { type FakeHub, REPO, SHA, sha256, TOKEN } from './fake-hub.ts';
import { hubFixtures } from './fixtures.ts';

const { tempCache, fakeHub } = hubFixtures('seal-hub-');

function hubOptions(hub: FakeHub, extra: HubOptions = {}): HubOptions {
  return { endpoint: hub.endpoint, token: '', offline: false, idleTimeoutMs: 5000, ...extra };
}

const NEEDED = ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];

/** The snapshot holds exactly the needed files, each a relative symlink to the blob named by its ETag, byte-identical to the repo's. */
function expectHfLayout(cache: string, hub: FakeHub, snapshot: string): void {
  const repoDir = join(cache, 'models--seal-test--stories260K');
  expect(snapshot).toBe(join(repoDir, 'snapshots', SHA));
  expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(SHA);
  expect(readdirSync(snapshot).sort()).toEqual(NEEDED);
  for (const name of NEEDED) {
    const link = join(snapshot, name);
    expect(lstatSync(link).isSymbolicLink(), name).toBe(true);
    const blobName = hub.options.noEtags ? sha256(hub.files.get(name)!) : hub.etag(name);
    expect(readlinkSync(link)).toBe(`../../blobs/${blobName}`);
    expect(readFileSync(link).equals(hub.files.get(name)!), name).toBe(true);
  }
  expect(readdirSync(join(repoDir, 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
}

describe('Hugging Face Hub model source', () => {
  let model: string;
  beforeAll(() => {
    model = sharedPath('models/stories260K');
  });

  it('downloads into the HF cache layout, loads like the shared model, then resolves with zero requests', async () => {
    const hub = await fakeHub();
    const cache = tempCache();
    const progress: DownloadProgress[] = [];
    const snapshot = await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache, onProgress: (p) => progress.push({ ...p }) }));
    expectHfLayout(cache, hub, snapshot);
    expect(
      hub.log.some((r) => /pytorch_model\.bin|original/.test(r.url)),
      'only needed files are fetched',
    ).toBe(false);
    expect(
      hub.log.every((r) => r.headers.authorization === undefined),
      'no token, no Authorization header',
    ).toBe(true);

    // Progress: monotonic bytes over an exact total (the sum of the needed files' sizes).
    const total = NEEDED.reduce((sum, n) => sum + hub.files.get(n)!.length, 0);
    expect(progress.length).toBeGreaterThan(NEEDED.length);
    expect(progress.every((p) => p.total === total)).toBe(true);
    progress.forEach((p, i) => {
      expect(p.bytes).toBeGreaterThanOrEqual(i === 0 ? 0 : progress[i - 1]!.bytes);
    });
    expect(progress.at(-1)!.bytes).toBe(total);

    const requests = hub.log.length;
    expect(await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache }))).toBe(snapshot);
    expect(await resolveHubModel(`${REPO}@${SHA}`, hubOptions(hub, { cacheDir: cache }))).toBe(snapshot);
    expect(await resolveModel(REPO, hubOptions(hub, { cacheDir: cache }))).toBe(snapshot);
    expect(hub.log.length, 'a complete cached snapshot needs no network').toBe(requests);
    // Offline as well: the server is gone.
    await hub.stop();
    expect(await resolveHubModel(REPO, { endpoint: 'http://127.0.0.1:9', cacheDir: cache, offline: true })).toBe(snapshot);

    const ctx = await testContext();
    const ids = [1, 403, 407, 261, 378];
    const fromHub = await loadModelDir(ctx, snapshot, { matmul: 'f32' });
    const direct = await loadModelDir(ctx, model, { matmul: 'f32' });
    try {
      const [got, want] = [await fromHub.transformer.logits({ ids }), await direct.transformer.logits({ ids })];
      got.forEach((row, i) => {
        expect(Array.from(row)).toEqual(Array.from(want[i]!));
      });
    } finally {
      fromHub.dispose();
      direct.dispose();
    }
  });

  it('resumes a download cut off midway with a Range request and ends byte-identical', async () => {
    const hub = await fakeHub({ dropModelAfter: 300_000 });
    const cache = tempCache();
    const progress: number[] = [];
    const snapshot = await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache, onProgress: (p) => progress.push(p.bytes) }));
    expectHfLayout(cache, hub, snapshot);
    const gets = hub.contentGets('model.safetensors');
    expect(gets.length).toBe(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    const resumedFrom = Number(gets[1]!.headers.range?.match(/^bytes=(\d+)-$/)?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(300_000);
    progress.forEach((b, i) => {
      expect(b).toBeGreaterThanOrEqual(progress[i - 1] ?? 0);
    });
  });

  it('a server gone silent midway is dropped after the idle timeout and the download resumes', async () => {
    const hub = await fakeHub({ stallModelAfter: 100_000 });
    const cache = tempCache();
    const started = Date.now();
    const snapshot = await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache, idleTimeoutMs: 300 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expectHfLayout(cache, hub, snapshot);
    expect(hub.contentGets('model.safetensors').map((r) => r.headers.range)).toEqual([undefined, 'bytes=100000-']);
  });

  it('resumes a partial blobs/<etag>.incomplete left by an earlier run', async () => {
    const hub = await fakeHub();
    const cache = tempCache();
    const blobs = join(cache, 'models--seal-test--stories260K', 'blobs');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${hub.etag('model.safetensors')}.incomplete`), hub.files.get('model.safetensors')!.subarray(0, 12345));
    const progress: DownloadProgress[] = [];
    const snapshot = await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache, onProgress: (p) => progress.push(p) }));
    expectHfLayout(cache, hub, snapshot);
    expect(hub.contentGets('model.safetensors').map((r) => r.headers.range)).toEqual(['bytes=12345-']);
    expect(progress[0]!.bytes).toBe(12345);
  });

  it('rejects bytes that do not match the LFS sha256 ETag and keeps no blob of them', async () => {
    const hub = await fakeHub({ corruptModel: true });
    const cache = tempCache();
    await expect(resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache }))).rejects.toThrow(/model\.safetensors .*do not match their sha256/);
    const blobs = readdirSync(join(cache, 'models--seal-test--stories260K', 'blobs'));
    expect(blobs.some((b) => b.startsWith(hub.etag('model.safetensors')))).toBe(false);
  });

  it('names blobs by sha256 when the server sends no ETag', async () => {
    const hub = await fakeHub({ noEtags: true });
    const cache = tempCache();
    expectHfLayout(cache, hub, await resolveHubModel(REPO, hubOptions(hub, { cacheDir: cache })));
  });

  it('sends HF_TOKEN as a Bearer header; 401 without it names the fix', async () => {
    const hub = await fakeHub({ requireToken: true });
    await expect(resolveHubModel(REPO, hubOptions(hub, { cacheDir: tempCache() }))).rejects.toThrow(/gated or private model.*accept its licence.*HF_TOKEN/);
    const before = hub.log.length;
    const saved = process.env.HF_TOKEN;
    process.env.HF_TOKEN = TOKEN;
    try {
      const cache = tempCache();
      expectHfLayout(cache, hub, await resolveHubModel(REPO, { endpoint: hub.endpoint, cacheDir: cache, offline: false }));
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
    // Every request to the hub itself carries the token (the CDN redirect target is the same origin here).
    expect(hub.log.slice(before).every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('404, an unreachable endpoint and bad ids fail with one clear message', async () => {
    const hub = await fakeHub();
    await expect(resolveHubModel('seal-test/missing', hubOptions(hub, { cacheDir: tempCache() }))).rejects.toThrow(/seal-test\/missing@main not found/);
    await expect(resolveHubModel(`${REPO}@no-such-branch`, hubOptions(hub, { cacheDir: tempCache() }))).rejects.toThrow(/@no-such-branch not found/);

    // A port that was just closed: connection refused on 127.0.0.1.
    const closed = await fakeHub();
    const endpoint = closed.endpoint;
    await closed.stop();
    const unreachable = resolveHubModel(REPO, { endpoint, cacheDir: tempCache(), offline: false, token: '' });
    await expect(unreachable).rejects.toThrow(HubError);
    await expect(unreachable).rejects.toThrow(new RegExp(`cannot reach ${endpoint}.*no network\\?.*already downloaded.*local directory`));

    await expect(resolveHubModel(REPO, { cacheDir: tempCache(), offline: true })).rejects.toThrow(/not in the cache.*HF_HUB_OFFLINE/);
    for (const bad of ['no-slash', 'a/b/c', 'org/na me', 'org/name@', '../x', 'org/--x']) {
      expect(() => parseHubId(bad), bad).toThrow(/is not a Hugging Face model id/);
    }
    expect(parseHubId('Qwen/Qwen2.5-0.5B@v1.0')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B', revision: 'v1.0' });
    // A local directory wins over the hub; a missing path that is not an id fails as before.
    expect(await resolveModel(model)).toBe(model.replace(/\/$/, ''));
    await expect(resolveModel('/nonexistent/model')).rejects.toThrow(/does not exist/);
  });

  it('seal tokenize --model org/name resolves through HF_ENDPOINT with a progress bar on stderr', async () => {
    const hub = await fakeHub();
    const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: tempCache(), HF_TOKEN: '', HF_HUB_OFFLINE: '' };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['tokenize', '--model', REPO, '--text', 'Once upon a time'])).toBe(0);
      expect(JSON.parse(String(log.mock.calls[0]![0])).ids).toEqual([1, 403, 407, 261, 378]);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/seal-test\/stories260K \[#{24}\] 1\.1 MB \/ 1\.1 MB 100%/);
      expect(await main(['tokenize', '--model', 'seal-test/missing', '--text', 'hi'])).toBe(1);
      expect(String(error.mock.calls.at(-1)![0])).toMatch(/^seal: seal-test\/missing@main not found/);
    } finally {
      log.mockRestore();
      error.mockRestore();
      stderr.mockRestore();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('draws a byte-accurate progress bar: \\r on a TTY, occasional lines otherwise', () => {
    expect([formatBytes(999), formatBytes(1_044_992), formatDuration(42), formatDuration(185), formatDuration(NaN)]).toEqual([
      '999 B',
      '1.0 MB',
      '42s',
      '3m05s',
      '?',
    ]);
    let clock = 0;
    const out: string[] = [];
    const tty = createProgressBar({ stream: { write: (t: string) => out.push(t), isTTY: true, columns: 200 }, now: () => clock, label: REPO });
    for (let b = 0; b <= 2_000_000; b += 250_000) {
      tty.update({ file: 'model.safetensors', bytes: b, total: 2_000_000 });
      clock += 500;
    }
    tty.finish();
    expect(out.every((t) => t.startsWith('\r') || t === '\n')).toBe(true);
    expect(out.at(-2)).toMatch(/\[#{24}\] 2\.0 MB \/ 2\.0 MB 100% 500\.0 kB\/s ETA 0s model\.safetensors/);
    expect(out[2]).toMatch(/ 500\.0 kB \/ 2\.0 MB 25% 500\.0 kB\/s ETA 3s/);

    clock = 0;
    const lines: string[] = [];
    const plain = createProgressBar({ stream: { write: (t: string) => lines.push(t) }, now: () => clock, lineIntervalMs: 2000 });
    for (let b = 0; b <= 1000; b += 100) {
      plain.update({ file: 'f', bytes: b, total: 1000 });
      clock += 500;
    }
    plain.finish();
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines.length).toBe(4); // at 0 s, 2 s, 4 s and the final 100% line
    expect(lines.at(-1)).toMatch(/1\.0 kB \/ 1\.0 kB 100% 200 B\/s ETA 0s f$/m);
  });
});
