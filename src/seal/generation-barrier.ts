/**
 * Runs the generate calls of several scoring models as batches. K candidates of a context are scored at once: each
 * participant (one candidate's domain.score) runs on its own, and its generate calls wait at a barrier until every
 * participant either has a call waiting or has finished; then the waiting calls run together, one batch per set of
 * equal options, each prompt under its participant's adapter. A domain that makes several calls in turn (generate,
 * then grade) gets each round of calls batched the same way, and no participant waits on one that never calls.
 *
 * Results do not depend on the batching: generation is greedy or seeded per (seed, stream), and a call's prompts keep
 * the streams they would have alone (their own `streams`, else their index in the call).
 */
import type { GenerateOptions, GeneratedSample } from './domain.ts';
import type { ChatMessage } from '../text/chat-template.ts';

/** One batch of prompts to run: each prompt with the participant (adapter) it belongs to and its stream. */
export interface BarrierBatch {
  prompts: readonly (readonly ChatMessage[])[];
  /** Per prompt: the participant whose call it came from. */
  participants: readonly number[];
  /** Options shared by the batch; `streams` per prompt. */
  options: GenerateOptions & { streams: readonly number[] };
}

interface Waiting {
  participant: number;
  prompts: readonly (readonly ChatMessage[])[];
  options: GenerateOptions;
  resolve: (samples: GeneratedSample[]) => void;
  reject: (error: unknown) => void;
}

export class GenerationBarrier {
  private readonly waiting: Waiting[] = [];
  private readonly finished = new Set<number>();
  private running = false;
  private scheduled = false;

  constructor(
    private readonly participants: number,
    private readonly runBatch: (batch: BarrierBatch) => Promise<GeneratedSample[]>,
  ) {
    if (!(Number.isSafeInteger(participants) && participants >= 1))
      throw new RangeError(`GenerationBarrier: participants must be an integer >= 1, got ${participants}`);
  }

  /** A participant's generate call; resolves with its samples once its batch has run. */
  generate(participant: number, prompts: readonly (readonly ChatMessage[])[], options: GenerateOptions): Promise<GeneratedSample[]> {
    this.check(participant);
    const promise = new Promise<GeneratedSample[]>((resolve, reject) => this.waiting.push({ participant, prompts, options, resolve, reject }));
    this.maybeRun();
    return promise;
  }

  /** A participant is done (its work settled, successfully or not): the others stop waiting for it. */
  finish(participant: number): void {
    this.check(participant);
    this.finished.add(participant);
    this.maybeRun();
  }

  private check(participant: number): void {
    if (!(Number.isSafeInteger(participant) && participant >= 0 && participant < this.participants)) {
      throw new RangeError(`GenerationBarrier: participant ${participant} is not in 0..${this.participants - 1}`);
    }
    if (this.finished.has(participant)) throw new Error(`GenerationBarrier: participant ${participant} has finished`);
  }

  /** Runs the waiting calls once every participant waits or has finished (after the current tick, so calls a participant makes together join). */
  private maybeRun(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const ready = new Set(this.waiting.map((w) => w.participant));
      for (const p of this.finished) ready.add(p);
      if (this.running || this.waiting.length === 0 || ready.size < this.participants) return;
      this.running = true;
      const calls = this.waiting.splice(0).sort((a, b) => a.participant - b.participant);
      void this.runCalls(calls).finally(() => {
        this.running = false;
        this.maybeRun();
      });
    });
  }

  /** Runs the waiting calls, one batch per set of equal options (in the order first seen). */
  private async runCalls(calls: readonly Waiting[]): Promise<void> {
    const groups = new Map<string, { shared: Omit<GenerateOptions, 'streams'>; calls: Waiting[] }>();
    for (const c of calls) {
      const { streams: _streams, ...shared } = c.options;
      const key = JSON.stringify(shared);
      const g = groups.get(key);
      if (g) g.calls.push(c);
      else groups.set(key, { shared, calls: [c] });
    }
    for (const { shared, calls: group } of groups.values()) {
      const batch: BarrierBatch = {
        prompts: group.flatMap((c) => c.prompts),
        participants: group.flatMap((c) => c.prompts.map(() => c.participant)),
        options: { ...shared, streams: group.flatMap((c) => c.prompts.map((_, i) => c.options.streams?.[i] ?? i)) },
      };
      let samples: GeneratedSample[];
      try {
        samples = batch.prompts.length === 0 ? [] : await this.runBatch(batch);
      } catch (e) {
        for (const c of group) c.reject(e);
        continue;
      }
      let offset = 0;
      for (const c of group) {
        c.resolve(samples.slice(offset, offset + c.prompts.length));
        offset += c.prompts.length;
      }
    }
  }
}

/**
 * Runs `body` once per participant, all at once, with a barrier over their generate calls; results in participant
 * order. Every body is awaited before this settles (the first error is then thrown), so no generation outlives it.
 */
export async function runBehindBarrier<M, T>(
  count: number,
  runBatch: (batch: BarrierBatch) => Promise<GeneratedSample[]>,
  model: (participant: number, generate: (prompts: readonly (readonly ChatMessage[])[], options: GenerateOptions) => Promise<GeneratedSample[]>) => M,
  body: (model: M, participant: number) => Promise<T>,
): Promise<T[]> {
  if (count === 0) return [];
  const barrier = new GenerationBarrier(count, runBatch);
  const settled = await Promise.allSettled(
    Array.from({ length: count }, async (_, i) => {
      try {
        return await body(
          model(i, (prompts, options) => barrier.generate(i, prompts, options)),
          i,
        );
      } finally {
        barrier.finish(i);
      }
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
