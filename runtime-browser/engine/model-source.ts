/**
 * The worker engine's model sources as ModelFiles (src/inference/load-model.ts), and what each is before its weights
 * are fetched (an outline: file sizes and config.json):
 *   url    a model directory served over HTTP (the demo's bundled stories260K): the named files, else the usual
 *          ones, fetched with byte-accurate progress; a file the server does not have is a missing file;
 *   hub    a Hugging Face Hub model through runtime-browser/hub.ts (OPFS: kept, resumable);
 *   files  files a person picked or dropped, read from the File objects range by range.
 */
import { HubError, SAFETENSORS_INDEX, shardNames } from '../../src/model/hub-protocol.ts';
import type { ModelFiles } from '../../src/inference/load-model.ts';
import { blobModelFiles } from '../blob-source.ts';
import { fetchHubFiles, outlineHubModel } from '../hub.ts';
import type { LoadProgress, ModelSource } from './api.ts';

/** The files a model directory may hold that loading reads (the optional ones may be missing). */
const URL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

export interface OpenedModel {
  files: ModelFiles;
  name: string;
  /** Bytes of every file fetched or read, and of the safetensors weights among them. */
  bytes: number;
  weightBytes: number;
  commit?: string;
  fromCache?: boolean;
}

export interface ModelOutline {
  name: string;
  /** Bytes of every file a load reads, by name (weights included). */
  files: Record<string, number>;
  configText: string;
}

export interface SourceOptions {
  token?: string;
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
}

function hubIdOf(src: Extract<ModelSource, { kind: 'hub' }>): string {
  return src.revision && !src.id.includes('@') ? `${src.id}@${src.revision}` : src.id;
}

/** The files of a model, fetched or found. */
export async function openModelSource(src: ModelSource, o: SourceOptions = {}): Promise<OpenedModel> {
  switch (src.kind) {
    case 'hub': {
      const hub = await fetchHubFiles(hubIdOf(src), {
        ...(src.endpoint ? { endpoint: src.endpoint } : {}),
        ...(o.token ? { token: o.token } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onProgress ? { onProgress: (p) => o.onProgress!({ loaded: p.overallLoaded, total: p.overallTotal, file: p.file }) } : {}),
      });
      return { files: hub.files, name: `${hub.id.repo}@${hub.id.revision}`, ...sizesOf(hub.blobs), commit: hub.commit, fromCache: hub.fromCache };
    }
    case 'url': {
      const blobs = await fetchUrlFiles(src, o);
      return { files: blobModelFiles(blobs, src.url), name: src.url, ...sizesOf(blobs) };
    }
    case 'files': {
      const blobs = filesByName(src.files);
      return { files: blobModelFiles(blobs, folderName(src.files)), name: folderName(src.files), ...sizesOf(blobs) };
    }
  }
}

function sizesOf(blobs: ReadonlyMap<string, Blob>): { bytes: number; weightBytes: number } {
  let bytes = 0;
  let weightBytes = 0;
  for (const [name, blob] of blobs) {
    bytes += blob.size;
    if (name.endsWith('.safetensors')) weightBytes += blob.size;
  }
  return { bytes, weightBytes };
}

/** File sizes and config.json, without fetching a weight. */
export async function outlineModelSource(src: ModelSource, o: SourceOptions = {}): Promise<ModelOutline> {
  switch (src.kind) {
    case 'hub': {
      const outline = await outlineHubModel(hubIdOf(src), {
        ...(src.endpoint ? { endpoint: src.endpoint } : {}),
        ...(o.token ? { token: o.token } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      return { name: `${outline.id.repo}@${outline.id.revision}`, files: outline.files, configText: outline.configText };
    }
    case 'url': {
      const config = await fetchOptional(urlOf(src.url, 'config.json'), o.signal);
      if (config === null) throw new HubError(`${src.url} has no config.json: point the URL at a model directory`);
      const files: Record<string, number> = {};
      for (const name of await urlFileNames(src, o.signal)) {
        const size = await headSize(urlOf(src.url, name), o.signal);
        if (size !== null) files[name] = size;
      }
      return { name: src.url, files, configText: await config.text() };
    }
    case 'files': {
      const blobs = filesByName(src.files);
      const config = blobs.get('config.json');
      if (!config) throw new HubError(`${folderName(src.files)} has no config.json: pick the model's folder (config.json, tokenizer files, safetensors)`);
      return { name: folderName(src.files), files: Object.fromEntries([...blobs].map(([n, b]) => [n, b.size])), configText: await config.text() };
    }
  }
}

function urlOf(base: string, name: string): string {
  return `${base.replace(/\/+$/, '')}/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The response to a file, or null when the server does not have it. A page served with an SPA fallback answers a
 * missing file with its HTML page: HTML is not a model file, so it counts as missing.
 */
async function fetchOptional(url: string, signal: AbortSignal | undefined, method = 'GET'): Promise<Response | null> {
  let response: Response;
  try {
    response = await fetch(url, { method, ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new HubError(`cannot fetch ${url}: ${(e as Error).message} (is the server up, and does it allow this origin?)`);
  }
  if (response.status === 404 || (response.headers.get('content-type') ?? '').startsWith('text/html')) {
    await response.body?.cancel();
    return null;
  }
  if (!response.ok) throw new HubError(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

async function headSize(url: string, signal: AbortSignal | undefined): Promise<number | null> {
  const response = await fetchOptional(url, signal, 'HEAD');
  const n = Number(response?.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) ? n : null;
}

/** The names to fetch: the given list, else the usual files plus model.safetensors or the index's shards. */
async function urlFileNames(src: Extract<ModelSource, { kind: 'url' }>, signal: AbortSignal | undefined): Promise<string[]> {
  if (src.files) return src.files;
  const index = await fetchOptional(urlOf(src.url, SAFETENSORS_INDEX), signal);
  if (index === null) return [...URL_FILES, 'model.safetensors'];
  const text = await index.text();
  let shards: string[];
  try {
    shards = shardNames(JSON.parse(text), urlOf(src.url, SAFETENSORS_INDEX));
  } catch (e) {
    throw new HubError((e as Error).message);
  }
  return [...URL_FILES, SAFETENSORS_INDEX, ...shards];
}

/** Fetches the files of a model directory URL as Blobs, with progress over all of them. */
async function fetchUrlFiles(src: Extract<ModelSource, { kind: 'url' }>, o: SourceOptions): Promise<Map<string, Blob>> {
  const names = await urlFileNames(src, o.signal);
  const sizes = new Map<string, number>();
  for (const name of names) {
    const size = await headSize(urlOf(src.url, name), o.signal);
    if (size !== null) sizes.set(name, size);
  }
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  let done = 0;
  const blobs = new Map<string, Blob>();
  for (const name of names) {
    const response = await fetchOptional(urlOf(src.url, name), o.signal);
    if (response === null) continue;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    const reader = response.body!.getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      chunks.push(value);
      loaded += value.byteLength;
      o.onProgress?.({ loaded: done + loaded, total: Math.max(total, done + loaded), file: name });
    }
    done += loaded;
    blobs.set(name, new Blob(chunks as BlobPart[]));
  }
  if (!blobs.has('config.json')) throw new HubError(`${src.url} has no config.json: point the URL at a model directory`);
  return blobs;
}

/** Picked or dropped files by name (a folder's files carry its path: the last part is the name). */
function filesByName(files: readonly File[]): Map<string, Blob> {
  return new Map(files.map((f) => [f.name.split('/').pop()!, f]));
}

function folderName(files: readonly File[]): string {
  const path = (files[0] as (File & { webkitRelativePath?: string }) | undefined)?.webkitRelativePath ?? '';
  return path.includes('/') ? path.slice(0, path.indexOf('/')) : 'local files';
}
