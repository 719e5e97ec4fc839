/**
 * Causal grouped-query attention over packed sequences, forward and backward (FlashAttention-2 style: O(T·D)
 * memory, online softmax in f32, fully masked key/query blocks skipped, no atomics, deterministic).
 *
 * Layouts (f32, row-major): q/out/dOut/dq [T, Hq, D]; k/v/dk/dv [T, Hkv, D]; lse/di [Hq, T]; seqStart [T] u32.
 * Query head h reads kv head floor(h / (Hq / Hkv)). seqStart[t] is the index of the first token of t's
 * sequence; token t attends to keys seqStart[t] <= j <= t. Sequences must be packed back to back (each
 * seqStart[t] is t or seqStart[t - 1], as seqStartFromLengths builds it): the kernels skip key and query
 * blocks by reading seqStart at block boundaries only, so other contents give wrong results.
 *
 * The head dim is a runtime parameter: one pipeline per kernel serves every D <= 128 (see shaders/attention_common.wgsl).
 */
import type { GpuContext } from '../gpu/context.ts';
import type { KernelKey } from '../gpu/pipeline-cache.ts';
import type { CommandRecorder, Param } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel } from './common.ts';

/** Largest head dimension the kernels take (each invocation holds a few head vectors in private arrays). */
export const ATTENTION_MAX_HEAD_DIM = 128;
/** Rows (queries, or keys for dK/dV) per workgroup, one per invocation. */
const ROWS = 64;
const DELTA_WG = 64;

interface Dims {
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** Score scale; default 1 / sqrt(D). */
  scale?: number;
}

export interface AttentionForward extends Dims {
  q: Tensor; // [T, Hq, D] f32
  k: Tensor; // [Tk, Hkv, D] f32
  v: Tensor; // [Tk, Hkv, D] f32
  out: Tensor; // [T, Hq, D] f32
  lse: Tensor; // [Hq, T] f32: natural-log logsumexp of each score row, saved for the backward
  seqStart: Tensor; // [T] u32, key index of each query's first key
  /**
   * Forward only (KV-cache decode): keys in k/v, default T. With a cache, the past keys followed by the T new ones.
   * Query i then sits at key position queryOffset + i and sees keys seqStart[i] <= j <= queryOffset + i.
   */
  Tk?: number;
  /** Forward only: key position of query 0, default 0; queryOffset + T <= Tk. */
  queryOffset?: number;
}

/** Scratch of the backward (see attentionScratch). */
export interface AttentionScratch {
  di: Tensor; // [Hq, T] f32: rowsum(dOut * out)
}

export interface AttentionBackward extends AttentionForward {
  /** The forward's out and lse are inputs here. */
  dOut: Tensor; // [T, Hq, D]
  dq: Tensor; // [T, Hq, D]
  dk: Tensor; // [T, Hkv, D]
  dv: Tensor; // [T, Hkv, D]
  scratch: AttentionScratch;
}

/** seqStart for sequences of the given lengths packed back to back. */
export function seqStartFromLengths(lengths: readonly number[]): Uint32Array {
  const out = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
  let t = 0;
  for (const len of lengths) {
    out.fill(t, t, t + len);
    t += len;
  }
  return out;
}

/** Allocates the backward's scratch; the caller frees it (ctx.free(...Object.values(scratch))). */
export function attentionScratch(ctx: GpuContext, dims: { T: number; Hq: number }): AttentionScratch {
  return { di: ctx.empty('f32', [dims.Hq, dims.T], 'attention.di') };
}

/**
 * Floating-point operations over the unmasked (query, key) pairs, multiply and add counted separately:
 * forward 2 products (S = QKᵀ, PV), backward 5 (S recomputed, dV, dP, dQ, dK).
 */
export function attentionFlops(T: number, Hq: number, D: number, causal = true): { forward: number; backward: number } {
  const pairs = causal ? (T * (T + 1)) / 2 : T * T;
  const product = 2 * D * pairs * Hq;
  return { forward: 2 * product, backward: 5 * product };
}

function checkDims(op: string, a: Dims): void {
  const { T, Hq, Hkv, D } = a;
  for (const [name, n] of Object.entries({ T, Hq, Hkv, D })) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${n}`);
  }
  if (Hq % Hkv !== 0) throw new RangeError(`${op}: Hq (${Hq}) must be a multiple of Hkv (${Hkv})`);
  if (D > ATTENTION_MAX_HEAD_DIM) throw new RangeError(`${op}: head dim D=${D} is over the supported maximum ${ATTENTION_MAX_HEAD_DIM}`);
  if (a.scale !== undefined && !Number.isFinite(a.scale)) throw new RangeError(`${op}: scale must be finite, got ${a.scale}`);
}

function checkTensors(op: string, tensors: Record<string, [Tensor, number]>, outputs: string[]): void {
  for (const [name, [t, numel]] of Object.entries(tensors)) {
    expectNumel(`${op}.${name}`, t, numel);
    expectDtype(`${op}.${name}`, t, name === 'seqStart' ? 'u32' : 'f32');
  }
  // WebGPU forbids binding a buffer twice in one dispatch when one of the bindings is writable.
  for (const out of outputs) {
    for (const [name, [t]] of Object.entries(tensors)) {
      if (name !== out && t.buffer === tensors[out]![0].buffer) {
        throw new RangeError(`${op}: ${out} shares a buffer with ${name}; outputs need their own buffers`);
      }
    }
  }
}

const kernel = (shader: string, defines: Record<string, boolean> = {}): KernelKey => ({ shader, defines, constants: { ROWS } });

function params(a: Dims & { Tk?: number; queryOffset?: number }): Record<string, Param> {
  const scale = a.scale ?? 1 / Math.sqrt(a.D);
  return {
    tq: ['u32', a.T],
    tk: ['u32', a.Tk ?? a.T],
    q_pos0: ['u32', a.queryOffset ?? 0],
    hq: ['u32', a.Hq],
    hkv: ['u32', a.Hkv],
    head_dim: ['u32', a.D],
    scale: ['f32', scale],
    scale_log2: ['f32', scale * Math.LOG2E],
  };
}

export function attentionForward(rec: CommandRecorder, a: AttentionForward): void {
  const op = 'attentionForward';
  checkDims(op, a);
  const { T, Hq, Hkv, D } = a;
  const Tk = a.Tk ?? T;
  const queryOffset = a.queryOffset ?? 0;
  if (!Number.isInteger(Tk) || Tk < 1) throw new RangeError(`${op}: Tk must be a positive integer, got ${Tk}`);
  if (!Number.isInteger(queryOffset) || queryOffset < 0 || queryOffset + T > Tk) {
    throw new RangeError(`${op}: queryOffset (${queryOffset}) must be a non-negative integer with queryOffset + T (${T}) <= Tk (${Tk})`);
  }
  checkTensors(
    op,
    {
      q: [a.q, T * Hq * D],
      k: [a.k, Tk * Hkv * D],
      v: [a.v, Tk * Hkv * D],
      out: [a.out, T * Hq * D],
      lse: [a.lse, Hq * T],
      seqStart: [a.seqStart, T],
    },
    ['out', 'lse'],
  );
  rec.dispatch({
    kernel: kernel('attention_forward'),
    params: params(a),
    bindings: { q: a.q, k: a.k, v: a.v, seq_start: a.seqStart, out: a.out, lse: a.lse },
    workgroups: [ceilDiv(T, ROWS), Hq],
    label: 'attention forward',
  });
}

export function attentionBackward(rec: CommandRecorder, a: AttentionBackward): void {
  const op = 'attentionBackward';
  checkDims(op, a);
  if ((a.Tk !== undefined && a.Tk !== a.T) || (a.queryOffset ?? 0) !== 0) {
    throw new RangeError(`${op}: Tk and queryOffset are forward-only (KV-cache decode); the backward needs Tk = T, queryOffset = 0`);
  }
  const { T, Hq, Hkv, D } = a;
  const { di } = a.scratch;
  checkTensors(
    op,
    {
      q: [a.q, T * Hq * D],
      k: [a.k, T * Hkv * D],
      v: [a.v, T * Hkv * D],
      out: [a.out, T * Hq * D],
      lse: [a.lse, Hq * T],
      dOut: [a.dOut, T * Hq * D],
      dq: [a.dq, T * Hq * D],
      dk: [a.dk, T * Hkv * D],
      dv: [a.dv, T * Hkv * D],
      'scratch.di': [di, Hq * T],
      seqStart: [a.seqStart, T],
    },
    ['dq', 'dk', 'dv', 'scratch.di'],
  );
  rec.dispatch({
    kernel: { shader: 'attention_delta', constants: { WG: DELTA_WG } },
    params: { t: ['u32', T], hq: ['u32', Hq], dim: ['u32', D] },
    bindings: { d_out: a.dOut, out: a.out, di },
    workgroups: fold1d(ceilDiv(T * Hq, DELTA_WG)),
    label: 'attention delta',
  });
  const shared = { q: a.q, k: a.k, v: a.v, seq_start: a.seqStart, lse: a.lse, di, d_out: a.dOut };
  rec.dispatch({
    kernel: kernel('attention_backward', { DQ: true }),
    params: params(a),
    bindings: { ...shared, dq: a.dq },
    workgroups: [ceilDiv(T, ROWS), Hq],
    label: 'attention dq',
  });
  rec.dispatch({
    kernel: kernel('attention_backward', { DKDV: true }),
    params: params(a),
    bindings: { ...shared, dk: a.dk, dv: a.dv },
    workgroups: [ceilDiv(T, ROWS), Hkv],
    label: 'attention dk/dv',
  });
}
