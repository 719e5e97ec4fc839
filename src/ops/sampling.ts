/**
 * Token choice on the GPU: argmax per row, and seeded sampling with Hugging Face's temperature, top-k and top-p
 * logits processors (see shaders/sampling.wgsl for the exact semantics and tie handling).
 *
 * Sampling uses the Gumbel-max trick with a counter-based hash of (token, stream, step, seed): the same settings
 * give the same tokens on every run and device (up to float near-ties), and the CPU reference reproduces them.
 * One setting applies to all rows of a call; row r draws from stream r (or streams[r]), and `step` (or steps[r],
 * e.g. the position in the generated sequence) gives each call new randomness.
 *
 * An optional token mask (u32 [rows, ceil(vocab / 32)], bit j of row r set = token j allowed; bits past vocab are
 * ignored) removes the other tokens before anything else, as if their logits were -infinity: argmax and sampling see
 * only allowed tokens, and top-k / top-p count only them (a constraint logits processor ahead of HF's warpers). A row
 * with no allowed token is a caller error; the kernels then write 0xffffffff for it (NO_TOKEN).
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel } from './common.ts';

export interface TokenRows {
  logits: Tensor; // [rows, vocab] f32
  tokens: Tensor; // [rows] u32 out
  rows: number;
  vocab: number;
  /** Optional u32 [rows, ceil(vocab / 32)]: bit j % 32 of word r * ceil(vocab / 32) + j / 32 set = token j allowed in row r. */
  mask?: Tensor;
}

export type Argmax = TokenRows;

/** What a row whose mask allows no token gets. */
export const NO_TOKEN = 0xffffffff;

export interface SamplingSettings {
  /** 0 = greedy (argmax); otherwise logits are divided by it. */
  temperature: number;
  /** Keep the tokens whose logit >= the k-th largest; 0 (default) = off. */
  topK?: number;
  /** Keep the smallest most-likely set whose probability reaches topP; 1 (default) = off. */
  topP?: number;
  /** u32 seed of the random stream. */
  seed: number;
  /** u32 counter mixed into the stream, e.g. the decoding step; default 0. */
  step?: number;
}

export interface Sample extends TokenRows, SamplingSettings {
  /** Optional u32 [rows]: row r draws from stream streams[r] instead of r (the same draws whatever row a sequence is in). */
  streams?: Tensor;
  /** Optional u32 [rows]: row r uses step steps[r] instead of `step`. */
  steps?: Tensor;
}

/** One u32 per context, bound where an optional per-row input is absent. */
const placeholders = new WeakMap<GpuContext, Tensor>();
function placeholderU32(ctx: GpuContext): Tensor {
  let t = placeholders.get(ctx);
  if (!t) {
    t = ctx.upload('u32', [1], [0], 'sampling placeholder');
    placeholders.set(ctx, t);
  }
  return t;
}

/** u32 words per row of a token mask. */
export const maskWords = (vocab: number) => Math.ceil(vocab / 32);

function checkRows(what: string, a: TokenRows): void {
  if (!Number.isInteger(a.rows) || a.rows < 0) throw new RangeError(`${what}: rows must be a non-negative integer, got ${a.rows}`);
  if (!Number.isInteger(a.vocab) || a.vocab < 1) throw new RangeError(`${what}: vocab must be a positive integer, got ${a.vocab}`);
  expectNumel(`${what}.logits`, a.logits, a.rows * a.vocab);
  expectDtype(`${what}.logits`, a.logits, 'f32');
  expectNumel(`${what}.tokens`, a.tokens, a.rows);
  expectDtype(`${what}.tokens`, a.tokens, 'u32');
  if (a.mask) {
    expectNumel(`${what}.mask`, a.mask, a.rows * maskWords(a.vocab));
    expectDtype(`${what}.mask`, a.mask, 'u32');
  }
}

const isU32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;

/** tokens[r] = index of the largest logit of row r, ties to the lowest index (torch.argmax). */
export function argmax(rec: CommandRecorder, a: Argmax): void {
  checkRows('argmax', a);
  rec.dispatch({
    kernel: { shader: 'sampling_argmax', defines: a.mask ? { MASKED: true } : {}, constants: { WG: 256 } },
    params: { rows: ['u32', a.rows], vocab: ['u32', a.vocab] },
    bindings: { logits: a.logits, tokens: a.tokens, ...(a.mask ? { mask: a.mask } : {}) },
    workgroups: fold1d(a.rows),
    label: 'argmax',
  });
}

/** Draws one token per row from the temperature / top-k / top-p filtered softmax of its logits. */
export function sample(rec: CommandRecorder, a: Sample): void {
  checkRows('sample', a);
  const { temperature, topK = 0, topP = 1, seed, step = 0 } = a;
  if (!(temperature >= 0 && Number.isFinite(temperature)) || (temperature > 0 && temperature < 1e-30)) {
    throw new RangeError(`sample: temperature must be 0 (greedy) or in [1e-30, inf), got ${temperature}`);
  }
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`sample: topK must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP >= 0 && topP <= 1)) throw new RangeError(`sample: topP must be in [0, 1] (1 = off), got ${topP}`);
  if (!isU32(seed)) throw new RangeError(`sample: seed must be an integer in [0, 2^32), got ${seed}`);
  if (!isU32(step)) throw new RangeError(`sample: step must be an integer in [0, 2^32), got ${step}`);
  for (const name of ['streams', 'steps'] as const) {
    const t = a[name];
    if (!t) continue;
    expectNumel(`sample.${name}`, t, a.rows);
    expectDtype(`sample.${name}`, t, 'u32');
  }
  if (temperature === 0) return argmax(rec, a);
  // Streams, steps and mask are always bound (a one-element placeholder when absent, flagged off) so that every call
  // shares one pipeline: CPU adapters take 30+ seconds to compile each variant of this kernel.
  const placeholder = placeholderU32(rec.ctx);
  const bindings = { logits: a.logits, tokens: a.tokens, streams: a.streams ?? placeholder, steps: a.steps ?? placeholder, mask: a.mask ?? placeholder };
  const flags = (a.streams ? 1 : 0) | (a.steps ? 2 : 0) | (a.mask ? 4 : 0);
  rec.dispatch({
    kernel: { shader: 'sampling', defines: { MASKED: true }, constants: { WG: 128 } },
    params: {
      rows: ['u32', a.rows],
      vocab: ['u32', a.vocab],
      top_k: ['u32', Math.min(topK, 0xffffffff)],
      top_p: ['f32', topP],
      temperature: ['f32', temperature],
      seed: ['u32', seed],
      step: ['u32', step],
      flags: ['u32', flags],
    },
    bindings,
    workgroups: fold1d(a.rows),
    label: 'sample',
  });
}
