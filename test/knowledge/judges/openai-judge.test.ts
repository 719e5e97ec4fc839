/**
 * The openai: judge against a local OpenAI-compatible server (grader-server.ts) over real HTTP: the request it
 * sends, retries on 500 / 429 (Retry-After honoured) / timeouts, fatal statuses, the missing-key error, the verdict
 * cache (in memory and in a file), and the concurrency bound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JudgeError } from '../../../src/domains/knowledge/judges/judge.ts';
import { OpenAiJudge, type OpenAiJudgeOptions, type RetryNotice, retryAfterMs } from '../../../src/domains/knowledge/judges/openai-judge.ts';
import { MemoryVerdictCache } from '../../../src/domains/knowledge/judges/verdict-cache.ts';
import { gradingPrompt } from '../../../src/domains/knowledge/judges/yes-no-grading.ts';
import { FileVerdictCache } from '../../../runtime-node/verdict-cache.ts';
import { type GraderServer, type Script, startGraderServer } from './grader-server.ts';

const ITEM = { question: 'Which team won Super Bowl 50?', gold: 'Denver Broncos', prediction: 'The Denver Broncos won it.' };
const WRONG = { question: 'Which team lost Super Bowl 50?', gold: 'Carolina Panthers', prediction: 'The Denver Broncos.' };

let server: GraderServer | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(options: { script?: Script; delayMs?: number } = {}): Promise<GraderServer> {
  server = await startGraderServer(options);
  return server;
}

function judgeFor(s: GraderServer, options: Partial<OpenAiJudgeOptions> = {}): OpenAiJudge {
  return new OpenAiJudge({ model: 'gpt-4.1', apiKey: 'sk-test', baseUrl: s.url, fetch: (url, init) => fetch(url, init), backoffMs: 10, ...options });
}

describe('openai: judge', () => {
  it('sends the grading prompt as one user message to {base}/chat/completions with the key, and applies the rule', async () => {
    const s = await serve();
    const verdicts = await judgeFor(s).grade([ITEM, WRONG]);
    expect(verdicts).toEqual([
      { correct: true, reply: 'yes' },
      { correct: false, reply: 'no' },
    ]);
    expect(s.requests).toHaveLength(2);
    const first = s.requests.find((r) => r.prompt.includes(ITEM.question))!;
    expect(first.method).toBe('POST');
    expect(first.path).toBe('/v1/chat/completions');
    expect(first.headers.authorization).toBe('Bearer sk-test');
    expect(first.body).toEqual({ model: 'gpt-4.1', messages: [{ role: 'user', content: gradingPrompt(ITEM.question, ITEM.gold, ITEM.prediction) }] });
  });

  it('retries after a 500 and then succeeds', async () => {
    const s = await serve({ script: (n) => (n === 0 ? { status: 500 } : undefined) });
    const notices: RetryNotice[] = [];
    const [verdict] = await judgeFor(s, { onRetry: (n) => notices.push(n) }).grade([ITEM]);
    expect(verdict).toEqual({ correct: true, reply: 'yes' });
    expect(s.requests).toHaveLength(2);
    expect(notices.map((n) => [n.problem, n.retry])).toEqual([['HTTP 500', 1]]);
  });

  it('waits what a 429 Retry-After asks before retrying', async () => {
    const s = await serve({ script: (n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : undefined) });
    const notices: RetryNotice[] = [];
    const [verdict] = await judgeFor(s, { backoffMs: 10, onRetry: (n) => notices.push(n) }).grade([ITEM]);
    expect(verdict!.correct).toBe(true);
    expect(s.requests).toHaveLength(2);
    expect(notices[0]).toMatchObject({ problem: 'HTTP 429', waitMs: 1000 });
    // Measured at the server: the retry came a second later, not after the 10 ms backoff.
    expect(s.requests[1]!.at - s.requests[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('retries a request that times out', async () => {
    const s = await serve({ script: (n) => (n === 0 ? 'hang' : undefined) });
    const notices: RetryNotice[] = [];
    const [verdict] = await judgeFor(s, { timeoutMs: 300, onRetry: (n) => notices.push(n) }).grade([ITEM]);
    expect(verdict!.correct).toBe(true);
    expect(s.requests).toHaveLength(2);
    expect(notices[0]!.problem).toBe('timeout after 300 ms');
  });

  it('gives up after maxRetries with an error that says what kept failing', async () => {
    const s = await serve({ script: () => ({ status: 503 }) });
    await expect(judgeFor(s, { maxRetries: 2 }).grade([ITEM])).rejects.toThrow(
      new JudgeError(`openai:gpt-4.1: HTTP 503 from ${s.url}/chat/completions, still after 2 retries; rerun later (replies received so far are cached)`),
    );
    expect(s.requests).toHaveLength(3);
  });

  it('does not retry a 401: the server message and a hint, at once', async () => {
    const s = await serve({ script: () => ({ status: 401, body: JSON.stringify({ error: { message: 'Incorrect API key provided' } }) }) });
    await expect(judgeFor(s).grade([ITEM])).rejects.toThrow(/HTTP 401 from .*: Incorrect API key provided \(check OPENAI_API_KEY\)$/);
    expect(s.requests).toHaveLength(1);
  });

  it('without a key: a clear error before any request', async () => {
    const s = await serve();
    for (const apiKey of [undefined, '']) {
      expect(() => judgeFor(s, { apiKey })).toThrow(JudgeError);
      expect(() => judgeFor(s, { apiKey })).toThrow(/^openai:gpt-4\.1: OPENAI_API_KEY is not set: export your API key/);
    }
    expect(s.requests).toHaveLength(0);
  });

  it('an empty prediction is wrong without a request', async () => {
    const s = await serve();
    expect(await judgeFor(s).grade([{ ...ITEM, prediction: ' \n' }])).toEqual([{ correct: false, reply: '' }]);
    expect(s.requests).toHaveLength(0);
  });

  it('asks once per distinct (question, gold, prediction) in a call; several golds: correct if any is', async () => {
    const s = await serve();
    const twoGolds = { question: 'Who?', gold: ['Carolina Panthers', 'Broncos'], prediction: 'the Broncos' };
    const verdicts = await judgeFor(s).grade([ITEM, ITEM, twoGolds, ITEM]);
    expect(verdicts.map((v) => v.correct)).toEqual([true, true, true, true]);
    expect(verdicts[2]!.reply).toBe('yes');
    // ITEM once, twoGolds once per gold answer
    expect(s.requests).toHaveLength(3);
  });

  it('at most `concurrency` requests in flight, verdicts in item order', async () => {
    const s = await serve({ delayMs: 100 });
    const items = Array.from({ length: 10 }, (_, i) => ({ question: `q${i}`, gold: 'gold', prediction: i % 2 ? 'gold' : 'other' }));
    const verdicts = await judgeFor(s, { concurrency: 3 }).grade(items);
    expect(verdicts.map((v) => v.correct)).toEqual(items.map((_, i) => i % 2 === 1));
    expect(s.requests).toHaveLength(10);
    expect(s.maxInFlight).toBe(3);
  });

  it('a verdict cache hit makes no request; another endpoint is another grader', async () => {
    const s = await serve();
    const cache = new MemoryVerdictCache();
    const judge = judgeFor(s, { cache });
    expect(await judge.grade([ITEM])).toEqual([{ correct: true, reply: 'yes' }]);
    expect(s.requests).toHaveLength(1);
    expect(await judge.grade([ITEM, ITEM])).toEqual([
      { correct: true, reply: 'yes', cached: true },
      { correct: true, reply: 'yes', cached: true },
    ]);
    expect(s.requests).toHaveLength(1);
    // A new prediction is asked for; the same model behind another base URL does not share the entries.
    await judge.grade([{ ...ITEM, prediction: 'Denver Broncos' }]);
    expect(s.requests).toHaveLength(2);
    await judgeFor(s, { cache, baseUrl: `${s.url}/` }).grade([ITEM]); // a trailing slash is the same endpoint
    expect(s.requests).toHaveLength(2);
    await judgeFor(s, { cache, baseUrl: s.url.replace('127.0.0.1', 'localhost') }).grade([ITEM]);
    expect(s.requests).toHaveLength(3);
  });

  it('the file cache keeps the replies received before a failure, so a rerun asks only for the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seal-verdicts-'));
    dirs.push(dir);
    const file = join(dir, 'judge-verdicts.json');
    const items = [ITEM, WRONG, { question: 'Fails?', gold: 'x', prediction: 'x' }];
    let failing = true;
    const s = await serve({ script: (_, r) => (failing && r.prompt.includes('Fails?') ? { status: 400 } : undefined) });
    await expect(judgeFor(s, { cache: FileVerdictCache.open(file), concurrency: 1 }).grade(items)).rejects.toThrow(/HTTP 400/);
    expect(s.requests).toHaveLength(3);

    // A new process (the cache read back from its file) on the same endpoint, now healthy.
    failing = false;
    s.requests.length = 0;
    const reopened = FileVerdictCache.open(file);
    expect(reopened.size).toBe(2);
    const verdicts = await judgeFor(s, { cache: reopened }).grade(items);
    expect(verdicts).toEqual([
      { correct: true, reply: 'yes', cached: true },
      { correct: false, reply: 'no', cached: true },
      { correct: true, reply: 'yes' },
    ]);
    expect(s.requests.map((r) => r.prompt.includes('Fails?'))).toEqual([true]);
    expect(FileVerdictCache.open(file).size).toBe(3);
  });
});

describe('retryAfterMs', () => {
  const headers = (h: Record<string, string>) => new Headers(h);
  it('reads retry-after-ms, Retry-After in seconds, and Retry-After as an HTTP date', () => {
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMs(headers({ 'retry-after': '0.5' }))).toBe(500);
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(retryAfterMs(headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:03 GMT' }), now)).toBe(3000);
    expect(retryAfterMs(headers({ 'retry-after': 'Wed, 21 Oct 2015 07:27:00 GMT' }), now)).toBe(0);
  });
  it('is null without a usable header', () => {
    expect(retryAfterMs(headers({}))).toBeNull();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }))).toBeNull();
    expect(retryAfterMs(headers({ 'retry-after': '-3' }))).toBeNull();
  });
});
