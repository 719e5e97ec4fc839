/**
 * The GenerationBarrier batches the generate calls of concurrently scored candidates: a batch runs only when every
 * participant waits or has finished, calls with equal options share one batch, streams stay each call's own, and
 * errors reach only the calls of the failed batch.
 */
import { describe, expect, it } from 'vitest';
import type { GenerateOptions, GeneratedSample } from '../../src/seal/domain.ts';
import { GenerationBarrier, runBehindBarrier, type BarrierBatch } from '../../src/seal/generation-barrier.ts';
import type { ChatMessage } from '../../src/text/chat-template.ts';

const msgs = (...texts: string[]): ChatMessage[][] => texts.map((t) => [{ role: 'user', content: t }]);

/** A batch runner that answers each prompt with "<prompt>@<participant>#<stream>" and logs every batch. */
function echo(log: BarrierBatch[]) {
  return async (batch: BarrierBatch): Promise<GeneratedSample[]> => {
    log.push(batch);
    await new Promise((r) => setTimeout(r, 1));
    return batch.prompts.map((p, i) => ({ text: `${p[0]!.content}@${batch.participants[i]}#${batch.options.streams[i]}`, tokens: 1, finishReason: 'stop' }));
  };
}

const texts = (s: GeneratedSample[]) => s.map((x) => x.text);

describe('GenerationBarrier', () => {
  it('runs the calls of all participants as one batch, and each call gets its own samples and streams', async () => {
    const log: BarrierBatch[] = [];
    const opts: GenerateOptions = { maxNewTokens: 8 };
    const results = await runBehindBarrier(
      3,
      echo(log),
      (_, generate) => generate,
      async (generate, i) => {
        // Participants start at different times (the barrier waits for the slow one).
        await new Promise((r) => setTimeout(r, 5 * (2 - i)));
        const first = await generate(msgs(`a${i}`, `b${i}`), i === 1 ? { ...opts, streams: [7, 9] } : opts);
        const second = await generate(msgs(`c${i}`), opts);
        return [...texts(first), ...texts(second)];
      },
    );
    expect(results).toEqual([
      ['a0@0#0', 'b0@0#1', 'c0@0#0'],
      ['a1@1#7', 'b1@1#9', 'c1@1#0'],
      ['a2@2#0', 'b2@2#1', 'c2@2#0'],
    ]);
    expect(log.map((b) => b.participants)).toEqual([
      [0, 0, 1, 1, 2, 2],
      [0, 1, 2],
    ]);
    expect(log[0]!.options).toEqual({ maxNewTokens: 8, streams: [0, 1, 7, 9, 0, 1] });
  });

  it('a finished participant does not hold the others; different options run as separate batches', async () => {
    const log: BarrierBatch[] = [];
    const results = await runBehindBarrier(
      4,
      echo(log),
      (_, generate) => generate,
      async (generate, i) => {
        if (i === 3) return 'none';
        const out = await generate(msgs(`p${i}`), { maxNewTokens: i === 2 ? 4 : 8, stopStrings: ['#'] });
        if (i === 0) return texts(await generate(msgs('again'), { maxNewTokens: 8 }))[0];
        return texts(out)[0];
      },
    );
    expect(results).toEqual(['again@0#0', 'p1@1#0', 'p2@2#0', 'none']);
    expect(log.map((b) => [b.participants, b.options.maxNewTokens])).toEqual([
      [[0, 1], 8],
      [[2], 4],
      [[0], 8],
    ]);
  });

  it('calls a participant makes together join one batch', async () => {
    const log: BarrierBatch[] = [];
    const results = await runBehindBarrier(
      2,
      echo(log),
      (_, generate) => generate,
      async (generate, i) => {
        const [x, y] = await Promise.all([generate(msgs(`x${i}`), { maxNewTokens: 2 }), generate(msgs(`y${i}`), { maxNewTokens: 2 })]);
        return [...texts(x), ...texts(y)];
      },
    );
    expect(results).toEqual([
      ['x0@0#0', 'y0@0#0'],
      ['x1@1#0', 'y1@1#0'],
    ]);
    expect(log.map((b) => b.participants)).toEqual([[0, 0, 1, 1]]);
  });

  it('a failed batch rejects its calls; a failing body does not hang the others; the first error is thrown after all settle', async () => {
    const settledBodies: number[] = [];
    const run = runBehindBarrier(
      3,
      async (batch) => {
        if (batch.options.maxNewTokens === 13) throw new Error('device lost');
        return batch.prompts.map(() => ({ text: 'ok', tokens: 1, finishReason: 'stop' as const }));
      },
      (_, generate) => generate,
      async (generate, i) => {
        try {
          if (i === 0) throw new Error('body 0 broke');
          const out = await generate(msgs('q'), { maxNewTokens: i === 2 ? 13 : 5 });
          return texts(out)[0];
        } finally {
          settledBodies.push(i);
        }
      },
    );
    await expect(run).rejects.toThrow('body 0 broke');
    expect(settledBodies.sort()).toEqual([0, 1, 2]);
    const only = runBehindBarrier(
      1,
      async () => {
        throw new Error('device lost');
      },
      (_, g) => g,
      (g) => g(msgs('q'), { maxNewTokens: 1 }),
    );
    await expect(only).rejects.toThrow('device lost');
  });

  it('rejects bad participants', () => {
    const b = new GenerationBarrier(2, async () => []);
    expect(() => new GenerationBarrier(0, async () => [])).toThrow(/participants must be an integer >= 1, got 0/);
    expect(() => b.generate(2, [], { maxNewTokens: 1 })).toThrow(/participant 2 is not in 0\.\.1/);
    b.finish(1);
    expect(() => b.finish(1)).toThrow(/participant 1 has finished/);
  });
});
