/** The identity of a local model directory (src/seal/model-identity.ts) from Node: node:crypto's SHA-256 over its files. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { type HubId, parseHubId } from '../src/model/hub-protocol.ts';
import type { ModelFiles } from '../src/inference/load-model.ts';
import { type FingerprintMethod, fingerprintModel, type ModelIdentity, type ModelSource } from '../src/seal/model-identity.ts';
import type { Sha256Factory } from '../src/seal/sha256.ts';
import { fileSource } from './file-source.ts';

/** node:crypto's SHA-256 (same digests as the pure one, much faster over whole checkpoints). */
export const nodeSha256: Sha256Factory = () => {
  const h = createHash('sha256');
  return { update: (bytes) => void h.update(bytes), digestHex: () => h.digest('hex') };
};

/** A local model directory as ModelFiles (text and byte ranges; null for files it does not have). */
function dirFiles(dir: string): ModelFiles {
  return {
    where: dir,
    text: async (name) => (existsSync(join(dir, name)) ? readFile(join(dir, name), 'utf8') : null),
    source: async (name) => (existsSync(join(dir, name)) ? fileSource(join(dir, name)) : null),
  };
}

/**
 * The hub origin of a model given as `spec` and resolved to `dir`: when spec is a hub id and dir is its cache
 * snapshot (…/snapshots/<commit>), {repo, revision, commit}; otherwise undefined.
 */
export function hubSourceOf(spec: string, dir: string): ModelSource['hub'] | undefined {
  if (existsSync(resolve(spec))) return undefined;
  let id: HubId;
  try {
    id = parseHubId(spec);
  } catch {
    return undefined;
  }
  const commit = resolve(dir).split(sep).pop() ?? '';
  return /^[0-9a-f]{40}$/.test(commit) ? { repo: id.repo, revision: id.revision, commit } : undefined;
}

/** The identity of a local model directory (see src/seal/model-identity.ts); `spec` is what the user passed. */
export async function fingerprintModelDir(dir: string, options: { method?: FingerprintMethod; spec?: string } = {}): Promise<ModelIdentity> {
  const abs = resolve(dir);
  const hub = options.spec !== undefined ? hubSourceOf(options.spec, abs) : undefined;
  return fingerprintModel(dirFiles(abs), { method: options.method, sha256: nodeSha256, source: { path: abs, ...(hub ? { hub } : {}) } });
}
