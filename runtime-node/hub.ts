/**
 * Hugging Face Hub model source: resolves `org/name[@revision]` to a local snapshot directory in the standard HF cache
 * layout (models--org--name/{blobs,snapshots,refs}), so models already downloaded by Python's huggingface_hub are reused
 * and a complete cached snapshot needs no network at all. Downloads are resumable (blobs/<etag>.incomplete + Range).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, symlink, copyFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';

/** A Hub id could not be resolved; the message says why and what to do. */
export class HubError extends Error {}

/** Download progress over every file this resolve fetches; `bytes` only grows while a download goes forward. */
export interface DownloadProgress {
  /** The file being downloaded (repo-relative). */
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
}

export interface HubId {
  repo: string;
  revision: string;
}

const REPO_PART = /^[A-Za-z0-9][\w.-]*$/;

/** True when `text` has the shape org/name[@revision] (say nothing about whether it exists). */
export function isHubId(text: string): boolean {
  try {
    parseHubId(text);
    return true;
  } catch {
    return false;
  }
}

/** Splits `org/name[@revision]` (revision defaults to main); throws a HubError for anything else. */
export function parseHubId(text: string): HubId {
  const at = text.indexOf('@');
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? 'main' : text.slice(at + 1);
  const parts = repo.split('/');
  const valid = parts.length === 2 && parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..') && !p.endsWith('.'))
    && repo.length <= 96 && revision !== '' && !/\s|\.\./.test(revision) && !revision.startsWith('/');
  if (!valid) {
    throw new HubError(`'${text}' is not a Hugging Face model id: use org/name or org/name@revision (e.g. Qwen/Qwen2.5-0.5B-Instruct@main), or pass a local directory`);
  }
  return { repo, revision };
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

/** The files of a repo that loading needs: configs, tokenizer files, safetensors weights (never .bin/.pt/.gguf). */
export function isNeededFile(name: string): boolean {
  if (name.includes('/')) return false;
  return ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json']
    .includes(name) || name.endsWith('.safetensors');
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The folder of one repo in the cache: models--org--name. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replace('/', '--')}`);
}

/** A cached snapshot is complete when it has config.json, tokenizer.json and all safetensors weights it names. */
async function snapshotComplete(dir: string): Promise<boolean> {
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'tokenizer.json'))) return false;
  if (existsSync(join(dir, 'model.safetensors'))) return true;
  const indexPath = join(dir, 'model.safetensors.index.json');
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
  if (COMMIT.test(revision)) return revision;
  try {
    const commit = (await readFile(join(repoDir, 'refs', revision), 'utf8')).trim();
    return COMMIT.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

interface RepoInfo {
  sha: string;
  siblings: { rfilename: string; size?: number }[];
}

interface FileMeta {
  file: string;
  etag: string | null;
  size: number | null;
}

/** Everything one resolve shares: endpoint, headers, fetch, the id (for messages). */
class HubClient {
  readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(readonly id: HubId, readonly cacheDir: string, private readonly options: HubOptions) {
    this.endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
    const token = options.token ?? defaultToken();
    this.headers = token ? { authorization: `Bearer ${token}` } : {};
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  /** fetch with the auth header, an idle timeout (reset by `touch`) and network failures turned into a HubError. */
  async request(url: string, init: { method?: string; headers?: Record<string, string>; redirect?: RequestRedirect } = {}): Promise<{ response: Response; touch: () => void; done: () => void }> {
    const controller = new AbortController();
    const idleMs = this.options.idleTimeoutMs ?? 30_000;
    let timer = setTimeout(() => controller.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
    };
    const done = () => clearTimeout(timer);
    try {
      const response = await this.fetchImpl(url, { method: init.method ?? 'GET', headers: { ...this.headers, ...init.headers }, redirect: init.redirect, signal: controller.signal });
      touch();
      return { response, touch, done };
    } catch (e) {
      done();
      throw this.networkError(e);
    }
  }

  networkError(e: unknown): HubError {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    return new HubError(`cannot reach ${this.endpoint} (${why}): no network? If the model is already downloaded, point HF_HUB_CACHE or HF_HOME at its cache (looked in ${this.cacheDir}) or set HF_HUB_OFFLINE=1; or pass a local directory with --model DIR`);
  }

  /** One message per HTTP failure, naming the fix. */
  httpError(status: number, what: string): HubError {
    const { repo, revision } = this.id;
    if (status === 401 || status === 403) {
      return new HubError(`${repo} is a gated or private model (HTTP ${status} for ${what}): accept its licence on the hub (${this.endpoint}/${repo}) and set HF_TOKEN to an access token`);
    }
    if (status === 404) {
      return new HubError(`${repo}@${revision} not found on ${this.endpoint} (HTTP 404 for ${what}): check the model id and revision (private models also need HF_TOKEN)`);
    }
    return new HubError(`${this.endpoint} answered HTTP ${status} for ${what} of ${repo}@${revision}: try again later, or pass a local directory`);
  }
}

function encodePath(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

function etagOf(headers: Headers): string | null {
  const raw = headers.get('x-linked-etag') ?? headers.get('etag');
  if (raw === null) return null;
  const etag = raw.replace(/^W\//, '').replace(/"/g, '');
  return /^[\w.-]+$/.test(etag) ? etag : null;
}

/** The file's size: X-Linked-Size, else Content-Length (not of a redirect, whose body is not the file). */
function sizeOf(response: Response): number | null {
  const isRedirect = response.status >= 300 && response.status < 400;
  const raw = response.headers.get('x-linked-size') ?? (isRedirect ? null : response.headers.get('content-length'));
  const n = raw === null ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
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

/** snapshots/<commit>/<file> → ../../blobs/<blob> (a copy where symlinks are not allowed). */
async function linkIntoSnapshot(blobPath: string, snapshotFile: string): Promise<void> {
  await mkdir(dirname(snapshotFile), { recursive: true });
  await rm(snapshotFile, { force: true });
  try {
    await symlink(relative(dirname(snapshotFile), blobPath), snapshotFile);
  } catch {
    await copyFile(blobPath, snapshotFile);
  }
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
    throw new HubError(`${id.repo}@${id.revision} is not in the cache ${cacheDir} and HF_HUB_OFFLINE is set: download it once with network access, or pass a local directory`);
  }

  const client = new HubClient(id, cacheDir, options);
  const info = await fetchRepoInfo(client);
  const snapshotDir = join(repoDir, 'snapshots', info.sha);
  if (id.revision !== info.sha) {
    await mkdir(dirname(join(repoDir, 'refs', id.revision)), { recursive: true });
    await writeFile(join(repoDir, 'refs', id.revision), info.sha);
  }

  const names = info.siblings.map((s) => s.rfilename).filter(isNeededFile);
  if (!names.includes('config.json')) throw new HubError(`${id.repo}@${id.revision} has no config.json: it is not a transformers model repo`);
  if (!names.some((n) => n.endsWith('.safetensors'))) {
    throw new HubError(`${id.repo}@${id.revision} has no .safetensors weights (only safetensors checkpoints are supported): pick a repo or revision with safetensors, or convert the weights and pass a local directory`);
  }

  const missing = names.filter((n) => !existsSync(join(snapshotDir, n)));
  const metas: FileMeta[] = [];
  for (const file of missing) metas.push(await fileMeta(client, info.sha, file, info.siblings.find((s) => s.rfilename === file)?.size));

  // Progress: total is the size of every file to fetch; bytes already in blobs or .incomplete files count as done.
  const blobsDir = join(repoDir, 'blobs');
  await mkdir(blobsDir, { recursive: true });
  const total = metas.reduce((sum, m) => sum + (m.size ?? 0), 0);
  let bytes = 0;
  for (const m of metas) {
    if (m.etag === null) continue;
    bytes += existsSync(join(blobsDir, m.etag)) ? (m.size ?? 0) : await fileSize(join(blobsDir, `${m.etag}.incomplete`));
  }
  const report = (file: string, delta: number) => {
    bytes += delta;
    options.onProgress?.({ file, bytes, total });
  };
  if (metas.length > 0) options.onProgress?.({ file: metas[0]!.file, bytes, total });

  for (const meta of metas) {
    const blobPath = await downloadBlob(client, info.sha, meta, blobsDir, (delta) => report(meta.file, delta), options.maxAttempts ?? 4);
    await linkIntoSnapshot(blobPath, join(snapshotDir, meta.file));
  }
  if (!(await snapshotComplete(snapshotDir))) {
    throw new HubError(`${id.repo}@${id.revision}: the downloaded snapshot ${snapshotDir} lacks config.json, tokenizer.json or a safetensors shard its index names`);
  }
  return snapshotDir;
}

async function fetchRepoInfo(client: HubClient): Promise<RepoInfo> {
  const { repo, revision } = client.id;
  const url = `${client.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const { response, done } = await client.request(url);
  try {
    if (!response.ok) throw client.httpError(response.status, 'the model info');
    let body: unknown;
    try {
      body = await response.json();
    } catch (e) {
      if (e instanceof HubError) throw e;
      throw new HubError(`${url} did not answer JSON: is HF_ENDPOINT (${client.endpoint}) a Hugging Face Hub?`);
    }
    const info = body as Partial<RepoInfo>;
    if (typeof info.sha !== 'string' || !COMMIT.test(info.sha) || !Array.isArray(info.siblings)) {
      throw new HubError(`${url} answered without "sha" and "siblings": is HF_ENDPOINT (${client.endpoint}) a Hugging Face Hub?`);
    }
    return { sha: info.sha, siblings: info.siblings.filter((s) => typeof s?.rfilename === 'string') };
  } finally {
    done();
  }
}

/** ETag and size of one file: a HEAD on its resolve URL without following the LFS redirect (X-Linked-* headers). */
async function fileMeta(client: HubClient, sha: string, file: string, apiSize: number | undefined): Promise<FileMeta> {
  const url = `${client.endpoint}/${client.id.repo}/resolve/${sha}/${encodePath(file)}`;
  let { response, done } = await client.request(url, { method: 'HEAD', redirect: 'manual' });
  done();
  if (response.status >= 300 && response.status < 400 && etagOf(response.headers) === null) {
    ({ response, done } = await client.request(url, { method: 'HEAD' }));
    done();
  }
  if (response.status >= 400) throw client.httpError(response.status, file);
  return { file, etag: etagOf(response.headers), size: sizeOf(response) ?? apiSize ?? null };
}

/**
 * Downloads one file into blobs/ (named by its ETag, else by the sha256 of its content) through `<name>.incomplete`,
 * resuming a partial file with a Range request; returns the blob path.
 */
async function downloadBlob(client: HubClient, sha: string, meta: FileMeta, blobsDir: string, onBytes: (delta: number) => void, maxAttempts: number): Promise<string> {
  if (meta.etag !== null && existsSync(join(blobsDir, meta.etag))) return join(blobsDir, meta.etag);
  const url = `${client.endpoint}/${client.id.repo}/resolve/${sha}/${encodePath(meta.file)}`;
  const partName = meta.etag ?? `nometa-${createHash('sha256').update(`${sha}/${meta.file}`).digest('hex')}`;
  const incomplete = join(blobsDir, `${partName}.incomplete`);
  let lastError: unknown = null;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let have = await fileSize(incomplete);
    if (meta.size !== null && have > meta.size) {
      await rm(incomplete, { force: true });
      onBytes(-have);
      have = 0;
    }
    if (meta.size !== null && have === meta.size && have > 0) break;
    const { response, touch, done } = await client.request(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
    try {
      if (response.status === 416 || (response.status === 200 && have > 0)) {
        // The server cannot (or will not) resume: start over from byte zero.
        await rm(incomplete, { force: true });
        onBytes(-have);
        have = 0;
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
          onBytes(chunk.byteLength);
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
    throw new HubError(`${meta.file} of ${client.id.repo}: the download broke off ${maxAttempts} times (${(lastError as Error).message}); run again to resume from ${incomplete}`);
  }
  // An LFS ETag is the sha256 of the content: check it, so a resume onto changed bytes never becomes a blob.
  const contentHash = meta.etag === null || /^[0-9a-f]{64}$/.test(meta.etag) ? await sha256File(incomplete) : null;
  if (meta.etag !== null && contentHash !== null && contentHash !== meta.etag) {
    await rm(incomplete, { force: true });
    throw new HubError(`${meta.file} of ${client.id.repo}: the downloaded bytes do not match their sha256 ${meta.etag} (deleted them): run again to download afresh`);
  }
  const blobPath = join(blobsDir, meta.etag ?? contentHash!);
  await rename(incomplete, blobPath);
  return blobPath;
}
