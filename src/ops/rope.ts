/**
 * Rotary position embedding (RoPE) in the HF rotate_half convention, as transformers' LlamaRotaryEmbedding and
 * apply_rotary_pos_emb compute it, plus the host-side inverse frequencies (rope_theta and Llama-3 rope_scaling).
 * Positions are per token (each token's position within its own sequence), so packed batches just work.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel, expectPositiveInts } from './common.ts';

const WG = 256;

/** `rope_scaling` as it appears in a HF config.json (snake_case keys kept so it can be passed through). */
export interface RopeScaling {
  rope_type?: string;
  /** Older configs name rope_type `type`. */
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

export interface RopeConfig {
  headDim: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling | null;
}

const f32 = Math.fround;

/**
 * inv_freq [headDim/2] for rope_type "default" (also when ropeScaling is null) or "llama3", following
 * transformers' _compute_default_rope_parameters / _compute_llama3_parameters with the same f32 operations in
 * the same order as PyTorch runs them (`s / tensor` is `tensor.reciprocal() * s` there), so the result equals
 * PyTorch's up to the last bit of its f32 pow.
 */
export function ropeInverseFrequencies(cfg: RopeConfig): Float32Array {
  const dim = cfg.headDim;
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) throw new RangeError(`rope: headDim must be an even integer >= 2, got ${dim}`);
  if (!(cfg.ropeTheta > 0) || !Number.isFinite(cfg.ropeTheta)) throw new RangeError(`rope: ropeTheta must be a finite number > 0, got ${cfg.ropeTheta}`);
  const scaling = cfg.ropeScaling ?? null;
  const type = scaling?.rope_type ?? scaling?.type ?? 'default';

  const base = f32(cfg.ropeTheta);
  const invFreq = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) invFreq[i] = f32(1 / f32(base ** f32((2 * i) / dim)));
  if (type === 'default') return invFreq;
  if (type !== 'llama3') throw new Error(`rope: rope_scaling type '${type}' is not supported; use 'default' or 'llama3'`);

  const need = (key: keyof RopeScaling): number => {
    const v = scaling![key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`rope: llama3 rope_scaling needs a numeric '${key}', got ${String(v)}`);
    return v;
  };
  const factor = need('factor');
  const lowFreqFactor = need('low_freq_factor');
  const highFreqFactor = need('high_freq_factor');
  const oldContextLen = need('original_max_position_embeddings');
  if (!(highFreqFactor > lowFreqFactor))
    throw new RangeError(`rope: llama3 high_freq_factor (${highFreqFactor}) must exceed low_freq_factor (${lowFreqFactor})`);

  const lowFreqWavelen = f32(oldContextLen / lowFreqFactor);
  const highFreqWavelen = f32(oldContextLen / highFreqFactor);
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const inv = invFreq[i]!;
    const wavelen = f32(f32(1 / inv) * f32(2 * Math.PI));
    // Long wavelengths are divided by factor, short ones kept, the band in between interpolated.
    let scaled = wavelen > lowFreqWavelen ? f32(inv / f32(factor)) : inv;
    if (!(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)) {
      const smooth = f32(f32(f32(f32(1 / wavelen) * f32(oldContextLen)) - f32(lowFreqFactor)) / f32(highFreqFactor - lowFreqFactor));
      scaled = f32(f32(f32(f32(1 - smooth) * scaled) / f32(factor)) + f32(smooth * scaled));
    }
    out[i] = scaled;
  }
  return out;
}

export interface RopeForward {
  x: Tensor; // [tokens, heads, headDim] f32
  /** Same shape as x; omit it to rotate x in place. */
  out?: Tensor;
  positions: Tensor; // [tokens] u32
  invFreq: Tensor; // [headDim/2] f32, from ropeInverseFrequencies
  tokens: number;
  heads: number;
  headDim: number;
}

/**
 * y = R(θ) x per (token, head), θ = positions[token] * invFreq in f32. sin/cos are accurate to ~1e-7 for angles
 * below ~4e5 rad (positions up to ~400K at invFreq 1), and degrade slowly beyond.
 */
export function ropeForward(rec: CommandRecorder, a: RopeForward): void {
  const { x, out, ...rest } = a;
  rope(rec, { src: x, dst: out, ...rest }, 1, 'x', 'out');
}

export interface RopeBackward {
  dy: Tensor; // [tokens, heads, headDim] f32
  /** Same shape as dy; omit it to overwrite dy with dx in place. */
  dx?: Tensor;
  positions: Tensor;
  invFreq: Tensor;
  tokens: number;
  heads: number;
  headDim: number;
}

/** dx = R(-θ) dy: the rotation's transpose. */
export function ropeBackward(rec: CommandRecorder, a: RopeBackward): void {
  const { dy, dx, ...rest } = a;
  rope(rec, { src: dy, dst: dx, ...rest }, -1, 'dy', 'dx');
}

interface RopeDispatch {
  src: Tensor;
  dst?: Tensor;
  positions: Tensor;
  invFreq: Tensor;
  tokens: number;
  heads: number;
  headDim: number;
}

function rope(rec: CommandRecorder, a: RopeDispatch, direction: 1 | -1, srcName: string, dstName: string): void {
  const { tokens, heads, headDim } = a;
  expectPositiveInts('rope', { tokens, heads, headDim });
  if (headDim % 2 !== 0) throw new RangeError(`rope: headDim must be even (rotate_half pairs i with i + headDim/2), got ${headDim}`);
  const numel = tokens * heads * headDim;
  expectNumel(`rope.${srcName}`, a.src, numel);
  expectDtype(`rope.${srcName}`, a.src, 'f32');
  expectNumel('rope.positions', a.positions, tokens);
  expectDtype('rope.positions', a.positions, 'u32');
  expectNumel('rope.invFreq', a.invFreq, headDim / 2);
  expectDtype('rope.invFreq', a.invFreq, 'f32');
  if (a.dst) {
    expectNumel(`rope.${dstName}`, a.dst, numel);
    expectDtype(`rope.${dstName}`, a.dst, 'f32');
    if (a.dst.buffer === a.src.buffer) throw new Error(`rope: ${dstName} shares a buffer with ${srcName}; omit ${dstName} to work in place`);
  }
  const pairs = numel / 2;
  rec.dispatch({
    kernel: { shader: 'rope', defines: a.dst ? {} : { IN_PLACE: true }, constants: { WG } },
    params: {
      pairs: ['u32', pairs],
      heads: ['u32', heads],
      half_dim: ['u32', headDim / 2],
      direction: ['f32', direction],
    },
    bindings: { positions: a.positions, inv_freq: a.invFreq, x: a.src, ...(a.dst ? { y: a.dst } : {}) },
    workgroups: fold1d(ceilDiv(pairs, WG)),
    label: direction > 0 ? 'rope' : 'rope.backward',
  });
}
