/**
 * Hugging Face Hub models in the browser: `org/name[@revision]` → the files the model needs, fetched with streamed
 * bodies (byte-accurate progress), kept in OPFS or Cache Storage (runtime-browser/model-store.ts) so a second load
 * makes no request at all, and read back as Blobs, range by range, into the GPU. Works wherever fetch does (pages,
 * workers, Deno; Node with cache: 'none').
 */
import type { GpuContext } from '../src/gpu/context.ts';
import {
  authHeaders,
  DEFAULT_HUB_ENDPOINT,
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
  shardFiles,
  sizeOf,
  type HubAdvice,
  type HubId,
  type RepoInfo,
} from '../src/model/hub-protocol.ts';
import { loadModel, type LoadedModel, type ModelFiles } from '../src/inference/load-model.ts';
import type { TransformerOptions } from '../src/inference/transformer.ts';
import { blobModelFiles } from './blob-source.ts';
import { openModelStore, type HubCacheMode, type ModelStore } from './model-store.ts';

export { HubError, type HubId } from '../src/model/hub-protocol.ts';
export type { HubCacheMode } from './model-store.ts';

/** Download progress. `overallLoaded` only grows while downloads go forward, and ends at `overallTotal`. */
export interface HubProgress {
  /** The file being downloaded (repo-relative). */
  file: string;
  /** Bytes of this file so far, out of `total`. */
  loaded: number;
  total: number;
  /** Bytes of all the model's files so far (files already cached count), out of the sum of their sizes. */
  overallLoaded: number;
  overallTotal: number;
}

export interface BrowserHubOptions {
  /** Default https://huggingface.co. */
  endpoint?: string;
  /** Access token for gated or private models, sent as a Bearer header. */
  token?: string;
  /**
   * Where files are kept: 'opfs' (default; a failed download resumes with a Range request), 'cache-storage', or
   * 'none' (memory only: every load downloads). A revision once cached loads from the cache without asking the hub
   * whether a branch moved: pass a commit, or deleteCachedModel(), to update.
   */
  cache?: HubCacheMode;
  /** The Cache Storage cache (default 'seal-hub'). */
  cacheName?: string;
  onProgress?: (progress: HubProgress) => void;
  /** Aborts the downloads; an OPFS download keeps its bytes for the next load to resume. */
  signal?: AbortSignal;
  /** Attempts per file when a download breaks off midway (default 3); OPFS and memory resume where it stopped. */
  maxAttempts?: number;
  /** Injectable for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface HubFiles {
  id: HubId;
  /** The commit the files are from. */
  commit: string;
  /** Every file the model needs, by repo-relative name. */
  blobs: Map<string, Blob>;
  /** True when everything came from the cache, without a single request. */
  fromCache: boolean;
  /** The same files for loadModel(). */
  files: ModelFiles;
}

export interface HubModel extends LoadedModel {
  id: HubId;
  commit: string;
  fromCache: boolean;
}

const ADVICE: HubAdvice = {
  token: 'pass an access token: loadHubModel(ctx, id, { token })',
  tokenName: 'a token',
  offline: `(A page gets this too when the server does not allow cross-origin requests.) A model loaded once with cache: 'opfs' or 'cache-storage' loads again without network.`,
  fallback: '',
};

/** Fetches (or finds in the cache) every file `org/name[@revision]` needs. */
export async function fetchHubFiles(idText: string, options: BrowserHubOptions = {}): Promise<HubFiles> {
  const id = parseHubId(idText);
  const store = await openModelStore(options.cache ?? 'opfs', id, options.cacheName);
  const where = `${id.repo}@${id.revision}`;

  const cached = await storedFiles(store);
  if (cached !== null) return { id, commit: cached.commit, blobs: cached.blobs, fromCache: true, files: blobModelFiles(cached.blobs, where) };

  const client = new BrowserHubClient(id, options);
  const info = await client.repoInfo();
  const names = info.siblings.map((s) => s.rfilename);
  const plan = planModelFiles(id, names);
  const sizes = new Map<string, number>();
  const sizeOfFile = async (file: string) => {
    const size = repoFileSize(info.siblings.find((s) => s.rfilename === file)) ?? (await client.headSize(info.sha, file));
    sizes.set(file, size);
    return size;
  };
  const download = (file: string, onBytes: (loaded: number) => void) =>
    downloadFile(client, store, info.sha, file, sizes.get(file)!, onBytes, options.maxAttempts ?? 3);

  // A sharded checkpoint: the index first (it names the shards), before the progress starts; it counts as done.
  const blobs = new Map<string, Blob>();
  let files = plan.files;
  if (plan.index !== null) {
    const size = await sizeOfFile(plan.index);
    const stored = await store.get(plan.index);
    const index = stored !== null && stored.size === size ? stored : await download(plan.index, () => {});
    blobs.set(plan.index, index);
    files = [...files, ...shardFiles(id, await index.text(), names)];
  }
  for (const file of files) if (!sizes.has(file)) await sizeOfFile(file);

  // What the store has already: complete files, and partial ones to resume.
  const counted = new Map<string, number>();
  for (const file of files) {
    const size = sizes.get(file)!;
    const stored = blobs.get(file) ?? (await store.get(file));
    if (stored !== null && stored.size === size) blobs.set(file, stored);
    counted.set(file, blobs.has(file) ? size : Math.min(size, await store.partialSize(file)));
  }
  const overallTotal = files.reduce((sum, f) => sum + sizes.get(f)!, 0);
  let overallLoaded = [...counted.values()].reduce((a, b) => a + b, 0);
  const missing = files.filter((f) => !blobs.has(f));
  await checkQuota(store, id, overallTotal - overallLoaded);

  const report = (file: string, loaded: number) => {
    overallLoaded += loaded - counted.get(file)!;
    counted.set(file, loaded);
    options.onProgress?.({ file, loaded, total: sizes.get(file)!, overallLoaded, overallTotal });
  };
  if (missing.length > 0) report(missing[0]!, counted.get(missing[0]!)!);
  for (const file of missing) {
    try {
      blobs.set(file, await download(file, (loaded) => report(file, loaded)));
    } catch (e) {
      if ((e as DOMException | null)?.name === 'QuotaExceededError') throw await quotaError(store, id, overallTotal - overallLoaded);
      throw e;
    }
  }
  await store.writeManifest({ repo: id.repo, revision: id.revision, commit: info.sha, files: Object.fromEntries(files.map((f) => [f, sizes.get(f)!])) });
  return { id, commit: info.sha, blobs, fromCache: false, files: blobModelFiles(blobs, where) };
}

/** What a hub model is before its weights are downloaded: every file it needs with its size, and its config.json. */
export interface HubModelOutline {
  id: HubId;
  commit: string;
  /** Repo-relative name -> bytes, for every file a load downloads (a sharded checkpoint's index and shards included). */
  files: Record<string, number>;
  configText: string;
  /** True when the cache holds the whole model (nothing to download). */
  fromCache: boolean;
}

/**
 * The model's files and sizes and its config.json, asking the hub only for the model info and config.json (and a
 * sharded checkpoint's index), never a weight; from the cache alone when it holds the model.
 */
export async function outlineHubModel(
  idText: string,
  options: Pick<BrowserHubOptions, 'endpoint' | 'token' | 'cache' | 'cacheName' | 'signal' | 'fetch'> = {},
): Promise<HubModelOutline> {
  const id = parseHubId(idText);
  const store = await openModelStore(options.cache ?? 'opfs', id, options.cacheName);
  const cached = await storedFiles(store);
  const cachedConfig = cached?.blobs.get('config.json');
  if (cached && cachedConfig) {
    const files = Object.fromEntries([...cached.blobs].map(([name, blob]) => [name, blob.size]));
    return { id, commit: cached.commit, files, configText: await cachedConfig.text(), fromCache: true };
  }
  const client = new BrowserHubClient(id, options);
  const info = await client.repoInfo();
  const names = info.siblings.map((s) => s.rfilename);
  const plan = planModelFiles(id, names);
  const files = plan.index === null ? plan.files : [...plan.files, ...shardFiles(id, await client.text(info.sha, plan.index), names)];
  const sizes: Record<string, number> = {};
  for (const file of files) sizes[file] = repoFileSize(info.siblings.find((s) => s.rfilename === file)) ?? (await client.headSize(info.sha, file));
  return { id, commit: info.sha, files: sizes, configText: await client.text(info.sha, 'config.json'), fromCache: false };
}

/** fetchHubFiles, then config, tokenizer, chat template and weights onto the GPU (read from the blobs range by range). */
export async function loadHubModel(ctx: GpuContext, idText: string, options: BrowserHubOptions & { transformer?: TransformerOptions } = {}): Promise<HubModel> {
  const hub = await fetchHubFiles(idText, options);
  const model = await loadModel(ctx, hub.files, options.transformer);
  return { ...model, id: hub.id, commit: hub.commit, fromCache: hub.fromCache };
}

/** Deletes what the cache holds for `org/name[@revision]` (finished files, partial downloads, the manifest). */
export async function deleteCachedModel(idText: string, options: Pick<BrowserHubOptions, 'cache' | 'cacheName'> = {}): Promise<void> {
  await (await openModelStore(options.cache ?? 'opfs', parseHubId(idText), options.cacheName)).clear();
}

/** The files of a finished download, when the store still has every one at its recorded size. */
async function storedFiles(store: ModelStore): Promise<{ commit: string; blobs: Map<string, Blob> } | null> {
  const manifest = await store.readManifest();
  if (manifest === null) return null;
  const blobs = new Map<string, Blob>();
  for (const [name, size] of Object.entries(manifest.files)) {
    const blob = await store.get(name);
    if (blob === null || blob.size !== size) return null;
    blobs.set(name, blob);
  }
  return { commit: manifest.commit, blobs };
}

/** fetch with the token, the caller's signal, and failures before any HTTP status turned into a HubError. */
class BrowserHubClient {
  readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  readonly signal: AbortSignal | undefined;

  constructor(
    readonly id: HubId,
    options: BrowserHubOptions,
  ) {
    this.endpoint = normalizeEndpoint(options.endpoint ?? DEFAULT_HUB_ENDPOINT);
    this.signal = options.signal;
    this.headers = authHeaders(options.token);
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async request(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    try {
      // no-store: the model goes to OPFS / Cache Storage, not a second time into the HTTP cache.
      return await this.fetchImpl(url, { method: init.method ?? 'GET', headers: { ...this.headers, ...init.headers }, signal: this.signal, cache: 'no-store' });
    } catch (e) {
      if (this.signal?.aborted) throw e;
      throw hubNetworkError(e, this.endpoint, ADVICE);
    }
  }

  httpError(status: number, what: string): HubError {
    return hubHttpError(status, what, this.endpoint, this.id, ADVICE);
  }

  fileUrl(commit: string, file: string): string {
    return resolveUrl(this.endpoint, this.id.repo, commit, file);
  }

  /** Commit and file list, with sizes (?blobs=true). */
  async repoInfo(): Promise<RepoInfo> {
    const url = modelInfoUrl(this.endpoint, this.id, { blobs: true });
    const response = await this.request(url);
    if (!response.ok) throw this.httpError(response.status, 'the model info');
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new HubError(`${url} did not answer JSON: is ${this.endpoint} a Hugging Face Hub?`);
    }
    return parseRepoInfo(body, url, this.endpoint);
  }

  /** A small file's text (config.json, an index). */
  async text(commit: string, file: string): Promise<string> {
    const response = await this.request(this.fileUrl(commit, file));
    if (!response.ok) throw this.httpError(response.status, file);
    return response.text();
  }

  /** A file's size when the model info did not say: a HEAD on its resolve URL (following the redirect). */
  async headSize(commit: string, file: string): Promise<number> {
    const response = await this.request(this.fileUrl(commit, file), { method: 'HEAD' });
    if (!response.ok) throw this.httpError(response.status, file);
    const size = sizeOf(response);
    if (size === null) throw new HubError(`${this.endpoint} gave no size for ${file} of ${this.id.repo}: cannot download it with progress`);
    return size;
  }
}

/**
 * Downloads one file into the store, resuming a kept partial file with a Range request; `onBytes` gets the file's
 * bytes so far. Returns the complete file.
 */
async function downloadFile(
  client: BrowserHubClient,
  store: ModelStore,
  commit: string,
  file: string,
  size: number,
  onBytes: (loaded: number) => void,
  maxAttempts: number,
): Promise<Blob> {
  let lastError: unknown = null;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let offset = store.resumable ? await store.partialSize(file) : 0;
    if (offset > size) {
      await store.discardPartial(file);
      offset = 0;
    }
    onBytes(offset);
    let body: ReadableStream<Uint8Array>;
    let start = offset;
    if (offset === size && size > 0)
      body = new ReadableStream({ start: (c) => c.close() }); // complete but never renamed
    else {
      const response = await client.request(client.fileUrl(commit, file), { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
      if (response.status === 416) {
        await store.discardPartial(file);
        lastError = new HubError(`${file}: the server refused to resume (HTTP 416)`);
        continue;
      }
      if (!response.ok) throw client.httpError(response.status, file);
      if (response.status === 206 && !(response.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
        throw new HubError(`${file}: the server answered a resume from byte ${offset} with Content-Range '${response.headers.get('content-range')}'`);
      }
      if (response.status !== 206) start = 0; // no resume: from byte zero
      if (response.body === null) throw new HubError(`${file}: empty response body`);
      body = response.body;
    }
    try {
      const blob = await store.put(file, countBytes(body, start, size, file, onBytes), start);
      if (blob.size !== size) throw new HubError(`${file}: stored ${blob.size} bytes, the hub announced ${size}`);
      return blob;
    } catch (e) {
      if (e instanceof HubError || client.signal?.aborted || (e as DOMException | null)?.name === 'QuotaExceededError') throw e;
      lastError = e; // the connection broke off midway: the next attempt resumes from what was kept
    }
  }
  const resume = store.resumable && store.mode !== 'none' ? '; load again to resume' : '';
  throw new HubError(`${file} of ${client.id.repo}: the download broke off ${maxAttempts} times (${(lastError as Error).message})${resume}`);
}

/**
 * The body, counted as the store takes it: a chunk counts (and `onBytes` reports it) once the store asks for the
 * next one, i.e. after it wrote this one, so the progress never runs ahead of what a resume would start from. A
 * body longer or shorter than the announced size is an error.
 */
function countBytes(
  body: ReadableStream<Uint8Array>,
  start: number,
  size: number,
  file: string,
  onBytes: (loaded: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let loaded = start;
  let handedOut = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (handedOut > 0) {
          loaded += handedOut;
          handedOut = 0;
          onBytes(loaded);
        }
        const { done, value } = await reader.read();
        if (done) {
          if (loaded !== size) throw new Error(`got ${loaded} of ${size} bytes`);
          controller.close();
          return;
        }
        if (loaded + value.byteLength > size) throw new HubError(`${file}: the server sent more than the ${size} bytes the hub announced`);
        handedOut = value.byteLength;
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Refuses up front a download the origin's storage quota cannot hold. */
async function checkQuota(store: ModelStore, id: HubId, needed: number): Promise<void> {
  if (store.mode === 'none' || needed <= 0) return;
  const estimate = await storageEstimate();
  if (estimate !== null && needed > estimate.quota - estimate.usage) throw await quotaError(store, id, needed, estimate);
}

async function storageEstimate(): Promise<{ quota: number; usage: number } | null> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.estimate !== 'function') return null;
  const { quota, usage } = await storage.estimate().catch(() => ({ quota: undefined, usage: undefined }));
  return quota === undefined || usage === undefined ? null : { quota, usage };
}

async function quotaError(store: ModelStore, id: HubId, needed: number, known?: { quota: number; usage: number }): Promise<HubError> {
  const estimate = known ?? (await storageEstimate());
  const room =
    estimate === null
      ? 'the browser refused to store more'
      : `only ${mb(Math.max(0, estimate.quota - estimate.usage))} is free (quota ${mb(estimate.quota)}, used ${mb(estimate.usage)})`;
  return new HubError(
    `${id.repo}@${id.revision} needs ${mb(needed)} more of browser storage (cache: '${store.mode}') but ${room}: free space (deleteCachedModel() removes a cached model), ask for persistent storage with navigator.storage.persist(), or load with cache: 'none'`,
  );
}
