/**
 * Hugging Face Hub model source: resolves `org/name[@revision]` to a local snapshot directory in the standard HF cache
 * layout (models--org--name/{blobs,snapshots,refs}), so models already downloaded by Python's huggingface_hub are reused
 * and a complete cached snapshot needs no network at all. Downloads are resumable (blobs/<etag>.incomplete + Range),
 * and a lock file per blob keeps two processes resolving the same model from downloading (or corrupting) it twice.
 * The protocol itself (ids, URLs, messages, which files) is src/model/hub-protocol.ts, shared with the browser.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import {
  authHeaders,
  COMMIT_SHA,
  DEFAULT_HUB_ENDPOINT,
  etagOf,
  HubError,
  hubHttpError,
  hubNetworkError,
  modelInfoUrl,
  normalizeEndpoint,
  parseHubId,
  parseRepoInfo,
  planModelFiles,
  repoFileSize,
  resolveUrl,
  SAFETENSORS_INDEX,
  shardFiles,
  sizeOf,
  type HubAdvice,
  type HubId,
  type RepoInfo,
} from '../src/model/hub-protocol.ts';
import { LockFile, mtimeMs, readHeldLock, removeLockIfUnchanged } from './lock-file.ts';

export { HubError, isHubId, isNeededFile, parseHubId, type HubId } from '../src/model/hub-protocol.ts';

/** Download progress over every file this resolve fetches; `bytes` only grows while a download goes forward. */
export interface DownloadProgress {
  /**
   * The file being downloaded (repo-relative). While another process holds the file's download lock, a note follows
   * the name ("model.safetensors (waiting for pid 42 on host to finish it)"): `bytes` then follows that download.
   */
  file: string;
  /** Bytes of all files fetched by this resolve so far (partial .incomplete files count), out of `total`. */
  bytes: number;
  total: number;
}

export interface HubOptions {
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Bearer token for gated/private models. Default: $HF_TOKEN, else the token file of `huggingface-cli login`. '' = none. */
  token?: string;
  /** Default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME respected). */
  cacheDir?: string;
  onProgress?: (progress: DownloadProgress) => void;
  /** Injectable for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Never touch the network (default: $HF_HUB_OFFLINE is 1/true). */
  offline?: boolean;
  /** A request whose response stays silent this long is aborted (ms, default 30 s). */
  idleTimeoutMs?: number;
  /** Attempts per file when a download breaks off midway; each later one resumes with a Range request (default 4). */
  maxAttempts?: number;
  /**
   * A download lock whose holder shows no sign of life this long (ms) is broken (default 120 s): neither its heartbeat
   * (the lock's mtime, refreshed every quarter of this) nor the .incomplete file changed. A lock of a process that no
   * longer runs on this host is broken at once.
   */
  lockStaleMs?: number;
  /** Warnings (a stale lock broken); default console.warn. */
  onWarning?: (message: string) => void;
}

/** The cache root huggingface_hub uses, from the same environment variables. */
export function defaultHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return explicit;
  return join(hfHome(env), 'hub');
}

function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
}

/** $HF_TOKEN, else the token `huggingface-cli login` saved. */
function defaultToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HF_TOKEN !== undefined) return env.HF_TOKEN;
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The folder of one repo in the cache: models--org--name. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replace('/', '--')}`);
}

/** A cached snapshot is complete when it has config.json, tokenizer.json and all safetensors weights it names. */
async function snapshotComplete(dir: string): Promise<boolean> {
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'tokenizer.json'))) return false;
  if (existsSync(join(dir, 'model.safetensors'))) return true;
  const indexPath = join(dir, SAFETENSORS_INDEX);
  if (!existsSync(indexPath)) return false;
  try {
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map?: Record<string, string> };
    const shards = new Set(Object.values(index.weight_map ?? {}));
    return shards.size > 0 && [...shards].every((s) => existsSync(join(dir, s)));
  } catch {
    return false;
  }
}

/** The commit a revision points to in the cache (refs/<revision>, or the revision itself when it is a commit hash). */
async function cachedCommit(repoDir: string, revision: string): Promise<string | null> {
  if (COMMIT_SHA.test(revision)) return revision;
  try {
    const commit = (await readFile(join(repoDir, 'refs', revision), 'utf8')).trim();
    return COMMIT_SHA.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

interface FileMeta {
  file: string;
  etag: string | null;
  size: number | null;
}

function nodeAdvice(cacheDir: string): HubAdvice {
  return {
    token: 'set HF_TOKEN to an access token',
    tokenName: 'HF_TOKEN',
    offline: `If the model is already downloaded, point HF_HUB_CACHE or HF_HOME at its cache (looked in ${cacheDir}) or set HF_HUB_OFFLINE=1; or pass a local directory with --model DIR`,
    fallback: ', or pass a local directory',
  };
}

/** Everything one resolve shares: endpoint, headers, fetch, the id (for messages). */
class HubClient {
  readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  private readonly advice: HubAdvice;

  constructor(
    readonly id: HubId,
    cacheDir: string,
    private readonly options: HubOptions,
  ) {
    this.endpoint = normalizeEndpoint(options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT);
    this.headers = authHeaders(options.token ?? defaultToken());
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.advice = nodeAdvice(cacheDir);
  }

  /** fetch with the auth header, an idle timeout (reset by `touch`) and network failures turned into a HubError. */
  async request(
    url: string,
    init: { method?: string; headers?: Record<string, string>; redirect?: RequestRedirect } = {},
  ): Promise<{ response: Response; touch: () => void; done: () => void }> {
    const controller = new AbortController();
    const idleMs = this.options.idleTimeoutMs ?? 30_000;
    let timer = setTimeout(() => controller.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
    };
    const done = () => clearTimeout(timer);
    try {
      const response = await this.fetchImpl(url, {
        method: init.method ?? 'GET',
        headers: { ...this.headers, ...init.headers },
        redirect: init.redirect,
        signal: controller.signal,
      });
      touch();
      return { response, touch, done };
    } catch (e) {
      done();
      throw hubNetworkError(e, this.endpoint, this.advice);
    }
  }

  httpError(status: number, what: string): HubError {
    return hubHttpError(status, what, this.endpoint, this.id, this.advice);
  }

  fileUrl(sha: string, file: string): string {
    return resolveUrl(this.endpoint, this.id.repo, sha, file);
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => {});
  }
  return hash.digest('hex');
}

/**
 * snapshots/<commit>/<file> → ../../blobs/<blob> (a copy where symlinks are not allowed), made under a temporary name
 * and renamed into place: two processes linking the same file at once both end with a whole link.
 */
async function linkIntoSnapshot(blobPath: string, snapshotFile: string): Promise<void> {
  await mkdir(dirname(snapshotFile), { recursive: true });
  const temp = `${snapshotFile}.${process.pid}-${randomUUID()}.tmp`;
  try {
    await symlink(relative(dirname(snapshotFile), blobPath), temp);
  } catch {
    await copyFile(blobPath, temp);
  }
  await rename(temp, snapshotFile);
}

/**
 * Resolves `org/name[@revision]` to a local snapshot directory, downloading what is missing. A revision whose cached
 * snapshot is complete resolves without any network request.
 */
export async function resolveHubModel(idText: string, options: HubOptions = {}): Promise<string> {
  const id = parseHubId(idText);
  const cacheDir = options.cacheDir ?? defaultHubCacheDir();
  const repoDir = repoCacheDir(cacheDir, id.repo);

  const cached = await cachedCommit(repoDir, id.revision);
  if (cached !== null && (await snapshotComplete(join(repoDir, 'snapshots', cached)))) return join(repoDir, 'snapshots', cached);
  const offline = options.offline ?? /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
  if (offline) {
    throw new HubError(
      `${id.repo}@${id.revision} is not in the cache ${cacheDir} and HF_HUB_OFFLINE is set: download it once with network access, or pass a local directory`,
    );
  }

  const client = new HubClient(id, cacheDir, options);
  const info = await fetchRepoInfo(client);
  const snapshotDir = join(repoDir, 'snapshots', info.sha);
  if (id.revision !== info.sha) {
    await mkdir(dirname(join(repoDir, 'refs', id.revision)), { recursive: true });
    await writeFile(join(repoDir, 'refs', id.revision), info.sha);
  }
  const names = info.siblings.map((s) => s.rfilename);
  const plan = planModelFiles(id, names);
  const blobsDir = join(repoDir, 'blobs');
  await mkdir(blobsDir, { recursive: true });
  const fetchInto = (meta: FileMeta, setBytes: (bytes: number, note?: string) => void) =>
    downloadIntoSnapshot(client, info.sha, meta, blobsDir, snapshotDir, setBytes, options);

  // A sharded checkpoint: the index comes first (before the progress starts, where it counts as done) since it says
  // which shards to fetch.
  let files = plan.files;
  const metas: FileMeta[] = [];
  if (plan.index !== null) {
    if (!existsSync(join(snapshotDir, plan.index))) {
      const meta = await fileMeta(client, info.sha, plan.index, repoFileSize(info.siblings.find((s) => s.rfilename === plan.index)));
      await fetchInto(meta, () => {});
      metas.push(meta);
    }
    files = [...files, ...shardFiles(id, await readFile(join(snapshotDir, plan.index), 'utf8'), names)];
  }
  for (const file of files.filter((f) => !existsSync(join(snapshotDir, f)))) {
    metas.push(await fileMeta(client, info.sha, file, repoFileSize(info.siblings.find((s) => s.rfilename === file))));
  }

  // Progress: total is the size of every file to fetch; bytes already in the snapshot, blobs or .incomplete files count as done.
  const total = metas.reduce((sum, m) => sum + (m.size ?? 0), 0);
  const counted = new Map<string, number>();
  const missing: FileMeta[] = [];
  for (const m of metas) {
    const linked = existsSync(join(snapshotDir, m.file));
    if (!linked) missing.push(m); // (a blob without its link still goes through fetchInto, which links it)
    const done = linked || (m.etag !== null && existsSync(join(blobsDir, m.etag)));
    counted.set(m.file, done ? (m.size ?? 0) : m.etag === null ? 0 : await fileSize(join(blobsDir, `${m.etag}.incomplete`)));
  }
  let bytes = [...counted.values()].reduce((a, b) => a + b, 0);
  const setBytes = (file: string) => (n: number, note?: string) => {
    bytes += n - counted.get(file)!;
    counted.set(file, n);
    options.onProgress?.({ file: note === undefined ? file : `${file} (${note})`, bytes, total });
  };
  if (missing.length > 0) options.onProgress?.({ file: missing[0]!.file, bytes, total });

  for (const meta of missing) await fetchInto(meta, setBytes(meta.file));
  if (!(await snapshotComplete(snapshotDir))) {
    throw new HubError(
      `${id.repo}@${id.revision}: the downloaded snapshot ${snapshotDir} lacks config.json, tokenizer.json or a safetensors shard its index names`,
    );
  }
  return snapshotDir;
}

async function fetchRepoInfo(client: HubClient): Promise<RepoInfo> {
  const url = modelInfoUrl(client.endpoint, client.id);
  const { response, done } = await client.request(url);
  try {
    if (!response.ok) throw client.httpError(response.status, 'the model info');
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new HubError(`${url} did not answer JSON: is HF_ENDPOINT (${client.endpoint}) a Hugging Face Hub?`);
    }
    return parseRepoInfo(body, url, `HF_ENDPOINT (${client.endpoint})`);
  } finally {
    done();
  }
}

/** ETag and size of one file: a HEAD on its resolve URL without following the LFS redirect (X-Linked-* headers). */
async function fileMeta(client: HubClient, sha: string, file: string, listedSize: number | null = null): Promise<FileMeta> {
  const url = client.fileUrl(sha, file);
  let { response, done } = await client.request(url, { method: 'HEAD', redirect: 'manual' });
  done();
  if (response.status >= 300 && response.status < 400 && etagOf(response.headers) === null) {
    ({ response, done } = await client.request(url, { method: 'HEAD' }));
    done();
  }
  if (response.status >= 400) throw client.httpError(response.status, file);
  return { file, etag: etagOf(response.headers), size: sizeOf(response) ?? listedSize };
}

/**
 * Puts one file into the snapshot: its blob (downloaded under the blob's lock unless already there, or reused when
 * another process finished it meanwhile), then the snapshot link. `setBytes` gets this file's bytes so far.
 */
async function downloadIntoSnapshot(
  client: HubClient,
  sha: string,
  meta: FileMeta,
  blobsDir: string,
  snapshotDir: string,
  setBytes: (bytes: number, note?: string) => void,
  options: HubOptions,
): Promise<void> {
  const snapshotFile = join(snapshotDir, meta.file);
  const etagBlob = meta.etag === null ? null : join(blobsDir, meta.etag);
  // Without an ETag the blob's name (the content's sha256) is known only afterwards: the snapshot link tells instead.
  const finished = () => (etagBlob !== null ? existsSync(etagBlob) : existsSync(snapshotFile));
  const partName = meta.etag ?? `nometa-${createHash('sha256').update(`${sha}/${meta.file}`).digest('hex')}`;
  const incomplete = join(blobsDir, `${partName}.incomplete`);

  if (!finished()) {
    const lock = await BlobLock.acquire(join(blobsDir, `${partName}.lock`), {
      finished,
      incomplete,
      staleMs: options.lockStaleMs ?? 120_000,
      onWait: async (holder) => setBytes(await fileSize(incomplete), `waiting for ${holder} to finish it`),
      warn: options.onWarning ?? ((message) => console.warn(`warning: ${message}`)),
    });
    if (lock !== null) {
      try {
        const blobPath = await downloadBlob(client, sha, meta, incomplete, blobsDir, setBytes, options.maxAttempts ?? 4);
        await linkIntoSnapshot(blobPath, snapshotFile);
      } finally {
        lock.release();
      }
    }
  }
  if (etagBlob !== null && !existsSync(snapshotFile)) await linkIntoSnapshot(etagBlob, snapshotFile);
  setBytes(meta.size ?? (await fileSize(snapshotFile)));
}

/**
 * Downloads one file into blobs/ (named by its ETag, else by the sha256 of its content) through `<name>.incomplete`,
 * resuming a partial file with a Range request; returns the blob path. The caller holds the blob's lock.
 */
async function downloadBlob(
  client: HubClient,
  sha: string,
  meta: FileMeta,
  incomplete: string,
  blobsDir: string,
  setBytes: (bytes: number) => void,
  maxAttempts: number,
): Promise<string> {
  const url = client.fileUrl(sha, meta.file);
  let lastError: unknown = null;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let have = await fileSize(incomplete);
    if (meta.size !== null && have > meta.size) {
      await rm(incomplete, { force: true });
      have = 0;
    }
    setBytes(have);
    if (meta.size !== null && have === meta.size && have > 0) break;
    const { response, touch, done } = await client.request(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
    try {
      if (response.status === 416 || (response.status === 200 && have > 0)) {
        // The server cannot (or will not) resume: start over from byte zero.
        await rm(incomplete, { force: true });
        have = 0;
        setBytes(0);
        if (response.status === 416) {
          lastError = new HubError(`${meta.file}: the server refused to resume (HTTP 416)`);
          continue;
        }
      } else if (!response.ok) {
        throw client.httpError(response.status, meta.file);
      } else if (response.status === 206 && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`)) {
        throw new HubError(`${meta.file}: the server answered a resume from byte ${have} with Content-Range '${response.headers.get('content-range')}'`);
      }
      const length = Number(response.headers.get('content-length') ?? NaN);
      const expected = Number.isSafeInteger(length) ? have + length : meta.size;
      if (meta.size !== null && expected !== null && expected !== meta.size) {
        throw new HubError(`${meta.file}: Content-Length says ${expected} bytes but the hub announced ${meta.size}`);
      }
      const handle = await open(incomplete, have > 0 ? 'a' : 'w');
      try {
        if (response.body === null) throw new HubError(`${meta.file}: empty response body`);
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          touch();
          await handle.write(chunk);
          have += chunk.byteLength;
          setBytes(have);
        }
      } catch (e) {
        if (e instanceof HubError) throw e;
        lastError = e; // connection dropped midway: the next attempt resumes from what reached the disk
        continue;
      } finally {
        await handle.close();
      }
      const got = await fileSize(incomplete);
      if (expected !== null && got !== expected) {
        lastError = new Error(`got ${got} of ${expected} bytes`);
        continue;
      }
      lastError = null;
      break;
    } finally {
      done();
    }
  }
  if (lastError !== null) {
    if (lastError instanceof HubError) throw lastError;
    throw new HubError(
      `${meta.file} of ${client.id.repo}: the download broke off ${maxAttempts} times (${(lastError as Error).message}); run again to resume from ${incomplete}`,
    );
  }
  // An LFS ETag is the sha256 of the content: check it, so a resume onto changed bytes never becomes a blob.
  const contentHash = meta.etag === null || /^[0-9a-f]{64}$/.test(meta.etag) ? await sha256File(incomplete) : null;
  if (meta.etag !== null && contentHash !== null && contentHash !== meta.etag) {
    await rm(incomplete, { force: true });
    throw new HubError(
      `${meta.file} of ${client.id.repo}: the downloaded bytes do not match their sha256 ${meta.etag} (deleted them): run again to download afresh`,
    );
  }
  const blobPath = join(blobsDir, meta.etag ?? contentHash!);
  await rename(incomplete, blobPath);
  return blobPath;
}

interface LockOptions {
  /** True once the blob exists: waiting ends without downloading. */
  finished: () => boolean;
  /** The holder's partial download: its growth is a sign of life (and the waiter's progress). */
  incomplete: string;
  staleMs: number;
  /** Called on each poll while another live process holds the lock (`holder`: "pid 42 on host"). */
  onWait: (holder: string) => Promise<void>;
  warn: (message: string) => void;
}

const LOCK_POLL_MS = 100;

/**
 * The download lock of one blob: `<blob>.lock`, created with O_EXCL ('wx') so exactly one process gets it. The holder
 * refreshes its mtime (a heartbeat) until release; waiters poll, and break a lock whose pid is dead on this host or
 * that shows no sign of life (heartbeat or .incomplete growth) for `staleMs`.
 */
class BlobLock {
  /** The lock, or null when the blob was finished (by another process) before or while waiting. */
  static async acquire(path: string, options: LockOptions): Promise<LockFile | null> {
    for (;;) {
      if (options.finished()) return null;
      const lock = await LockFile.tryCreate(path, Math.max(10, options.staleMs / 4), Date.now());
      if (!lock) {
        await BlobLock.waitOrBreak(path, options);
        continue;
      }
      // The previous holder may have finished between our check and our create.
      if (options.finished()) {
        lock.release();
        return null;
      }
      return lock;
    }
  }

  /** One poll of a lock held by someone else: break it when stale, else report the wait and sleep. */
  private static async waitOrBreak(path: string, options: LockOptions): Promise<void> {
    const held = await readHeldLock(path);
    if (!held) return; // released meanwhile
    const quietMs = Date.now() - Math.max(await mtimeMs(path), await mtimeMs(options.incomplete));
    const reason = held.deadOnThisHost
      ? `${held.who} no longer runs`
      : quietMs > options.staleMs
        ? `${held.who} showed no progress for ${(quietMs / 1000).toFixed(1)} s`
        : null;
    if (reason !== null) {
      if (await removeLockIfUnchanged(path, held.text)) options.warn(`broke the stale download lock ${path}: ${reason}`);
      return;
    }
    await options.onWait(held.who);
    await new Promise((ok) => setTimeout(ok, LOCK_POLL_MS));
  }
}
