/**
 * A local imitation of the Hugging Face Hub on 127.0.0.1 (never any other address), serving the real files of
 * ../shared/models/stories260K as the repo seal-test/stories260K: /api/models/{repo}/revision/{rev} (file sizes with
 * ?blobs=true), /{repo}/resolve/{rev}/{file} (LFS files redirect to a /cdn/ URL with X-Linked-Etag/-Size), ETags and
 * Range requests. Options inject failures (drops, stalls, corruption, 401s), throttle the weights so concurrent
 * downloads overlap, and add CORS for a browser page. Node-only (node:http); the browser reaches it over HTTP.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sharedPath } from '../harness/shared.ts';

export const REPO = 'seal-test/stories260K';
export const SHA = `${'a'.repeat(8)}0123456789abcdef0123456789abcdef`;
export const TOKEN = 'hf_test_token';

export interface Logged {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface ServerOptions {
  /** Answer every request with 401 unless it carries the test token. */
  requireToken?: boolean;
  /** Close the connection after this many bytes of model.safetensors on the first content GET. */
  dropModelAfter?: number;
  /** Send this many bytes of model.safetensors on the first content GET, then go silent (connection left open). */
  stallModelAfter?: number;
  /** Serve model.safetensors with one byte changed (its ETag still the sha256 of the real file). */
  corruptModel?: boolean;
  /** Leave ETag headers out (blob names then come from sha256 of the content). */
  noEtags?: boolean;
  /** Never list file sizes in the model info, even with ?blobs=true (clients then learn them from HEAD requests). */
  noSizes?: boolean;
  /** Send LFS file bodies in chunks of `chunkBytes` every `intervalMs` (so concurrent downloads overlap). */
  throttle?: { chunkBytes: number; intervalMs: number };
  /** Hold LFS file bodies back until this many model-info requests have arrived (several clients then surely overlap). */
  holdLfsUntilInfoRequests?: number;
  /** CORS headers on every answer and preflight (OPTIONS) support, for a page on another origin. */
  cors?: boolean;
  /** Requests answered before the server refuses with 500 (a client looping fails fast). Default 200. */
  maxRequests?: number;
}

/** The fake repo: the shared model's top-level files plus files the client must not fetch. */
export function repoFiles(): Map<string, Buffer> {
  const dir = sharedPath('models/stories260K');
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    if (statSync(join(dir, name)).isFile()) files.set(name, readFileSync(join(dir, name)));
  }
  files.set('pytorch_model.bin', Buffer.from('never fetched'));
  files.set('original/consolidated.pth', Buffer.from('never fetched'));
  return files;
}

/**
 * The same model as a sharded checkpoint: its tensors split over model-00001-of-00002 and model-00002-of-00002
 * .safetensors with model.safetensors.index.json, plus a consolidated.safetensors copy the client must never fetch.
 */
export function shardedRepoFiles(): Map<string, Buffer> {
  const files = repoFiles();
  const whole = files.get('model.safetensors')!;
  files.delete('model.safetensors');
  const headerLength = Number(whole.readBigUInt64LE(0));
  const header = JSON.parse(whole.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  names.forEach((name, i) => {
    weightMap[name] = shardNames[i < names.length / 2 ? 0 : 1]!;
  });
  for (const shard of shardNames) {
    const own = names.filter((n) => weightMap[n] === shard);
    const shardHeader: Record<string, unknown> = {};
    const parts: Buffer[] = [];
    let offset = 0;
    for (const name of own) {
      const {
        dtype,
        shape,
        data_offsets: [begin, end],
      } = header[name]!;
      parts.push(whole.subarray(8 + headerLength + begin, 8 + headerLength + end));
      shardHeader[name] = { dtype, shape, data_offsets: [offset, offset + end - begin] };
      offset += end - begin;
    }
    const json = Buffer.from(JSON.stringify(shardHeader));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    files.set(shard, Buffer.concat([length, json, ...parts]));
  }
  files.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: { total_size: whole.length - 8 - headerLength }, weight_map: weightMap })));
  files.set('consolidated.safetensors', Buffer.from(whole));
  return files;
}

export const LFS = (name: string) => name.endsWith('.safetensors') || name.endsWith('.bin') || name.endsWith('.pth');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** Not logged: the test's own view of the server (GET /__requests answers { count, log }). */
const STATS_PATH = '/__requests';

export class FakeHub {
  readonly log: Logged[] = [];
  /** Body bytes actually sent, per file name. */
  readonly bytesServed = new Map<string, number>();
  private server!: Server;
  private dropped = false;
  endpoint = '';

  constructor(
    readonly files: Map<string, Buffer>,
    readonly options: ServerOptions = {},
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  /** Content requests (GET of a file's bytes), by file name. */
  contentGets(name: string): Logged[] {
    const path = LFS(name) ? `/cdn/${this.etag(name)}` : `/${REPO}/resolve/${SHA}/${name}`;
    return this.log.filter((r) => r.method === 'GET' && r.url === path);
  }

  etag(name: string): string {
    const body = this.files.get(name)!;
    return LFS(name) ? sha256(body) : gitSha1(body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.options.cors) {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-expose-headers', 'content-range, accept-ranges, etag, x-linked-etag, x-linked-size');
    }
    if (req.url === STATS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return void res.end(
        JSON.stringify({
          count: this.log.length,
          log: this.log.map((r) => ({ method: r.method, url: r.url, range: r.headers.range ?? null, authorization: r.headers.authorization ?? null })),
        }),
      );
    }
    this.log.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (this.log.length > (this.options.maxRequests ?? 200)) return void res.writeHead(500).end('too many requests'); // bounded: a loop fails fast
    if (req.method === 'OPTIONS' && this.options.cors) {
      res.writeHead(204, {
        'access-control-allow-headers': 'authorization, range',
        'access-control-allow-methods': 'GET, HEAD',
        'access-control-max-age': '0',
      });
      return void res.end();
    }
    if (this.options.requireToken && req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end('{"error":"gated"}');
    const url = new URL(req.url ?? '/', this.endpoint);
    const api = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/);
    if (api) {
      if (api[1] !== REPO || !['main', SHA].includes(decodeURIComponent(api[2]!))) return void res.writeHead(404).end('{"error":"Repository not found"}');
      // Like the hub: sizes (and LFS sha256) only when asked for with ?blobs=true.
      const blobs = url.searchParams.get('blobs') === 'true' && !this.options.noSizes;
      const siblings = [...this.files].map(([rfilename, body]) =>
        blobs ? { rfilename, size: body.length, ...(LFS(rfilename) ? { lfs: { sha256: sha256(body), size: body.length } } : {}) } : { rfilename },
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ id: REPO, sha: SHA, siblings }));
    }
    const resolve = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (resolve) {
      const name = decodeURIComponent(resolve[3]!);
      const revision = decodeURIComponent(resolve[2]!);
      if (resolve[1] !== REPO || ![SHA, 'main'].includes(revision) || !this.files.has(name)) return void res.writeHead(404).end();
      if (LFS(name)) {
        // The hub answers LFS files with a redirect to its CDN; X-Linked-* describe the target.
        const headers: Record<string, string | number> = { location: `/cdn/${this.etag(name)}`, 'x-linked-size': this.files.get(name)!.length };
        if (!this.options.noEtags) headers['x-linked-etag'] = `"${this.etag(name)}"`;
        return void res.writeHead(302, headers).end();
      }
      return this.serve(req, res, name);
    }
    const cdn = url.pathname.match(/^\/cdn\/([0-9a-f]{64})$/);
    const lfsName = cdn && [...this.files.keys()].find((n) => LFS(n) && this.etag(n) === cdn[1]);
    if (lfsName) return this.serve(req, res, lfsName);
    res.writeHead(404).end();
  }

  /** A file's bytes with ETag and Range support (and the one-time mid-body drop or stall, and throttling). */
  private serve(req: IncomingMessage, res: ServerResponse, name: string): void {
    let body = this.files.get(name)!;
    if (name === 'model.safetensors' && this.options.corruptModel) {
      body = Buffer.from(body);
      body[body.length - 1]! ^= 1;
    }
    const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (!this.options.noEtags) headers.etag = `"${this.etag(name)}"`;
    const range = req.headers.range?.match(/^bytes=(\d+)-$/);
    const start = range ? Number(range[1]) : 0;
    if (start >= body.length && range) return void res.writeHead(416, headers).end();
    const part = body.subarray(start);
    headers['content-length'] = part.length;
    if (range) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();
    this.serveBody(res, name, part);
  }

  /** The body (or the first `part` of it), held back, dropped, stalled or throttled as the options say. */
  private serveBody(res: ServerResponse, name: string, part: Buffer): void {
    const hold = this.options.holdLfsUntilInfoRequests;
    const held = () => hold !== undefined && LFS(name) && this.log.filter((r) => r.url.startsWith('/api/models/')).length < hold;
    if (held()) {
      const poll = setInterval(() => {
        if (held()) return;
        clearInterval(poll);
        this.serveBody(res, name, part);
      }, 10);
      res.on('close', () => clearInterval(poll));
      return;
    }
    const sent = (n: number) => this.bytesServed.set(name, (this.bytesServed.get(name) ?? 0) + n);
    const drop = this.options.dropModelAfter;
    if (name === 'model.safetensors' && drop !== undefined && !this.dropped) {
      this.dropped = true;
      sent(Math.min(drop, part.length));
      res.write(part.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (name === 'model.safetensors' && this.options.stallModelAfter !== undefined && !this.dropped) {
      this.dropped = true;
      sent(Math.min(this.options.stallModelAfter, part.length));
      res.write(part.subarray(0, this.options.stallModelAfter));
      return;
    }
    const throttle = this.options.throttle;
    if (throttle && LFS(name)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      res.on('close', () => clearTimeout(timer));
      const send = (at: number) => {
        if (at >= part.length) return void res.end();
        const chunk = part.subarray(at, at + throttle.chunkBytes);
        sent(chunk.length);
        res.write(chunk);
        timer = setTimeout(() => send(at + chunk.length), throttle.intervalMs);
      };
      return send(0);
    }
    sent(part.length);
    res.end(part);
  }
}
