/**
 * Embedding gather (out[t, :] = table[ids[t], :]) and its deterministic backward. The backward groups the tokens
 * by id on the host (the ids are host data anyway) and sums each group on the GPU in a fixed order, so no float
 * atomics are needed and repeated runs give identical bits.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel, expectPositiveInts, weightDefines } from './common.ts';

const WG = 256;

export interface EmbeddingForward {
  table: Tensor; // [vocab, dim] f32 | bf16 | f16, or [tableRows, dim] with tableRows
  ids: Tensor; // [tokens] u32
  out: Tensor; // [tokens, dim] f32
  tokens: number;
  dim: number;
  vocab: number;
  /**
   * The table is one row block of a split embedding (src/model/weight-ops.ts): it holds rows
   * [rowStart, rowStart + tableRows) of the vocab, and only tokens with ids in that range are written.
   * Default 0 and vocab (the whole table).
   */
  rowStart?: number;
  tableRows?: number;
}

/**
 * out[t, :] = table[ids[t], :]. An id >= vocab reads nothing and gets a NaN row, so the bug shows in the loss.
 * With rowStart/tableRows, rows of out whose ids lie outside the table's range (but inside the vocab) are left as they were.
 */
export function embeddingForward(rec: CommandRecorder, a: EmbeddingForward): void {
  checkDims(a.tokens, a.dim, a.vocab);
  const { rowStart = 0, tableRows = a.vocab - rowStart } = a;
  if (!Number.isInteger(rowStart) || !Number.isInteger(tableRows) || rowStart < 0 || tableRows < 1 || rowStart + tableRows > a.vocab) {
    throw new RangeError(`embedding: table rows [${rowStart}, ${rowStart + tableRows}) must be a non-empty integer range within [0, ${a.vocab})`);
  }
  expectNumel('embedding.table', a.table, tableRows * a.dim);
  expectNumel('embedding.ids', a.ids, a.tokens);
  expectDtype('embedding.ids', a.ids, 'u32');
  expectNumel('embedding.out', a.out, a.tokens * a.dim);
  expectDtype('embedding.out', a.out, 'f32');
  rec.dispatch({
    kernel: { shader: 'embedding', defines: weightDefines(a.table.dtype), constants: { WG } },
    params: {
      tokens: ['u32', a.tokens],
      dim: ['u32', a.dim],
      vocab: ['u32', a.vocab],
      row_start: ['u32', rowStart],
      rows: ['u32', tableRows],
    },
    bindings: { table: a.table, ids: a.ids, out: a.out },
    workgroups: fold1d(ceilDiv(a.tokens * a.dim, WG)),
    label: 'embedding',
  });
}

/**
 * Tokens grouped by id (CSR): uniqueIds ascending; the tokens with id uniqueIds[u] are
 * tokenOrder[offsets[u] .. offsets[u+1]), ascending. offsets has uniqueIds.length + 1 entries.
 */
export interface EmbeddingGradPlan {
  uniqueIds: Uint32Array;
  offsets: Uint32Array;
  tokenOrder: Uint32Array;
}

export function embeddingGradPlan(ids: ArrayLike<number>, vocab: number): EmbeddingGradPlan {
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`embedding: vocab must be a positive integer, got ${vocab}`);
  const tokens = ids.length;
  for (let t = 0; t < tokens; t++) {
    const id = ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`embedding: ids[${t}] = ${id} is outside [0, ${vocab})`);
  }
  // Sort token indices by (id, token): each id's tokens become one run, in token order.
  const tokenOrder = Uint32Array.from({ length: tokens }, (_, t) => t).sort((a, b) => ids[a]! - ids[b]! || a - b);
  const uniqueIds: number[] = [];
  const offsets: number[] = [];
  for (let j = 0; j < tokens; j++) {
    const id = ids[tokenOrder[j]!]!;
    if (j === 0 || id !== uniqueIds[uniqueIds.length - 1]) {
      uniqueIds.push(id);
      offsets.push(j);
    }
  }
  offsets.push(tokens);
  return { uniqueIds: Uint32Array.from(uniqueIds), offsets: Uint32Array.from(offsets), tokenOrder };
}

/** The plan on the GPU; free its tensors with ctx.free(plan.uniqueIds, plan.offsets, plan.tokenOrder). */
export interface EmbeddingGradPlanTensors {
  uniqueIds: Tensor; // [uniques] u32
  offsets: Tensor; // [uniques + 1] u32
  tokenOrder: Tensor; // [tokens] u32
  uniques: number;
}

export function uploadEmbeddingGradPlan(ctx: GpuContext, plan: EmbeddingGradPlan): EmbeddingGradPlanTensors {
  const uniques = plan.uniqueIds.length;
  if (plan.offsets.length !== uniques + 1) throw new RangeError(`embedding: plan has ${uniques} ids but ${plan.offsets.length} offsets (want ${uniques + 1})`);
  return {
    uniqueIds: ctx.upload('u32', [uniques], plan.uniqueIds, 'embedding.uniqueIds'),
    offsets: ctx.upload('u32', [uniques + 1], plan.offsets, 'embedding.offsets'),
    tokenOrder: ctx.upload('u32', [plan.tokenOrder.length], plan.tokenOrder, 'embedding.tokenOrder'),
    uniques,
  };
}

export interface EmbeddingBackward {
  dout: Tensor; // [tokens, dim] f32
  plan: EmbeddingGradPlanTensors; // from uploadEmbeddingGradPlan(ctx, embeddingGradPlan(ids, vocab))
  dtable: Tensor; // [vocab, dim] f32
  tokens: number;
  dim: number;
  vocab: number;
  /** Add into dtable (gradient accumulation) instead of overwriting the rows of the ids that occur. */
  accumulate?: boolean;
}

/**
 * dtable[v, :] = sum over t with ids[t] == v of dout[t, :] (or += with accumulate), one workgroup per unique id,
 * tokens summed in ascending order. Rows of ids that do not occur are left untouched: clear dtable first
 * (rec.clear) if it must hold the full gradient.
 */
export function embeddingBackward(rec: CommandRecorder, a: EmbeddingBackward): void {
  checkDims(a.tokens, a.dim, a.vocab);
  const { plan } = a;
  expectNumel('embedding.dout', a.dout, a.tokens * a.dim);
  expectDtype('embedding.dout', a.dout, 'f32');
  expectNumel('embedding.dtable', a.dtable, a.vocab * a.dim);
  expectDtype('embedding.dtable', a.dtable, 'f32');
  expectNumel('embedding.plan.uniqueIds', plan.uniqueIds, plan.uniques);
  expectNumel('embedding.plan.offsets', plan.offsets, plan.uniques + 1);
  expectNumel('embedding.plan.tokenOrder', plan.tokenOrder, a.tokens);
  if (a.dtable.buffer === a.dout.buffer) throw new Error('embedding: dtable shares a buffer with dout');
  rec.dispatch({
    kernel: { shader: 'embedding', defines: { BACKWARD: true }, constants: { WG } },
    params: {
      dim: ['u32', a.dim],
      uniques: ['u32', plan.uniques],
      vocab: ['u32', a.vocab],
      accumulate: ['u32', a.accumulate ? 1 : 0],
    },
    bindings: { dout: a.dout, unique_ids: plan.uniqueIds, offsets: plan.offsets, token_order: plan.tokenOrder, dtable: a.dtable },
    workgroups: fold1d(plan.uniques),
    label: 'embedding.backward',
  });
}

function checkDims(tokens: number, dim: number, vocab: number): void {
  expectPositiveInts('embedding', { tokens, dim, vocab });
}
