/**
 * The `openai:<model>` judge: any OpenAI-compatible Chat Completions endpoint (OpenAI, a vLLM or llama.cpp server,
 * a proxy) asked the reference's yes/no grading prompt as one user message, judged by its rule
 * (yes-no-grading.ts). The reference called the Responses API with default sampling settings; Chat Completions is
 * what compatible servers implement, and this judge sends the same defaults (no temperature, no token limit).
 *
 * Prompts of a grade() call run `concurrency` at a time. A request that gets 429, 408 or 5xx, times out or cannot
 * connect is retried with exponential backoff (doubling from `backoffMs`, up to `maxBackoffMs`, with jitter),
 * waiting what a Retry-After (or OpenAI's retry-after-ms) header asks for instead when one is sent. Any other
 * status fails at once with the server's message. The reference's last resort, counting an ungradable answer as
 * wrong, is not repeated: after `maxRetries` retries the call fails with a JudgeError and the replies received so
 * far stay in the verdict cache, so a rerun asks only for the rest. Runtime-free: the caller passes `fetch`.
 */
import { type GradeItem, type Judge, JudgeError, type Verdict } from './judge.ts';
import type { VerdictCache } from './verdict-cache.ts';
import { gradeYesNo } from './yes-no-grading.ts';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** The part of fetch this judge uses. */
export type FetchFunction = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<Response>;

export interface OpenAiJudgeOptions {
  /** The model name the endpoint knows ('gpt-4.1'). */
  model: string;
  /** OPENAI_API_KEY; required (a server that checks no key takes any non-empty value). */
  apiKey: string | undefined;
  /** OPENAI_BASE_URL (default https://api.openai.com/v1): requests go to `${baseUrl}/chat/completions`. */
  baseUrl?: string;
  fetch: FetchFunction;
  /** Requests in flight at most (default 8). */
  concurrency?: number;
  /** Retries of one prompt after its first try (default 6). */
  maxRetries?: number;
  /** One try's limit, reply body included (default 60 s). */
  timeoutMs?: number;
  /** The wait before the first retry; doubled each retry (default 1 s). */
  backoffMs?: number;
  /** The longest backoff wait (default 60 s). */
  maxBackoffMs?: number;
  /** The longest Retry-After wait honoured (default 300 s); a longer one is cut to it. */
  maxRetryAfterMs?: number;
  cache?: VerdictCache;
  /** Told of each retry before its wait (a progress line, a log entry). */
  onRetry?: (notice: RetryNotice) => void;
  /** Waits (default setTimeout); tests pass their own clock. */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the backoff's jitter (default Math.random). */
  random?: () => number;
}

export interface RetryNotice {
  /** What went wrong: 'HTTP 429', 'HTTP 503', 'timeout after 60000 ms', 'connection failed: ...'. */
  problem: string;
  /** The retry about to be made, from 1. */
  retry: number;
  maxRetries: number;
  waitMs: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The error the environment variable has when it is missing: what to set. */
export const NO_API_KEY_MESSAGE = 'OPENAI_API_KEY is not set: export your API key for the endpoint (any non-empty value for a local server that checks none)';

/** One try's outcome: a reply, or a problem that is retried (with the server's requested wait, if any) or fatal. */
type Attempt = { reply: string } | { retry: string; retryAfterMs: number | null } | { fatal: string };

export class OpenAiJudge implements Judge {
  readonly name: string;
  readonly id: string;
  readonly url: string;
  private readonly apiKey: string;

  constructor(private readonly options: OpenAiJudgeOptions) {
    this.name = `openai:${options.model}`;
    if (!options.apiKey) throw new JudgeError(`${this.name}: ${NO_API_KEY_MESSAGE}`);
    this.apiKey = options.apiKey;
    const base = (options.baseUrl || DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, '');
    this.url = `${base}/chat/completions`;
    // The same model name behind another endpoint is another grader.
    this.id = `${this.name}@${base}`;
    const concurrency = options.concurrency ?? 8;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`${this.name}: concurrency must be an integer >= 1, got ${concurrency}`);
  }

  grade(items: readonly GradeItem[]): Promise<Verdict[]> {
    const { cache } = this.options;
    return gradeYesNo(items, (prompts, onReply) => this.askAll(prompts, onReply), cache && { cache, judge: this.id });
  }

  /** Every prompt, `concurrency` at a time; the first fatal error stops new requests and is thrown. */
  private async askAll(prompts: readonly string[], onReply: (index: number, reply: string) => void): Promise<void> {
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (!failed && next < prompts.length) {
        const index = next++;
        try {
          onReply(index, await this.ask(prompts[index]!));
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    };
    const workers = Math.min(this.options.concurrency ?? 8, prompts.length);
    const results = await Promise.allSettled(Array.from({ length: workers }, worker));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
  }

  /** One prompt's reply, retrying as the file comment says. */
  async ask(prompt: string): Promise<string> {
    const { maxRetries = 6, backoffMs = 1000, maxBackoffMs = 60_000, maxRetryAfterMs = 300_000 } = this.options;
    const sleep = this.options.sleep ?? defaultSleep;
    const random = this.options.random ?? Math.random;
    for (let retry = 0; ; retry++) {
      const attempt = await this.tryOnce(prompt);
      if ('reply' in attempt) return attempt.reply;
      if ('fatal' in attempt) throw new JudgeError(`${this.name}: ${attempt.fatal}`);
      if (retry === maxRetries) {
        throw new JudgeError(
          `${this.name}: ${attempt.retry} from ${this.url}, still after ${maxRetries} retries; rerun later (replies received so far are cached)`,
        );
      }
      const backoff = Math.min(maxBackoffMs, backoffMs * 2 ** retry) * (0.75 + 0.5 * random());
      const waitMs = attempt.retryAfterMs === null ? backoff : Math.min(attempt.retryAfterMs, maxRetryAfterMs);
      this.options.onRetry?.({ problem: attempt.retry, retry: retry + 1, maxRetries, waitMs });
      await sleep(waitMs);
    }
  }

  private async tryOnce(prompt: string): Promise<Attempt> {
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await this.options.fetch(this.url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: this.options.model, messages: [{ role: 'user', content: prompt }] }),
        signal: abort.signal,
      });
      const body = await response.text();
      if (response.ok) return this.replyOf(body);
      const status = `HTTP ${response.status}`;
      if (response.status === 429 || response.status === 408 || response.status >= 500) {
        return { retry: status, retryAfterMs: retryAfterMs(response.headers) };
      }
      return { fatal: `${status} from ${this.url}: ${serverMessage(body)}${hintFor(response.status)}` };
    } catch (e) {
      if (abort.signal.aborted) return { retry: `timeout after ${timeoutMs} ms`, retryAfterMs: null };
      const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
      return { retry: `connection failed (${cause?.code ?? cause?.message ?? (e as Error).message})`, retryAfterMs: null };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The message text of a 200 reply. */
  private replyOf(body: string): Attempt {
    let content: unknown;
    try {
      content = (JSON.parse(body) as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
    } catch {
      return { fatal: `${this.url} answered 200 with a body that is not JSON: ${clip(body)}` };
    }
    if (typeof content !== 'string') return { fatal: `${this.url} answered 200 without choices[0].message.content: ${clip(body)}` };
    return { reply: content };
  }
}

/** The wait a 429 or 5xx asks for: retry-after-ms (OpenAI), else Retry-After in seconds or as an HTTP date; null if none. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const ms = Number(headers.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : null;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** The server's error message (OpenAI's {"error": {"message"}}), else the body itself, clipped. */
function serverMessage(body: string): string {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string' && message) return clip(message);
  } catch {
    // Not JSON: the body is the message.
  }
  return clip(body) || '(empty body)';
}

function hintFor(status: number): string {
  if (status === 401 || status === 403) return ' (check OPENAI_API_KEY)';
  if (status === 404) return ' (check the model name and OPENAI_BASE_URL)';
  return '';
}

function clip(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
