/**
 * The model ops that read weights, over weights stored whole or as row blocks (split-weight.ts): one dispatch
 * per block, each writing only its own part of the output.
 *
 * A Linear weight W [N, K] split by output rows gives block j the output columns [n0, n0 + nb) of Y = X·Wᵀ.
 * Each block's matmul writes them in place through matmul's cRowStride / cColumn (C's row stride and first
 * column), rather than computing into a scratch [M, nb] and scattering it: every matmul kernel, the
 * subgroup-matrix one included, writes C through one shared epilogue (store_c in matmul_io.wgsl), so the
 * stride and offset cost two lines there and no kernel changes, and there is no scratch (which for a long
 * prompt times a vocab block would itself exceed the binding limit) and no extra pass over Y. The bias is
 * bound whole and read at the same columns as Y, which splits it along with the output columns.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { shapeString } from '../gpu/tensor.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { matmul, type MatmulVariant } from '../ops/matmul.ts';
import { weightBlocks, type WeightRef } from './split-weight.ts';

export interface LinearArgs {
  /** f32 [M, K]. */
  x: Tensor;
  /** HF Linear weight [N, K] (out, in), f32 | bf16 | f16, whole or as row blocks. */
  weight: WeightRef;
  /** f32 [M, N]. */
  y: Tensor;
  M: number;
  /** [N], added to every row. */
  bias?: Tensor;
  /** Matmul kernel, the same for every block (default 'auto'). */
  variant?: MatmulVariant;
  /** Scale x into f16's range in kernels that round it, with x's scale if already computed (MatmulArgs.scaleA, aScale). */
  scaleA?: boolean;
  aScale?: Tensor;
}

/** y[M, N] = x · Wᵀ (+ bias), one matmul per row block of W, each filling its block's columns of y. */
export function linear(rec: CommandRecorder, a: LinearArgs): void {
  const { weight } = a;
  if (weight.shape.length !== 2) throw new RangeError(`linear: weight must be 2-D [out, in], got ${shapeString(weight.shape)}`);
  const [N, K] = weight.shape as [number, number];
  for (const block of weightBlocks(weight)) {
    matmul(rec, {
      a: a.x,
      b: block.tensor,
      c: a.y,
      M: a.M,
      N: block.rows,
      K,
      transB: true,
      bias: a.bias,
      cRowStride: N,
      cColumn: block.rowStart,
      variant: a.variant,
      scaleA: a.scaleA,
      aScale: a.aScale,
    });
  }
}

export interface EmbedArgs {
  /** [vocab, dim], f32 | bf16 | f16, whole or as row blocks. */
  table: WeightRef;
  /** u32 [tokens]. */
  ids: Tensor;
  /** f32 [tokens, dim]. */
  out: Tensor;
  tokens: number;
  dim: number;
}

/** out[t, :] = table[ids[t], :], one gather per row block, each writing the tokens whose ids fall in its rows. */
export function embed(rec: CommandRecorder, a: EmbedArgs): void {
  const { table } = a;
  if (table.shape.length !== 2 || table.shape[1] !== a.dim) {
    throw new RangeError(`embed: table must be [vocab, ${a.dim}], got ${shapeString(table.shape)}`);
  }
  const vocab = table.shape[0]!;
  for (const block of weightBlocks(table)) {
    embeddingForward(rec, {
      table: block.tensor,
      ids: a.ids,
      out: a.out,
      tokens: a.tokens,
      dim: a.dim,
      vocab,
      rowStart: block.rowStart,
      tableRows: block.rows,
    });
  }
}
