/**
 * What model a run used, by content rather than by path: a fingerprint of the checkpoint's files, so a run records
 * exactly which weights it started from (and from which round's policy each later round sampled), a moved or copied
 * directory is still the same model, and resuming with different weights is caught.
 *
 * Two methods:
 *   - 'quick-v1' (default): SHA-256 over config.json, generation_config.json, the tokenizer files and chat template
 *     (each whole), the safetensors index, and for every safetensors file its size, its whole header (tensor names,
 *     dtypes, shapes, offsets, metadata) and 64 bytes at the start, middle and end of every tensor. Reads well under
 *     1 MB for a 1B model; any fine-tune or merge (which rewrites whole tensors) changes it.
 *   - 'full-v1': SHA-256 over the same support files and every byte of every safetensors file (seconds per GB).
 * A hub model is the same files: its identity adds the repo, the revision asked for and the commit it resolved to.
 */
import type { ByteSource } from '../model/byte-source.ts';
import { readExact } from '../model/byte-source.ts';
import type { ModelFiles } from '../inference/load-model.ts';
import { SAFETENSORS_INDEX, shardNames } from '../model/hub-protocol.ts';
import { parseSafetensorsHeader } from '../model/safetensors.ts';
import { pureSha256, type Sha256Factory, type Sha256Hasher } from './sha256.ts';

export type FingerprintMethod = 'quick-v1' | 'full-v1';

/** Where a model came from (informational: the fingerprint says what it is). */
export interface ModelSource {
  /** The directory read (absolute), when local. */
  path?: string;
  /** The Hugging Face Hub origin, when the model was given as org/name[@revision]. */
  hub?: { repo: string; revision: string; commit: string };
}

export interface ModelIdentity {
  /** "sha256:<hex>" of the method's byte stream. */
  fingerprint: string;
  method: FingerprintMethod;
  /** Files that went into the fingerprint, in order, with their sizes. */
  files: { name: string; bytes: number }[];
  source: ModelSource;
}

/** Whole-file support files, in this order (those present). */
const SUPPORT_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];
/** Bytes sampled at the start, middle and end of each tensor by 'quick-v1'. */
const SAMPLE_BYTES = 64;
/** Read size when hashing whole files. */
const CHUNK_BYTES = 16 * 1024 * 1024;

export interface FingerprintOptions {
  method?: FingerprintMethod;
  /** Default: the pure-TypeScript SHA-256 (src/seal/sha256.ts); Node may pass node:crypto's for speed. */
  sha256?: Sha256Factory;
  source?: ModelSource;
}

/** Frames each piece with its length so that no two different file sets hash the same byte stream. */
class FramedHash {
  private readonly encoder = new TextEncoder();
  constructor(private readonly hasher: Sha256Hasher) {}

  piece(bytes: Uint8Array): void {
    this.length(bytes.byteLength);
    this.hasher.update(bytes);
  }

  text(text: string): void {
    this.piece(this.encoder.encode(text));
  }

  length(n: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    this.hasher.update(b);
  }

  raw(bytes: Uint8Array): void {
    this.hasher.update(bytes);
  }

  digest(): string {
    return `sha256:${this.hasher.digestHex()}`;
  }
}

/** The safetensors files of a checkpoint, sorted by name: model.safetensors, else every shard its index names. */
async function weightFiles(files: ModelFiles): Promise<{ names: string[]; index: string | null }> {
  if ((await files.source('model.safetensors')) !== null) return { names: ['model.safetensors'], index: null };
  const index = await files.text(SAFETENSORS_INDEX);
  if (index === null) throw new Error(`no weights in ${files.where}: expected model.safetensors or ${SAFETENSORS_INDEX}`);
  return { names: shardNames(JSON.parse(index), `${files.where}/${SAFETENSORS_INDEX}`).sort(), index };
}

/** The fingerprint of a model's files (see the file comment for what each method reads). */
export async function fingerprintModel(files: ModelFiles, options: FingerprintOptions = {}): Promise<ModelIdentity> {
  const method = options.method ?? 'quick-v1';
  if (method !== 'quick-v1' && method !== 'full-v1') throw new RangeError(`unknown fingerprint method ${JSON.stringify(method)}: use 'quick-v1' or 'full-v1'`);
  const hash = new FramedHash((options.sha256 ?? pureSha256)());
  const listed: { name: string; bytes: number }[] = [];
  const encoder = new TextEncoder();
  hash.text(method);

  for (const name of SUPPORT_FILES) {
    const text = await files.text(name);
    if (text === null) continue;
    const bytes = encoder.encode(text);
    hash.text(name);
    hash.piece(bytes);
    listed.push({ name, bytes: bytes.byteLength });
  }
  if (!listed.some((f) => f.name === 'config.json'))
    throw new Error(`${files.where}/config.json is missing: a model fingerprint needs the model's config.json`);

  const weights = await weightFiles(files);
  if (weights.index !== null) {
    const bytes = encoder.encode(weights.index);
    hash.text(SAFETENSORS_INDEX);
    hash.piece(bytes);
    listed.push({ name: SAFETENSORS_INDEX, bytes: bytes.byteLength });
  }
  for (const name of weights.names) {
    const source = await files.source(name);
    if (source === null) throw new Error(`${files.where}/${name} is missing: ${SAFETENSORS_INDEX} lists it as a shard of the checkpoint`);
    const size = await source.size();
    hash.text(name);
    hash.length(size);
    if (method === 'full-v1') await hashWhole(hash, source, size);
    else await hashHeaderAndSamples(hash, source);
    listed.push({ name, bytes: size });
  }
  return { fingerprint: hash.digest(), method, files: listed, source: options.source ?? {} };
}

async function hashWhole(hash: FramedHash, source: ByteSource, size: number): Promise<void> {
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) hash.raw(await readExact(source, offset, Math.min(CHUNK_BYTES, size - offset)));
}

async function hashHeaderAndSamples(hash: FramedHash, source: ByteSource): Promise<void> {
  const header = await parseSafetensorsHeader(source);
  hash.piece(await readExact(source, 0, header.dataOffset));
  const tensors = [...header.tensors.values()].sort((a, b) => a.begin - b.begin);
  for (const t of tensors) {
    const length = t.end - t.begin;
    const n = Math.min(SAMPLE_BYTES, length);
    const middle = t.begin + Math.floor((length - n) / 2);
    for (const offset of new Set([t.begin, middle, t.end - n])) hash.piece(await readExact(source, offset, n));
  }
}

/** Two identities name the same model content (same method and fingerprint). */
export function sameModel(a: Pick<ModelIdentity, 'fingerprint' | 'method'>, b: Pick<ModelIdentity, 'fingerprint' | 'method'>): boolean {
  return a.method === b.method && a.fingerprint === b.fingerprint;
}

/** A short human label: "Org/name@abc1234 (sha256:0123456789ab)" or "/path/to/dir (sha256:…)". */
export function describeModel(identity: ModelIdentity): string {
  const short = identity.fingerprint.slice(0, 'sha256:'.length + 12);
  const hub = identity.source.hub;
  const where = hub
    ? `${hub.repo}@${hub.revision === hub.commit ? hub.commit.slice(0, 7) : `${hub.revision} (${hub.commit.slice(0, 7)})`}`
    : (identity.source.path ?? 'model');
  return `${where} [${short}]`;
}
