/**
 * The Hugging Face cache on disk, laid out as Python's huggingface_hub does, so each reuses the other's downloads:
 * <cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag>, refs/<revision>}; the
 * cache root and the token file from the same environment variables (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME,
 * HF_TOKEN, HF_TOKEN_PATH).
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { COMMIT_SHA, SAFETENSORS_INDEX } from '../src/model/hub-protocol.ts';
import { moveIntoPlace, tempSibling, writeFileAtomic } from './durable-write.ts';

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
export function defaultToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
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
export async function snapshotComplete(dir: string): Promise<boolean> {
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
export async function cachedCommit(repoDir: string, revision: string): Promise<string | null> {
  if (COMMIT_SHA.test(revision)) return revision;
  try {
    const commit = (await readFile(join(repoDir, 'refs', revision), 'utf8')).trim();
    return COMMIT_SHA.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** Records that `revision` (a branch or tag) points to `commit`: refs/<revision>. */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  const ref = join(repoDir, 'refs', revision);
  await mkdir(dirname(ref), { recursive: true });
  await writeFileAtomic(ref, commit);
}

/**
 * snapshots/<commit>/<file> → ../../blobs/<blob> (a copy where symlinks are not allowed), made under a temporary name
 * and moved into place: two processes linking the same file at once both end with a whole link.
 */
export async function linkIntoSnapshot(blobPath: string, snapshotFile: string): Promise<void> {
  await mkdir(dirname(snapshotFile), { recursive: true });
  const temp = tempSibling(snapshotFile);
  try {
    await symlink(relative(dirname(snapshotFile), blobPath), temp);
  } catch {
    await copyFile(blobPath, temp);
  }
  await moveIntoPlace(temp, snapshotFile);
}
