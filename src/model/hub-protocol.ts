/**
 * The Hugging Face Hub protocol, without a runtime: model ids, the URLs of the model-info API and of file downloads,
 * the Bearer header, response metadata (ETag, size), one clear message per failure, and which files of a repo loading
 * needs (a sharded checkpoint's shards come from its index). runtime-node/hub.ts (the HF cache on disk) and
 * runtime-browser/hub.ts (OPFS / Cache Storage) do the downloading.
 */
/** A Hub id could not be resolved; the message says why and what to do. */
export class HubError extends Error {}

export interface HubId {
  repo: string;
  revision: string;
}

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** A commit hash: a revision that can never move. */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

const REPO_PART = /^[A-Za-z0-9][\w.-]*$/;

/** Splits `org/name[@revision]` (revision defaults to main); throws a HubError for anything else. */
export function parseHubId(text: string): HubId {
  const at = text.indexOf('@');
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? 'main' : text.slice(at + 1);
  const parts = repo.split('/');
  const valid =
    parts.length === 2 &&
    parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..') && !p.endsWith('.')) &&
    repo.length <= 96 &&
    revision !== '' &&
    !/\s|\.\./.test(revision) &&
    !revision.startsWith('/');
  if (!valid) {
    throw new HubError(
      `'${text}' is not a Hugging Face model id: use org/name or org/name@revision (e.g. Qwen/Qwen2.5-0.5B-Instruct@main), or pass a local directory`,
    );
  }
  return { repo, revision };
}

/** True when `text` has the shape org/name[@revision] (says nothing about whether it exists). */
export function isHubId(text: string): boolean {
  try {
    parseHubId(text);
    return true;
  } catch {
    return false;
  }
}

/** The endpoint without trailing slashes. */
export function normalizeEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, '');
}

/** The model-info API: commit sha and file list (`blobs` adds each file's size and LFS sha256). */
export function modelInfoUrl(endpoint: string, id: HubId, options: { blobs?: boolean } = {}): string {
  return `${normalizeEndpoint(endpoint)}/api/models/${id.repo}/revision/${encodeURIComponent(id.revision)}${options.blobs ? '?blobs=true' : ''}`;
}

/** The download URL of one file at a revision: {endpoint}/{org}/{name}/resolve/{revision}/{file}. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${normalizeEndpoint(endpoint)}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** The Authorization header for a token ('' or undefined: none). */
export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** One file of a repo, as the model-info API lists it (sizes only with `?blobs=true`). */
export interface RepoFile {
  rfilename: string;
  size?: number;
  lfs?: { sha256?: string; size?: number };
}

export interface RepoInfo {
  /** The commit the revision points to. */
  sha: string;
  siblings: RepoFile[];
}

/** Validates a model-info answer; `url` and `endpoint` name what answered when it is not a hub. */
export function parseRepoInfo(body: unknown, url: string, endpoint: string): RepoInfo {
  const info = body as Partial<RepoInfo> | null;
  if (typeof info?.sha !== 'string' || !COMMIT_SHA.test(info.sha) || !Array.isArray(info.siblings)) {
    throw new HubError(`${url} answered without "sha" and "siblings": is ${endpoint} a Hugging Face Hub?`);
  }
  return { sha: info.sha, siblings: info.siblings.filter((s) => typeof s?.rfilename === 'string') };
}

/** A file's size from the model-info API (`?blobs=true`), when it says. */
export function repoFileSize(file: RepoFile | undefined): number | null {
  const size = file?.size ?? file?.lfs?.size;
  return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : null;
}

/** The ETag that names a file's blob: X-Linked-Etag (LFS: the sha256 of the content), else ETag; null when unusable. */
export function etagOf(headers: Headers): string | null {
  const raw = headers.get('x-linked-etag') ?? headers.get('etag');
  if (raw === null) return null;
  const etag = raw.replace(/^W\//, '').replace(/"/g, '');
  return /^[\w.-]+$/.test(etag) ? etag : null;
}

/** The file's size: X-Linked-Size, else Content-Length (not of a redirect, whose body is not the file). */
export function sizeOf(response: Response): number | null {
  const isRedirect = response.status >= 300 && response.status < 400;
  const raw = response.headers.get('x-linked-size') ?? (isRedirect ? null : response.headers.get('content-length'));
  const n = raw === null ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The index of a sharded safetensors checkpoint. */
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** The distinct shard files a parsed index names in its weight_map (`where` names the index in messages). */
export function shardNames(index: unknown, where: string): string[] {
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${where} has no "weight_map" object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const shard of shards) {
    if (typeof shard !== 'string' || shard === '' || shard.startsWith('/') || shard.split('/').includes('..')) {
      throw new Error(`${where}: weight_map values must be file names, got ${JSON.stringify(shard)}`);
    }
  }
  if (shards.length === 0) throw new Error(`${where}: weight_map is empty`);
  return shards as string[];
}

const SUPPORT_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

/** The files of a repo that loading may need: configs, tokenizer files, safetensors weights (never .bin/.pt/.gguf). */
export function isNeededFile(name: string): boolean {
  if (name.includes('/')) return false;
  return SUPPORT_FILES.includes(name) || name === SAFETENSORS_INDEX || name.endsWith('.safetensors');
}

export interface ModelFilePlan {
  /** Files to fetch now: configs, tokenizer files, and model.safetensors or the shard index. */
  files: string[];
  /** The shard index when the checkpoint is sharded: read it, then fetch shardFiles() of it. */
  index: string | null;
}

/**
 * What to download of a repo whose files are `names`: the support files it has, and model.safetensors, or else the
 * shard index (the shards follow from it: other .safetensors files, e.g. a consolidated copy, are never fetched).
 */
export function planModelFiles(id: HubId, names: readonly string[]): ModelFilePlan {
  const where = `${id.repo}@${id.revision}`;
  if (!names.includes('config.json')) throw new HubError(`${where} has no config.json: it is not a transformers model repo`);
  const support = SUPPORT_FILES.filter((f) => names.includes(f));
  if (names.includes('model.safetensors')) return { files: [...support, 'model.safetensors'], index: null };
  if (names.includes(SAFETENSORS_INDEX)) return { files: [...support, SAFETENSORS_INDEX], index: SAFETENSORS_INDEX };
  if (names.some((n) => !n.includes('/') && n.endsWith('.safetensors'))) {
    throw new HubError(`${where} has .safetensors files but neither model.safetensors nor ${SAFETENSORS_INDEX}: pass a local directory with one of them`);
  }
  throw new HubError(
    `${where} has no .safetensors weights (only safetensors checkpoints are supported): pick a repo or revision with safetensors, or convert the weights and pass a local directory`,
  );
}

/** The shards a downloaded index names, each checked to exist in the repo listing `names`. */
export function shardFiles(id: HubId, indexText: string, names: readonly string[]): string[] {
  const where = `${id.repo}@${id.revision}`;
  let shards: string[];
  try {
    shards = shardNames(JSON.parse(indexText), `${where}/${SAFETENSORS_INDEX}`);
  } catch (e) {
    throw new HubError(e instanceof SyntaxError ? `${where}/${SAFETENSORS_INDEX} is not valid JSON (${e.message})` : (e as Error).message);
  }
  for (const shard of shards) {
    if (!names.includes(shard)) throw new HubError(`${where}: ${SAFETENSORS_INDEX} names the shard ${shard}, which the repo does not have`);
  }
  return shards;
}

/** What the runtime tells users to do, inserted into the messages (Node: environment variables; browser: options). */
export interface HubAdvice {
  /** The whole fix for a gated model, e.g. "set HF_TOKEN to an access token". */
  token: string;
  /** The token's name in a short reminder, e.g. "HF_TOKEN". */
  tokenName: string;
  /** After "no network?": where cached models are and how to work offline. */
  offline: string;
  /** Appended to "try again later", e.g. ", or pass a local directory". */
  fallback: string;
}

/** One message per HTTP failure, naming the fix. `what` is the file or "the model info". */
export function hubHttpError(status: number, what: string, endpoint: string, id: HubId, advice: HubAdvice): HubError {
  const { repo, revision } = id;
  if (status === 401 || status === 403) {
    return new HubError(
      `${repo} is a gated or private model (HTTP ${status} for ${what}): accept its licence on the hub (${endpoint}/${repo}) and ${advice.token}`,
    );
  }
  if (status === 404) {
    return new HubError(
      `${repo}@${revision} not found on ${endpoint} (HTTP 404 for ${what}): check the model id and revision (private models also need ${advice.tokenName})`,
    );
  }
  return new HubError(`${endpoint} answered HTTP ${status} for ${what} of ${repo}@${revision}: try again later${advice.fallback}`);
}

/** A fetch that failed before any HTTP status: no network, DNS, refused connection, CORS. */
export function hubNetworkError(error: unknown, endpoint: string, advice: HubAdvice): HubError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new HubError(`cannot reach ${endpoint} (${why}): no network? ${advice.offline}`);
}
