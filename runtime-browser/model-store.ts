/**
 * Where the browser keeps downloaded model files, one place per repo revision: the Origin Private File System
 * (a directory seal-hub/models--org--name/<revision>), Cache Storage (entries under a fixed fake origin), or memory
 * only. A file becomes visible under its name only once it is complete; a finished download also writes a manifest,
 * so the next load finds every file without asking the network anything.
 */
import { HubError, type HubId } from '../src/model/hub-protocol.ts';

export type HubCacheMode = 'opfs' | 'cache-storage' | 'none';

/** What a finished download recorded. */
export interface StoredManifest {
  repo: string;
  revision: string;
  /** The commit the files are from. */
  commit: string;
  /** Repo-relative name → size in bytes, for every file the model needs. */
  files: Record<string, number>;
}

export interface ModelStore {
  readonly mode: HubCacheMode;
  /** Whether a failed download keeps its bytes, to be resumed with a Range request. */
  readonly resumable: boolean;
  readManifest(): Promise<StoredManifest | null>;
  writeManifest(manifest: StoredManifest): Promise<void>;
  /** The complete file, or null. */
  get(name: string): Promise<Blob | null>;
  /** Bytes kept of an interrupted download (0: none). */
  partialSize(name: string): Promise<number>;
  discardPartial(name: string): Promise<void>;
  /**
   * Stores `body` as the file, continuing the kept partial file at byte `offset` (0: afresh). The file is complete,
   * and found by get(), only when `body` ends without error; a failure keeps what was written where `resumable`.
   */
  put(name: string, body: ReadableStream<Uint8Array>, offset: number): Promise<Blob>;
  /** Deletes everything stored for this repo revision. */
  clear(): Promise<void>;
}

const MANIFEST = '.seal-manifest.json';
const DEFAULT_CACHE_NAME = 'seal-hub';

export async function openModelStore(mode: HubCacheMode, id: HubId, cacheName = DEFAULT_CACHE_NAME): Promise<ModelStore> {
  switch (mode) {
    case 'opfs':
      return OpfsStore.open(id);
    case 'cache-storage':
      return CacheStorageStore.open(id, cacheName);
    case 'none':
      return new MemoryStore();
    default:
      throw new HubError(`cache must be 'opfs', 'cache-storage' or 'none', got ${JSON.stringify(mode)}`);
  }
}

/** A model revision the browser keeps, and the bytes its files (and any partial download) take. */
export interface StoredModel {
  /** org/name@revision. */
  id: string;
  bytes: number;
  mode: Exclude<HubCacheMode, 'none'>;
}

type DirectoryEntries = { entries(): AsyncIterable<[string, FileSystemHandle]> };
const entriesOf = (dir: FileSystemDirectoryHandle) => (dir as unknown as DirectoryEntries).entries();

/** Every model revision kept in OPFS and in Cache Storage, with its bytes (what a "delete cached models" control shows). */
export async function listStoredModels(cacheName = DEFAULT_CACHE_NAME): Promise<StoredModel[]> {
  const out: StoredModel[] = [];
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.getDirectory === 'function') {
    const root = await (await storage.getDirectory()).getDirectoryHandle('seal-hub', { create: true });
    for await (const [repoName, repoDir] of entriesOf(root)) {
      if (repoDir.kind !== 'directory' || !repoName.startsWith('models--')) continue;
      const repo = repoName.slice('models--'.length).replace('--', '/');
      for await (const [revision, revisionDir] of entriesOf(repoDir as FileSystemDirectoryHandle)) {
        if (revisionDir.kind !== 'directory') continue;
        let bytes = 0;
        for await (const [, file] of entriesOf(revisionDir as FileSystemDirectoryHandle)) {
          if (file.kind === 'file') bytes += (await (file as FileSystemFileHandle).getFile()).size;
        }
        out.push({ id: `${repo}@${decodeURIComponent(revision)}`, bytes, mode: 'opfs' });
      }
    }
  }
  if (typeof globalThis.caches?.open === 'function' && (await caches.has(cacheName))) {
    const cache = await caches.open(cacheName);
    const byModel = new Map<string, number>();
    for (const request of await cache.keys()) {
      const m = /^https:\/\/seal-hub\.invalid\/([^/]+\/[^/]+)\/([^/]+)\//.exec(request.url);
      if (!m) continue;
      const id = `${m[1]}@${decodeURIComponent(m[2]!)}`;
      const size = (await (await cache.match(request))?.blob())?.size ?? 0;
      byModel.set(id, (byModel.get(id) ?? 0) + size);
    }
    for (const [id, bytes] of byModel) out.push({ id, bytes, mode: 'cache-storage' });
  }
  return out;
}

/** Deletes every model the browser keeps (OPFS's seal-hub folder and the Cache Storage cache). */
export async function deleteStoredModels(cacheName = DEFAULT_CACHE_NAME): Promise<void> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.getDirectory === 'function') {
    await (await storage.getDirectory()).removeEntry('seal-hub', { recursive: true }).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }
  if (typeof globalThis.caches?.delete === 'function') await caches.delete(cacheName);
}

function parseManifest(text: string | null, id: HubId): StoredManifest | null {
  if (text === null) return null;
  try {
    const m = JSON.parse(text) as StoredManifest;
    const valid = m.repo === id.repo && m.revision === id.revision && typeof m.commit === 'string' && typeof m.files === 'object' && m.files !== null;
    return valid ? m : null;
  } catch {
    return null; // a manifest that does not parse is as good as none: the files are checked against the hub again
  }
}

async function drain(body: ReadableStream<Uint8Array>, write: (chunk: Uint8Array) => Promise<void> | void): Promise<void> {
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    await write(value);
  }
}

const isNotFound = (e: unknown) => (e as DOMException | null)?.name === 'NotFoundError';

/** OPFS: a file per model file; downloads go to `<name>.partial` (kept on failure for a resume) and are renamed when complete. */
class OpfsStore implements ModelStore {
  readonly mode = 'opfs';
  readonly resumable = true;

  private constructor(
    private readonly id: HubId,
    private readonly repoDir: FileSystemDirectoryHandle,
    private readonly dir: FileSystemDirectoryHandle,
  ) {}

  static async open(id: HubId): Promise<OpfsStore> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (typeof storage?.getDirectory !== 'function') {
      throw new HubError(
        `cache: 'opfs' needs the Origin Private File System (navigator.storage.getDirectory), which this runtime lacks: use cache: 'cache-storage' or 'none'`,
      );
    }
    const root = await (await storage.getDirectory()).getDirectoryHandle('seal-hub', { create: true });
    const repoDir = await root.getDirectoryHandle(`models--${id.repo.replace('/', '--')}`, { create: true });
    return new OpfsStore(id, repoDir, await repoDir.getDirectoryHandle(encodeURIComponent(id.revision), { create: true }));
  }

  /** OPFS names cannot hold '/': shard paths are encoded. */
  private entry(name: string): string {
    return encodeURIComponent(name);
  }

  private async file(entry: string): Promise<File | null> {
    try {
      return await (await this.dir.getFileHandle(entry)).getFile();
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async readManifest(): Promise<StoredManifest | null> {
    return parseManifest((await (await this.file(MANIFEST))?.text()) ?? null, this.id);
  }

  async writeManifest(manifest: StoredManifest): Promise<void> {
    // createWritable writes to a swap file and commits on close: a reader never sees half a manifest.
    const writable = await (await this.dir.getFileHandle(MANIFEST, { create: true })).createWritable();
    await writable.write(JSON.stringify(manifest));
    await writable.close();
  }

  get(name: string): Promise<Blob | null> {
    return this.file(this.entry(name));
  }

  async partialSize(name: string): Promise<number> {
    return (await this.file(`${this.entry(name)}.partial`))?.size ?? 0;
  }

  async discardPartial(name: string): Promise<void> {
    await this.dir.removeEntry(`${this.entry(name)}.partial`).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }

  async put(name: string, body: ReadableStream<Uint8Array>, offset: number): Promise<Blob> {
    const final = this.entry(name);
    const temp = `${final}.partial`;
    const handle = await this.dir.getFileHandle(temp, { create: true });
    const writable = await handle.createWritable({ keepExistingData: offset > 0 });
    try {
      if (offset > 0) {
        await writable.truncate(offset);
        await writable.seek(offset);
      }
      await drain(body, (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>));
    } catch (e) {
      // Keep what arrived: closing commits it, and the next attempt resumes from there with a Range request.
      await writable.close().catch(() => writable.abort().catch(() => {}));
      throw e;
    }
    await writable.close();
    await this.rename(handle, temp, final);
    return (await this.file(final))!;
  }

  /** The complete file takes its final name only now, replacing any older one. */
  private async rename(handle: FileSystemFileHandle, from: string, to: string): Promise<void> {
    await this.dir.removeEntry(to).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
    const movable = handle as FileSystemFileHandle & { move?: (name: string) => Promise<void> };
    if (typeof movable.move === 'function') return movable.move(to);
    // No move() (older browsers): copy under the final name (committed atomically on close), then drop the temp file.
    const target = await (await this.dir.getFileHandle(to, { create: true })).createWritable();
    await (await handle.getFile()).stream().pipeTo(target);
    await this.dir.removeEntry(from);
  }

  async clear(): Promise<void> {
    await this.repoDir.removeEntry(encodeURIComponent(this.id.revision), { recursive: true }).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
  }
}

/** Cache Storage: one entry per file; cache.put stores a streamed body and adds the entry only once it is complete. */
class CacheStorageStore implements ModelStore {
  readonly mode = 'cache-storage';
  readonly resumable = false;

  private constructor(
    private readonly id: HubId,
    private readonly cache: Cache,
    private readonly prefix: string,
  ) {}

  static async open(id: HubId, cacheName: string): Promise<CacheStorageStore> {
    if (typeof globalThis.caches?.open !== 'function') {
      throw new HubError(
        `cache: 'cache-storage' needs the Cache Storage API (globalThis.caches), which this runtime lacks (pages need https or localhost): use cache: 'opfs' or 'none'`,
      );
    }
    // Keys under a fixed origin, not the endpoint's: the same repo revision is the same files from any mirror.
    const prefix = `https://seal-hub.invalid/${id.repo}/${encodeURIComponent(id.revision)}/`;
    return new CacheStorageStore(id, await caches.open(cacheName), prefix);
  }

  private key(name: string): string {
    return this.prefix + encodeURIComponent(name);
  }

  async readManifest(): Promise<StoredManifest | null> {
    return parseManifest((await (await this.cache.match(this.key(MANIFEST)))?.text()) ?? null, this.id);
  }

  async writeManifest(manifest: StoredManifest): Promise<void> {
    await this.cache.put(this.key(MANIFEST), new Response(JSON.stringify(manifest), { headers: { 'content-type': 'application/json' } }));
  }

  async get(name: string): Promise<Blob | null> {
    // The body of a cached response is a disk-backed blob: reading it is slicing, not loading.
    return (await (await this.cache.match(this.key(name)))?.blob()) ?? null;
  }

  async partialSize(): Promise<number> {
    return 0;
  }

  async discardPartial(): Promise<void> {}

  async put(name: string, body: ReadableStream<Uint8Array>): Promise<Blob> {
    await this.cache.put(this.key(name), new Response(body, { headers: { 'content-type': 'application/octet-stream' } }));
    return (await this.get(name))!;
  }

  async clear(): Promise<void> {
    for (const request of await this.cache.keys()) {
      if (request.url.startsWith(this.prefix)) await this.cache.delete(request);
    }
  }
}

/** No persistence: the files live in memory for this load only (a partial file is kept for the retries of one load). */
class MemoryStore implements ModelStore {
  readonly mode = 'none';
  readonly resumable = true;
  private readonly files = new Map<string, Blob>();
  private readonly partials = new Map<string, Uint8Array[]>();

  async readManifest(): Promise<StoredManifest | null> {
    return null;
  }

  async writeManifest(): Promise<void> {}

  async get(name: string): Promise<Blob | null> {
    return this.files.get(name) ?? null;
  }

  async partialSize(name: string): Promise<number> {
    return (this.partials.get(name) ?? []).reduce((n, c) => n + c.byteLength, 0);
  }

  async discardPartial(name: string): Promise<void> {
    this.partials.delete(name);
  }

  async put(name: string, body: ReadableStream<Uint8Array>, offset: number): Promise<Blob> {
    if (offset > 0 && (await this.partialSize(name)) !== offset) throw new Error(`${name}: no partial download of ${offset} bytes to continue`);
    const chunks = offset > 0 ? this.partials.get(name)! : [];
    this.partials.set(name, chunks);
    await drain(body, (chunk) => void chunks.push(chunk));
    const blob = new Blob(chunks as BlobPart[]);
    this.partials.delete(name);
    this.files.set(name, blob);
    return blob;
  }

  async clear(): Promise<void> {
    this.files.clear();
    this.partials.clear();
  }
}
