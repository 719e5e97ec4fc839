/**
 * Hugging Face Hub model source: resolves `org/name[@revision]` to a local snapshot directory in the standard HF cache
 * layout (hub-cache.ts), so models already downloaded by Python's huggingface_hub are reused and a complete cached
 * snapshot needs no network at all. Downloads are resumable (hub-download.ts), and a lock file per blob (hub-lock.ts)
 * keeps two processes resolving the same model from downloading (or corrupting) it twice.
 * The protocol itself (ids, URLs, messages, which files) is src/model/hub-protocol.ts, shared with the browser.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HubError, parseHubId, planModelFiles, repoFileSize, shardFiles } from '../src/model/hub-protocol.ts';
import { cachedCommit, defaultHubCacheDir, linkIntoSnapshot, repoCacheDir, snapshotComplete, writeRef } from './hub-cache.ts';
import { downloadBlob, type FileMeta, fetchRepoInfo, fileMeta, fileSize, HubClient, type HubClientOptions } from './hub-download.ts';
import { acquireBlobLock } from './hub-lock.ts';

export { HubError, type HubId, isHubId, isNeededFile, parseHubId } from '../src/model/hub-protocol.ts';
export { defaultHubCacheDir, repoCacheDir } from './hub-cache.ts';

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

export interface HubOptions extends HubClientOptions {
  /** Default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME respected). */
  cacheDir?: string;
  onProgress?: (progress: DownloadProgress) => void;
  /** Never touch the network (default: $HF_HUB_OFFLINE is 1/true). */
  offline?: boolean;
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
  if (id.revision !== info.sha) await writeRef(repoDir, id.revision, info.sha);
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
    const lock = await acquireBlobLock(join(blobsDir, `${partName}.lock`), {
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
