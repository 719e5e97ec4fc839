/**
 * HTTP against the Hub: the repo info, each file's ETag and size, and resumable blob downloads
 * (blobs/<etag>.incomplete grown with Range requests, its sha256 checked against an LFS ETag, fsync'd and moved to
 * blobs/<etag>). The protocol itself (ids, URLs, messages) is src/model/hub-protocol.ts, shared with the browser.
 */
import { createHash } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  authHeaders,
  DEFAULT_HUB_ENDPOINT,
  etagOf,
  HubError,
  type HubAdvice,
  type HubId,
  hubHttpError,
  hubNetworkError,
  modelInfoUrl,
  normalizeEndpoint,
  parseRepoInfo,
  type RepoInfo,
  resolveUrl,
  sizeOf,
} from '../src/model/hub-protocol.ts';
import { moveIntoPlace } from './durable-write.ts';
import { defaultToken } from './hub-cache.ts';

/** How one resolve talks to the Hub. */
export interface HubClientOptions {
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Bearer token for gated/private models. Default: $HF_TOKEN, else the token file of `huggingface-cli login`. '' = none. */
  token?: string;
  /** Injectable for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** A request whose response stays silent this long is aborted (ms, default 30 s). */
  idleTimeoutMs?: number;
}

export interface FileMeta {
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
export class HubClient {
  readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  private readonly advice: HubAdvice;

  constructor(
    readonly id: HubId,
    cacheDir: string,
    private readonly options: HubClientOptions,
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

export async function fileSize(path: string): Promise<number> {
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

export async function fetchRepoInfo(client: HubClient): Promise<RepoInfo> {
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
export async function fileMeta(client: HubClient, sha: string, file: string, listedSize: number | null = null): Promise<FileMeta> {
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
 * Downloads one file into blobs/ (named by its ETag, else by the sha256 of its content) through `<name>.incomplete`,
 * resuming a partial file with a Range request; returns the blob path. The caller holds the blob's lock.
 */
export async function downloadBlob(
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
  await moveIntoPlace(incomplete, blobPath);
  return blobPath;
}
