/**
 * How one generation step's sequences are run through the model with a KV cache. Each entry appends tokens to
 * its own slot: a prompt (prefill) or the token chosen last step (decode). The planner groups them into passes:
 *   decode  every entry with one token and a non-empty slot, in one pass: one query row per sequence, each
 *           attending its own slot (attentionDecode)
 *   packed  short prompts into empty slots, packed back to back up to `chunk` tokens: causal attention within
 *           each prompt, keys and values also written to the slots
 *   chunk   a piece (<= `chunk` tokens) of a long prompt, or of tokens appended to a non-empty slot: attention
 *           over the slot's cached positions plus the piece (chunked prefill bounds activation memory)
 * Each pass records, for the entries whose last token it holds, the row of that token (for the LM head).
 */
import type { KvCache } from './kv-cache.ts';

/** Tokens appended to one slot of a KV cache. */
export interface SequenceChunk {
  slot: number;
  ids: ArrayLike<number>;
  /** Index of the LoRA adapter (Transformer.setAdapters) the sequence runs under; -1 = none; default the transformer's. */
  adapter?: number;
}

interface PassBase {
  ids: number[];
  positions: number[];
  /** Cache row of each token's key and value. */
  rowsTo: number[];
  /** Each token's adapter index (-1: none). */
  adapters: number[];
  /** [entry index, row of the entry's last token in this pass]. */
  lastRows: [number, number][];
  /** [slot, tokens] appended to the slot by this pass. */
  appended: [number, number][];
}

export type Pass =
  | (PassBase & { kind: 'packed'; seqStart: number[] })
  | (PassBase & { kind: 'chunk'; slot: number; past: number })
  | (PassBase & { kind: 'decode'; ranges: number[] });

/** Default tokens per prefill pass. */
export const DEFAULT_PREFILL_CHUNK = 512;

const emptyPass = () => ({
  ids: [] as number[],
  positions: [] as number[],
  rowsTo: [] as number[],
  adapters: [] as number[],
  lastRows: [] as [number, number][],
  appended: [] as [number, number][],
});

export function planPasses(cache: KvCache, entries: readonly SequenceChunk[], chunk: number, defaultAdapter = -1): Pass[] {
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`prefill chunk must be a positive integer, got ${chunk}`);
  const passes: Pass[] = [];
  const decode: Pass & { kind: 'decode' } = { kind: 'decode', ranges: [], ...emptyPass() };
  let packed: (Pass & { kind: 'packed' }) | null = null;

  entries.forEach(({ slot, ids, adapter = defaultAdapter }, entry) => {
    const past = cache.lengths[slot]!;
    const n = ids.length;
    if (n === 1 && past > 0) {
      decode.lastRows.push([entry, decode.ids.length]);
      decode.ids.push(ids[0]!);
      decode.positions.push(past);
      decode.rowsTo.push(cache.row(slot, past));
      decode.adapters.push(adapter);
      decode.ranges.push(cache.row(slot, 0), cache.row(slot, past + 1));
      decode.appended.push([slot, 1]);
      return;
    }
    if (past === 0 && n <= chunk) {
      if (!packed || packed.ids.length + n > chunk) {
        packed = { kind: 'packed', seqStart: [], ...emptyPass() };
        passes.push(packed);
      }
      const start = packed.ids.length;
      for (let i = 0; i < n; i++) {
        packed.ids.push(ids[i]!);
        packed.positions.push(i);
        packed.rowsTo.push(cache.row(slot, i));
        packed.adapters.push(adapter);
        packed.seqStart.push(start);
      }
      packed.lastRows.push([entry, start + n - 1]);
      packed.appended.push([slot, n]);
      return;
    }
    for (let from = 0; from < n; from += chunk) {
      const to = Math.min(n, from + chunk);
      const pos0 = past + from;
      const piece: Pass & { kind: 'chunk' } = { kind: 'chunk', slot, past: pos0, ...emptyPass() };
      for (let i = from; i < to; i++) {
        piece.ids.push(ids[i]!);
        piece.positions.push(past + i);
        piece.rowsTo.push(cache.row(slot, past + i));
        piece.adapters.push(adapter);
      }
      if (to === n) piece.lastRows.push([entry, to - from - 1]);
      piece.appended.push([slot, to - from]);
      passes.push(piece);
    }
  });
  if (decode.ids.length) passes.push(decode);
  return passes;
}
