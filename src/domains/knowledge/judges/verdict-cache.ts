/**
 * The verdict cache: a grader's reply per (judge, question, gold answer, prediction), so a paid or slow grader is
 * asked each question once per run, across rounds, candidates that answer alike, and a resumed run. The yes/no
 * judges (yes-no-grading.ts) look every prompt up before asking and store each reply as it arrives; the verdict
 * is always recomputed from the stored reply by the rule, so the cache holds no second copy of the rule's outcome.
 *
 * The judge part of the key is Judge.id: it names everything that changes the replies (the model, the endpoint).
 * A runtime keeps the entries where it can (runtime-node/verdict-cache.ts: a file in the run directory).
 */

export interface VerdictKey {
  readonly judge: string;
  readonly question: string;
  readonly gold: string;
  readonly prediction: string;
}

export interface VerdictCache {
  /** The stored reply, or undefined. */
  get(key: VerdictKey): string | undefined;
  /** Stores a reply (kept in memory at once; made durable by the time flush() resolves). */
  set(key: VerdictKey, reply: string): void;
  /** Resolves when every reply stored so far is durable; rejects if keeping them failed. */
  flush(): Promise<void>;
}

/** One string per key, equal exactly when every part is equal. */
export function verdictKeyString(key: VerdictKey): string {
  return JSON.stringify([key.judge, key.question, key.gold, key.prediction]);
}

/** A cache that lives as long as the process (a browser tab, a library user who keeps no files). */
export class MemoryVerdictCache implements VerdictCache {
  private readonly replies = new Map<string, string>();

  get(key: VerdictKey): string | undefined {
    return this.replies.get(verdictKeyString(key));
  }

  set(key: VerdictKey, reply: string): void {
    this.replies.set(verdictKeyString(key), reply);
  }

  async flush(): Promise<void> {}

  get size(): number {
    return this.replies.size;
  }
}
