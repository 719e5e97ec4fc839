import { describe, expect, it } from 'vitest';
import { roundTo, type DType } from '../../src/gpu/dtype.ts';
import { embeddingBackward, embeddingForward, embeddingGradPlan, uploadEmbeddingGradPlan } from '../../src/ops/embedding.ts';
import { testContext } from '../harness/context.ts';
import { checkGradient, expectClose, f64, freshSeed, randint, randn, rng, TOL } from '../harness/numerics.ts';
import { embeddingBackwardRef, embeddingBlockRef, embeddingRef } from '../ref/embedding.ts';
import { dot, expectSameBits, poisoned } from './elementwise-helpers.ts';

// [vocab, dim, tokens]: all size-1, odd dim (16-bit rows start mid-word), T = 1, more tokens than ids (repeats).
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [5, 3, 7],
  [100, 17, 33],
  [1000, 64, 1],
  [50, 129, 200],
  [7, 300, 5],
];

describe('embedding gradient plan', () => {
  it('groups tokens by id in ascending order (CSR)', () => {
    const plan = embeddingGradPlan([4, 1, 4, 0, 1, 4], 6);
    expect(Array.from(plan.uniqueIds)).toEqual([0, 1, 4]);
    expect(Array.from(plan.offsets)).toEqual([0, 1, 3, 6]);
    expect(Array.from(plan.tokenOrder)).toEqual([3, 1, 4, 0, 2, 5]);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => embeddingGradPlan([0, 6, 1], 6)).toThrow(/ids\[1\] = 6 is outside \[0, 6\)/);
    expect(() => embeddingGradPlan([0, 1.5], 6)).toThrow(/ids\[1\] = 1.5/);
  });
});

describe('embedding', () => {
  it('reference backward matches finite differences', () => {
    const r = rng(freshSeed());
    const [vocab, dim, tokens] = [6, 3, 9];
    const table = f64(randn(vocab * dim, r)),
      ids = randint(tokens, r, vocab),
      dout = f64(randn(tokens * dim, r));
    checkGradient(() => dot(embeddingRef(table, ids, vocab, dim), dout), table, embeddingBackwardRef(dout, ids, vocab, dim), { what: 'dtable' });
  });

  for (const td of ['f32', 'bf16', 'f16'] as DType[]) {
    for (const [vocab, dim, tokens] of shapes) {
      it(`gather from a ${td} table, V=${vocab} D=${dim} T=${tokens}`, async () => {
        const ctx = await testContext();
        const seed = freshSeed();
        const r = rng(seed);
        const table = roundTo(randn(vocab * dim, r), td),
          ids = randint(tokens, r, vocab);
        ids[tokens - 1] = vocab - 1;
        const tt = ctx.upload(td, [vocab, dim], table),
          tids = ctx.upload('u32', [tokens], ids),
          tout = poisoned(ctx, 'f32', [tokens, dim]);
        const rec = ctx.recorder();
        embeddingForward(rec, { table: tt, ids: tids, out: tout, tokens, dim, vocab });
        rec.submit();
        expectClose(await ctx.read(tout), embeddingRef(table, ids, vocab, dim), TOL.f32, `out (${td}, seed ${seed})`);
        ctx.free(tt, tids, tout);
      });
    }
  }

  it('an out-of-range id gets a NaN row and the other rows are unaffected', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [vocab, dim] = [10, 5];
    const table = roundTo(randn(vocab * dim, r), 'bf16');
    const ids = Uint32Array.from([3, vocab, 9, 0xffffffff, 0]);
    const tt = ctx.upload('bf16', [vocab, dim], table),
      tids = ctx.upload('u32', [ids.length], ids);
    const tout = ctx.empty('f32', [ids.length, dim]);
    ctx.fill(tout, 0); // zeros, so the NaN rows can only come from the kernel
    const rec = ctx.recorder();
    embeddingForward(rec, { table: tt, ids: tids, out: tout, tokens: ids.length, dim, vocab });
    rec.submit();
    const out = await ctx.read(tout);
    const want = embeddingRef(table, ids, vocab, dim);
    for (let t = 0; t < ids.length; t++) {
      const row = Array.from(out.subarray(t * dim, (t + 1) * dim));
      if (ids[t]! >= vocab) expect(row.every(Number.isNaN), `row ${t} (id ${ids[t]}) should be NaN`).toBe(true);
      else expectClose(row, want.subarray(t * dim, (t + 1) * dim), TOL.f32, `row ${t} (seed ${seed})`);
    }
    ctx.free(tt, tids, tout);
  });

  // [vocab, dim, tokens, rowStart, rows]: a middle block at an odd row (odd dim: 16-bit rows start mid-word in the
  // full table), the last single row, the first rows, a block of one row in the middle.
  const blockShapes: [number, number, number, number, number][] = [
    [100, 17, 33, 37, 29],
    [5, 3, 7, 4, 1],
    [50, 129, 200, 0, 13],
    [1000, 64, 40, 500, 1],
  ];
  for (const td of ['f32', 'bf16', 'f16'] as DType[]) {
    it(`a ${td} row block writes only the tokens whose ids fall in its rows; out-of-vocab ids get NaN rows`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      for (const [vocab, dim, tokens, rowStart, rows] of blockShapes) {
        const block = roundTo(randn(rows * dim, r), td);
        // Ids spread over the whole vocab, with the block's first and last rows, one just outside it, and one past the vocab.
        const ids = randint(tokens, r, vocab);
        ids.set([rowStart, rowStart + rows - 1, rowStart + rows, vocab + 3].slice(0, tokens), 0);
        const initial = randn(tokens * dim, r);
        const tt = ctx.upload(td, [rows, dim], block),
          tids = ctx.upload('u32', [tokens], ids),
          tout = ctx.upload('f32', [tokens, dim], initial);
        const rec = ctx.recorder();
        embeddingForward(rec, { table: tt, ids: tids, out: tout, tokens, dim, vocab, rowStart, tableRows: rows });
        rec.submit();
        const out = await ctx.readF32(tout);
        const want = embeddingBlockRef(block, ids, { vocab, dim, rowStart, rows, initial });
        const what = `V=${vocab} D=${dim} T=${tokens} rows [${rowStart}, ${rowStart + rows}) ${td} (seed ${seed})`;
        const rowsWhere = (a: ArrayLike<number>, keep: (id: number) => boolean) =>
          Float32Array.from(Array.from(ids).flatMap((id, t) => (keep(id) ? Array.from({ length: dim }, (_, d) => a[t * dim + d]!) : [])));
        const inBlock = (id: number) => id >= rowStart && id < rowStart + rows;
        expectClose(rowsWhere(out, inBlock), rowsWhere(want, inBlock), TOL.f32, `${what}: rows of ids in the block`);
        expectSameBits(
          rowsWhere(out, (id) => id < vocab && !inBlock(id)),
          rowsWhere(initial, (id) => id < vocab && !inBlock(id)),
          `${what}: other rows untouched`,
        );
        expect(rowsWhere(out, (id) => id >= vocab).every(Number.isNaN), `${what}: out-of-vocab rows are NaN`).toBe(true);
        ctx.free(tt, tids, tout);
      }
    });
  }

  it('row blocks covering the vocab compose the whole gather (bf16, odd dim, uneven blocks)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [vocab, dim, tokens] = [61, 19, 50];
    const table = roundTo(randn(vocab * dim, r), 'bf16'),
      ids = randint(tokens, r, vocab);
    const tids = ctx.upload('u32', [tokens], ids),
      tout = poisoned(ctx, 'f32', [tokens, dim]);
    const blocks = [
      [0, 21],
      [21, 1],
      [22, 39],
    ].map(([rowStart, rows]) => ({
      rowStart: rowStart!,
      rows: rows!,
      tensor: ctx.upload('bf16', [rows!, dim], table.subarray(rowStart! * dim, (rowStart! + rows!) * dim)),
    }));
    const rec = ctx.recorder();
    for (const b of blocks) embeddingForward(rec, { table: b.tensor, ids: tids, out: tout, tokens, dim, vocab, rowStart: b.rowStart, tableRows: b.rows });
    rec.submit();
    expectClose(await ctx.read(tout), embeddingRef(table, ids, vocab, dim), TOL.f32, `out (seed ${seed})`);
    ctx.free(tids, tout, ...blocks.map((b) => b.tensor));
  });

  for (const [vocab, dim, tokens] of [...shapes, [40, 96, 2000]] as [number, number, number][]) {
    it(`backward: scatter-add by id, deterministic, absent rows untouched, V=${vocab} D=${dim} T=${tokens}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const r = rng(seed);
      // Skewed ids, so some ids repeat many times and some never occur.
      const ids = Uint32Array.from({ length: tokens }, () => Math.floor(r() ** 2 * vocab));
      const dout = randn(tokens * dim, r);
      const plan = uploadEmbeddingGradPlan(ctx, embeddingGradPlan(ids, vocab));
      const tdout = ctx.upload('f32', [tokens, dim], dout);
      const first = poisoned(ctx, 'f32', [vocab, dim]),
        second = poisoned(ctx, 'f32', [vocab, dim]);
      const rec = ctx.recorder();
      embeddingBackward(rec, { dout: tdout, plan, dtable: first, tokens, dim, vocab });
      embeddingBackward(rec, { dout: tdout, plan, dtable: second, tokens, dim, vocab });
      rec.submit();
      const got = await ctx.readF32(first);
      const want = embeddingBackwardRef(dout, ids, vocab, dim);
      const present = new Set(ids);
      const rows = (a: ArrayLike<number>, keep: (v: number) => boolean) =>
        Array.from({ length: vocab }, (_, v) => v)
          .filter(keep)
          .flatMap((v) => Array.from({ length: dim }, (_, d) => a[v * dim + d]!));
      expectClose(
        rows(got, (v) => present.has(v)),
        rows(want, (v) => present.has(v)),
        TOL.f32,
        `dtable rows of present ids (seed ${seed})`,
      );
      expect(rows(got, (v) => !present.has(v)).every(Number.isNaN), `rows of absent ids keep their poison (seed ${seed})`).toBe(true);
      expectSameBits(await ctx.readF32(second), got, `dtable, second run (seed ${seed})`);
      ctx.free(tdout, first, second, plan.uniqueIds, plan.offsets, plan.tokenOrder);
    });
  }

  it('backward with accumulate adds to dtable and leaves absent rows bit-identical', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [vocab, dim, tokens] = [30, 19, 45];
    const ids = randint(tokens, r, vocab / 2); // ids >= 15 never occur
    const dout = randn(tokens * dim, r),
      initial = randn(vocab * dim, r);
    const plan = uploadEmbeddingGradPlan(ctx, embeddingGradPlan(ids, vocab));
    const tdout = ctx.upload('f32', [tokens, dim], dout),
      tdt = ctx.upload('f32', [vocab, dim], initial);
    const rec = ctx.recorder();
    embeddingBackward(rec, { dout: tdout, plan, dtable: tdt, tokens, dim, vocab, accumulate: true });
    rec.submit();
    const got = await ctx.readF32(tdt);
    expectClose(got, embeddingBackwardRef(dout, ids, vocab, dim, initial), TOL.f32, `dtable (seed ${seed})`);
    expectSameBits(got.subarray((vocab / 2) * dim), initial.subarray((vocab / 2) * dim), `absent rows (seed ${seed})`);
    ctx.free(tdout, tdt, plan.uniqueIds, plan.offsets, plan.tokenOrder);
  });

  it('backward with more than 65535 unique ids (the grid is folded into 2-D)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [vocab, dim, tokens] = [70001, 2, 70000];
    const ids = Uint32Array.from({ length: tokens }, (_, t) => (t * 7919 + 1) % vocab); // all distinct, shuffled
    const dout = randn(tokens * dim, r);
    const plan = uploadEmbeddingGradPlan(ctx, embeddingGradPlan(ids, vocab));
    const tdout = ctx.upload('f32', [tokens, dim], dout),
      tdt = ctx.empty('f32', [vocab, dim]);
    ctx.fill(tdt, 0);
    const rec = ctx.recorder();
    embeddingBackward(rec, { dout: tdout, plan, dtable: tdt, tokens, dim, vocab });
    rec.submit();
    expectClose(await ctx.readF32(tdt), embeddingBackwardRef(dout, ids, vocab, dim), TOL.f32, `dtable (seed ${seed})`);
    ctx.free(tdout, tdt, plan.uniqueIds, plan.offsets, plan.tokenOrder);
  });

  it('rejects bad arguments with clear errors', async () => {
    const ctx = await testContext();
    const table = ctx.empty('bf16', [10, 4]),
      ids = ctx.empty('u32', [3]),
      idsF = ctx.empty('f32', [3]),
      out = ctx.empty('f32', [3, 4]);
    const rec = ctx.recorder();
    expect(() => embeddingForward(rec, { table, ids, out, tokens: 3, dim: 4, vocab: 11 })).toThrow(/embedding.table: expected 44 elements/);
    expect(() => embeddingForward(rec, { table, ids: idsF, out, tokens: 3, dim: 4, vocab: 10 })).toThrow(/embedding.ids: dtype f32 not supported/);
    expect(() => embeddingForward(rec, { table, ids, out, tokens: 3, dim: 4, vocab: 15, rowStart: 6, tableRows: 10 })).toThrow(
      /table rows \[6, 16\) must be a non-empty integer range within \[0, 15\)/,
    );
    expect(() => embeddingForward(rec, { table, ids, out, tokens: 3, dim: 4, vocab: 20, rowStart: 5, tableRows: 9 })).toThrow(
      /embedding.table: expected 36 elements/,
    );
    const plan = uploadEmbeddingGradPlan(ctx, embeddingGradPlan([1, 2, 1], 10));
    const dtable16 = ctx.empty('bf16', [10, 4]);
    expect(() => embeddingBackward(rec, { dout: out, plan, dtable: dtable16, tokens: 3, dim: 4, vocab: 10 })).toThrow(
      /embedding.dtable: dtype bf16 not supported/,
    );
    expect(() => embeddingBackward(rec, { dout: out, plan, dtable: out, tokens: 2, dim: 4, vocab: 10 })).toThrow(/embedding.dout: expected 8 elements/);
    ctx.free(table, ids, idsF, out, dtable16, plan.uniqueIds, plan.offsets, plan.tokenOrder);
  });
});
