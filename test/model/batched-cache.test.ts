import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvCache } from '../../src/model/kv-cache.ts';
import { planPasses } from '../../src/model/pass-plan.ts';
import type { SequenceChunk, TokenChooser } from '../../src/inference/transformer.ts';
import { argmax } from '../../src/ops/sampling.ts';
import { loadModelDir, type LoadedModel } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';
import { stepCapturingLogits } from '../harness/step.ts';

describe('KV cache with many sequences (stories260K)', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    // A 5-token prefill chunk makes every kind of pass appear with short prompts.
    model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32', prefillChunk: 5 });
  });
  afterAll(() => model?.dispose());

  const step = (cache: KvCache, entries: SequenceChunk[]) => stepCapturingLogits(model.transformer, cache, entries);

  it('each entry of every step gets the logits of its whole sequence, whatever the mix of passes', async () => {
    const seed = freshSeed();
    const r = rng(seed);
    const t = model.transformer;
    const randomIds = (n: number) => [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(r() * 500))];
    const cache = t.createCache(40, 4);
    // Sequences per slot (what the cache should hold), and the plan of each step.
    const seqs: number[][] = [[], [], [], []];
    const steps: ((last: number[]) => SequenceChunk[])[] = [
      // packed (3 + 1), packed (4), chunked 12 = 5 + 5 + 2
      () => [
        { slot: 0, ids: randomIds(3) },
        { slot: 1, ids: randomIds(12) },
        { slot: 2, ids: randomIds(1) },
        { slot: 3, ids: randomIds(4) },
      ],
      (last) => last.map((id, slot) => ({ slot, ids: [id] })),
      // slot 2 starts over with a 6-token prompt (chunked) while the others decode; slot 3 appends 3 tokens (chunk with a past)
      (last) => [
        { slot: 0, ids: [last[0]!] },
        { slot: 1, ids: [last[1]!] },
        { slot: 2, ids: randomIds(6) },
        { slot: 3, ids: [last[3]!, 7, 9] },
      ],
      (last) => last.map((id, slot) => ({ slot, ids: [id] })),
      // a subset of slots, not in slot order
      (last) => [
        { slot: 3, ids: [last[3]!] },
        { slot: 1, ids: [last[1]!] },
      ],
    ];
    let last: number[] = [];
    for (const [n, plan] of steps.entries()) {
      const entries = plan(last);
      if (n === 2) {
        cache.reset(2);
        seqs[2] = [];
      }
      for (const e of entries) seqs[e.slot]!.push(...Array.from(e.ids));
      const { tokens, rows } = await step(cache, entries);
      const full = await t.logits({ ids: entries.flatMap((e) => seqs[e.slot]!), ...packedLayout(entries.map((e) => seqs[e.slot]!.length)) });
      let end = 0;
      entries.forEach((e, i) => {
        end += seqs[e.slot]!.length;
        expectClose(rows[i]!, full[end - 1]!, TOL.f32, `step ${n}, slot ${e.slot} (seed ${seed})`);
      });
      const next = [...last];
      entries.forEach((e, i) => {
        next[e.slot] = tokens[i]!;
      });
      entries.forEach((e) => {
        expect(cache.lengths[e.slot]).toBe(seqs[e.slot]!.length);
      });
      last = next;
    }
    cache.dispose();
  });

  it('plans packed, chunked and decode passes', () => {
    const cache = model.transformer.createCache(16, 3);
    cache.lengths[2] = 4;
    const passes = planPasses(
      cache,
      [
        { slot: 0, ids: [1, 2] },
        { slot: 1, ids: [1, 2, 3, 4, 5, 6, 7] },
        { slot: 2, ids: [9] },
      ],
      5,
    );
    expect(passes.map((p) => p.kind)).toEqual(['packed', 'chunk', 'chunk', 'decode']);
    const [packed, c1, c2, decode] = passes;
    expect(packed!.rowsTo).toEqual([cache.row(0, 0), cache.row(0, 1)]);
    expect(c2!.kind === 'chunk' && c2!.past).toBe(5);
    expect(c1!.lastRows).toEqual([]);
    expect(c2!.lastRows).toEqual([[1, 1]]);
    expect(decode!.kind === 'decode' && decode!.ranges).toEqual([cache.row(2, 0), cache.row(2, 5)]);
    expect(decode!.positions).toEqual([4]);
    cache.dispose();
  });

  it('rejects a slot twice in one step, a full slot, a bad slot and too big a cache', async () => {
    const t = model.transformer;
    const cache = t.createCache(4, 2);
    const greedy: TokenChooser = (rec, logits, tokens) => argmax(rec, { logits, tokens, rows: tokens.numel, vocab: t.config.vocabSize });
    await expect(
      t.stepBatch(
        cache,
        [
          { slot: 0, ids: [1] },
          { slot: 0, ids: [1] },
        ],
        greedy,
      ),
    ).rejects.toThrow(/slot 0 appears twice/);
    await expect(t.stepBatch(cache, [{ slot: 2, ids: [1] }], greedy)).rejects.toThrow(/slot 2 outside \[0, 2\)/);
    await expect(t.stepBatch(cache, [{ slot: 1, ids: [1, 2, 3, 4, 5] }], greedy)).rejects.toThrow(/5 more token\(s\) after 0 exceed the cache's 4 positions/);
    await expect(t.stepBatch(cache, [], greedy)).rejects.toThrow(/no sequences/);
    cache.dispose();
    const limit = t.ctx.limits.maxStorageBufferBindingSize!;
    expect(() => t.createCache(limit, 2)).toThrow(/binding limit .* generate fewer sequences at once or fewer tokens/);
  });
});

/** positions and seqStart of sequences of these lengths packed back to back. */
function packedLayout(lengths: number[]) {
  const positions: number[] = [],
    seqStart: number[] = [];
  let start = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) {
      positions.push(i);
      seqStart.push(start);
    }
    start += n;
  }
  return { positions, seqStart };
}
