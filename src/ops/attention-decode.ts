/**
 * Attention for batched decoding: query row r (one new token of some sequence) attends to the keys
 * [ranges[r].start, ranges[r].end) of a KV cache, where every sequence owns a slot of rows. Unlike
 * attentionForward (packed sequences, causal inside each), the rows' key ranges are unrelated, may lie anywhere
 * in the cache and have any lengths; the whole range is visible (the new token's own key is its last row).
 *
 * Layouts (f32, row-major): q/out [rows, Hq, D]; k/v [cache rows, Hkv, D]; ranges [rows, 2] u32 (start, end).
 * Query head h reads kv head floor(h / (Hq / Hkv)).
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ATTENTION_MAX_HEAD_DIM } from './attention.ts';
import { expectDtype, expectNumel, expectPositiveInts } from './common.ts';

export interface AttentionDecode {
  q: Tensor; // [rows, Hq, D] f32
  k: Tensor; // [cacheRows, Hkv, D] f32
  v: Tensor; // [cacheRows, Hkv, D] f32
  /** [rows, 2] u32: the key rows [start, end) of each query; end > start, end <= cacheRows. */
  ranges: Tensor;
  out: Tensor; // [rows, Hq, D] f32
  rows: number;
  cacheRows: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** Score scale; default 1 / sqrt(D). */
  scale?: number;
}

/** Checks host-side key ranges before they are uploaded (the kernel cannot report a bad one). */
export function checkDecodeRanges(ranges: ArrayLike<number>, rows: number, cacheRows: number): void {
  if (ranges.length !== 2 * rows) throw new RangeError(`attentionDecode: ${ranges.length} range entries for ${rows} rows (need 2 per row)`);
  for (let r = 0; r < rows; r++) {
    const start = ranges[2 * r]!,
      end = ranges[2 * r + 1]!;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= cacheRows)) {
      throw new RangeError(`attentionDecode: row ${r} has key range [${start}, ${end}); need 0 <= start < end <= ${cacheRows}`);
    }
  }
}

export function attentionDecode(rec: CommandRecorder, a: AttentionDecode): void {
  const op = 'attentionDecode';
  const { rows, cacheRows, Hq, Hkv, D } = a;
  expectPositiveInts(op, { rows, cacheRows, Hq, Hkv, D });
  if (Hq % Hkv !== 0) throw new RangeError(`${op}: Hq (${Hq}) must be a multiple of Hkv (${Hkv})`);
  if (D > ATTENTION_MAX_HEAD_DIM) throw new RangeError(`${op}: head dim D=${D} is over the supported maximum ${ATTENTION_MAX_HEAD_DIM}`);
  if (rows > 65535) throw new RangeError(`${op}: at most 65535 rows per call, got ${rows}`);
  const scale = a.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeError(`${op}: scale must be finite, got ${scale}`);
  const sizes: Record<string, [Tensor, number]> = {
    q: [a.q, rows * Hq * D],
    k: [a.k, cacheRows * Hkv * D],
    v: [a.v, cacheRows * Hkv * D],
    out: [a.out, rows * Hq * D],
    ranges: [a.ranges, 2 * rows],
  };
  for (const [name, [t, n]] of Object.entries(sizes)) {
    expectNumel(`${op}.${name}`, t, n);
    expectDtype(`${op}.${name}`, t, name === 'ranges' ? 'u32' : 'f32');
    if (name !== 'out' && t.buffer === a.out.buffer) throw new RangeError(`${op}: out shares a buffer with ${name}; it needs its own`);
  }
  rec.dispatch({
    kernel: { shader: 'attention_decode' },
    params: {
      rows: ['u32', rows],
      hq: ['u32', Hq],
      hkv: ['u32', Hkv],
      head_dim: ['u32', D],
      scale_log2: ['f32', scale * Math.LOG2E],
    },
    bindings: { q: a.q, k: a.k, v: a.v, ranges: a.ranges, out: a.out },
    workgroups: [rows, Hq],
    label: 'attention decode',
  });
}
