/**
 * The Llama / Qwen2 decoder forward pass on the GPU, HF transformers semantics:
 *   x = embed(ids); per layer: x += o_proj(attn(rope(q(n)), rope(k(n)), v(n))), n = rmsnorm(x)
 *                              x += down(silu(gate(n)) * up(n)),              n = rmsnorm(x)
 *   logits = lm_head(rmsnorm(x))
 * Two modes: a packed batch of whole sequences (forward), and one sequence with a KV cache (prefill, decode,
 * generate). Every call records all its kernels into one command recorder and submits once; activations come
 * from a per-call arena returned to the pool after the submission.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { DType } from '../gpu/dtype.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { Tensor } from '../gpu/tensor.ts';
import { attentionForward } from '../ops/attention.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { matmul, SKINNY_MAX_M, type MatmulVariant } from '../ops/matmul.ts';
import { residualAdd } from '../ops/residual.ts';
import { rmsnormForward } from '../ops/rmsnorm.ts';
import { ropeForward, ropeInverseFrequencies } from '../ops/rope.ts';
import { argmax } from '../ops/sampling.ts';
import { swigluForward } from '../ops/swiglu.ts';
import type { ModelConfig } from './config.ts';
import { KvCache } from './kv-cache.ts';
import type { ModelWeights } from './weights.ts';

/** Tokens of one or more sequences packed back to back. */
export interface TokenBatch {
  ids: ArrayLike<number>;
  /** Each token's position within its own sequence; default 0, 1, … (one sequence). */
  positions?: ArrayLike<number>;
  /** Index of the first token of each token's sequence (see seqStartFromLengths); default 0 (one sequence). */
  seqStart?: ArrayLike<number>;
}

/** Packs whole sequences into one batch: positions restart at 0 and attention stays inside each sequence. */
export function packSequences(sequences: readonly (readonly number[])[]): Required<TokenBatch> {
  const ids: number[] = [], positions: number[] = [], seqStart: number[] = [];
  for (const seq of sequences) {
    const start = ids.length;
    seq.forEach((id, i) => {
      ids.push(id);
      positions.push(i);
      seqStart.push(start);
    });
  }
  return { ids, positions, seqStart };
}

export interface TransformerOptions {
  /**
   * Matmul kernels: 'f32' keeps every activation in f32 (skinny for few rows, else the portable tiled kernel);
   * 'auto' (default) lets matmul pick the fastest, which may round activations to f16 on shader-f16 devices.
   */
  matmul?: 'auto' | 'f32';
}

/** Tensors of one call, freed together once its submission is queued. */
class Arena {
  private tensors: Tensor[] = [];
  constructor(private readonly ctx: GpuContext) {}
  empty(dtype: DType, shape: readonly number[], label?: string): Tensor {
    const t = this.ctx.empty(dtype, shape, label);
    this.tensors.push(t);
    return t;
  }
  upload(dtype: DType, shape: readonly number[], data: ArrayLike<number>, label?: string): Tensor {
    const t = this.ctx.upload(dtype, shape, data, label);
    this.tensors.push(t);
    return t;
  }
  free(): void {
    this.ctx.free(...this.tensors);
    this.tensors = [];
  }
}

/** Records a kernel that writes the next token (u32 [1]) from logits [1, vocab]. */
export type TokenChooser = (rec: CommandRecorder, logits: Tensor, token: Tensor) => void;

export class Transformer {
  private readonly invFreq: Tensor;
  /** Reused across calls: its uniform buffer and bind groups carry over from one decoding step to the next. */
  private readonly rec: CommandRecorder;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly options: TransformerOptions = {},
  ) {
    this.invFreq = ctx.upload('f32', [config.headDim / 2], ropeInverseFrequencies(config), 'rope.invFreq');
    this.rec = ctx.recorder();
  }

  /** Logits [T, vocab] f32 of every token of a packed batch; the caller frees the returned tensor. */
  forward(batch: TokenBatch): Tensor {
    const T = batch.ids.length;
    if (T < 1) throw new RangeError('Transformer.forward: the batch has no tokens');
    const positions = batch.positions ?? Array.from({ length: T }, (_, i) => i);
    const seqStart = batch.seqStart ?? new Uint32Array(T);
    if (positions.length !== T || seqStart.length !== T) {
      throw new RangeError(`Transformer.forward: ${T} ids but ${positions.length} positions and ${seqStart.length} seqStart entries`);
    }
    const rec = this.rec;
    const arena = new Arena(this.ctx);
    try {
      const hidden = this.recordLayers(rec, arena, batch.ids, positions, seqStart, null);
      const logits = this.ctx.empty('f32', [T, this.config.vocabSize], 'logits');
      this.recordHead(rec, hidden, logits, T);
      rec.submit();
      return logits;
    } finally {
      arena.free();
    }
  }

  /** Reads logits [rows, vocab] back as one Float32Array per row. */
  async readLogits(logits: Tensor): Promise<Float32Array[]> {
    const flat = await this.ctx.readF32(logits);
    const V = this.config.vocabSize;
    return Array.from({ length: flat.length / V }, (_, r) => flat.subarray(r * V, (r + 1) * V));
  }

  /** Convenience: forward + readback + free. */
  async logits(batch: TokenBatch): Promise<Float32Array[]> {
    const t = this.forward(batch);
    try {
      return await this.readLogits(t);
    } finally {
      this.ctx.free(t);
    }
  }

  /** A KV cache for one sequence of up to maxT tokens; the caller disposes it. */
  createCache(maxT: number): KvCache {
    return new KvCache(this.ctx, this.config, maxT);
  }

  /** Runs the prompt into an empty (or reset) cache; returns the logits of its last token. */
  async prefill(cache: KvCache, ids: ArrayLike<number>): Promise<Float32Array> {
    if (cache.length !== 0) throw new Error(`Transformer.prefill: the cache already holds ${cache.length} positions; reset() it first`);
    return this.cachedStep(cache, ids);
  }

  /** Appends one token at position cache.length; returns its logits. */
  async decode(cache: KvCache, token: number): Promise<Float32Array> {
    return this.cachedStep(cache, [token]);
  }

  /**
   * Runs `ids` through the cache and picks the next token on the GPU: `choose` records a kernel that writes one u32
   * from the last position's logits [1, vocab] (argmax, sample). Only that u32 is read back.
   */
  async step(cache: KvCache, ids: ArrayLike<number>, choose: TokenChooser): Promise<number> {
    const { rec, arena, logits } = this.recordCached(cache, ids);
    const token = this.ctx.empty('u32', [1], 'next token');
    try {
      choose(rec, logits, token);
      rec.submit();
      return (await this.ctx.read(token))[0]!;
    } finally {
      arena.free();
      this.ctx.free(logits, token);
    }
  }

  /** Greedy decoding with a KV cache: the n token ids that follow `ids` (argmax on the GPU, one u32 read per step). */
  async generate(ids: ArrayLike<number>, n: number, opts: { stopIds?: readonly number[] } = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Transformer.generate: n must be a non-negative integer, got ${n}`);
    if (n === 0) return [];
    const cache = this.createCache(ids.length + n);
    const vocab = this.config.vocabSize;
    const greedy: TokenChooser = (rec, logits, tokens) => argmax(rec, { logits, tokens, rows: 1, vocab });
    const out: number[] = [];
    try {
      let input: ArrayLike<number> = ids;
      for (let i = 0; i < n; i++) {
        const next = await this.step(cache, input, greedy);
        out.push(next);
        if (opts.stopIds?.includes(next)) break;
        input = [next];
      }
    } finally {
      cache.dispose();
    }
    return out;
  }

  dispose(): void {
    this.ctx.free(this.invFreq);
    this.rec.dispose();
  }

  private async cachedStep(cache: KvCache, ids: ArrayLike<number>): Promise<Float32Array> {
    const { rec, arena, logits } = this.recordCached(cache, ids);
    rec.submit();
    arena.free();
    try {
      return await this.ctx.readF32(logits);
    } finally {
      this.ctx.free(logits);
    }
  }

  /** Records the new tokens' pass through the cache; the logits [1, vocab] are of the last new token. */
  private recordCached(cache: KvCache, ids: ArrayLike<number>) {
    const T = ids.length;
    if (T < 1) throw new RangeError('Transformer: no tokens to run');
    cache.ensureRoom(T);
    const past = cache.length;
    const rec = this.rec;
    const arena = new Arena(this.ctx);
    const positions = Array.from({ length: T }, (_, i) => past + i);
    const hidden = this.recordLayers(rec, arena, ids, positions, new Uint32Array(T), cache);
    const last = arena.empty('f32', [1, this.config.hiddenSize], 'last hidden');
    const rowBytes = this.config.hiddenSize * 4;
    rec.copy(new Tensor(hidden.buffer, 'f32', [1, this.config.hiddenSize], hidden.byteOffset + (T - 1) * rowBytes), last, rowBytes);
    const logits = this.ctx.empty('f32', [1, this.config.vocabSize], 'logits');
    this.recordHead(rec, last, logits, 1);
    cache.length = past + T;
    return { rec, arena, logits };
  }

  private variant(M: number): MatmulVariant {
    if (this.options.matmul !== 'f32') return 'auto';
    return M <= SKINNY_MAX_M ? 'skinny' : 'portable';
  }

  /** y[M, out] = x[M, in] · Wᵀ (+ bias) for a HF Linear weight W [out, in]. */
  private linear(rec: CommandRecorder, x: Tensor, name: string, y: Tensor, M: number, bias?: string): void {
    const w = this.weights.get(name);
    const [N, K] = w.shape as [number, number];
    matmul(rec, { a: x, b: w, c: y, M, N, K, transB: true, bias: bias ? this.weights.get(bias) : undefined, variant: this.variant(M) });
  }

  /**
   * Embedding and all decoder layers; returns the final-normed hidden states [T, hidden]. With a cache, the new
   * tokens' k (after RoPE) and v are copied to positions [cache.length, cache.length + T) and attention reads
   * every cached position; without, attention stays within each packed sequence.
   */
  private recordLayers(
    rec: CommandRecorder,
    arena: Arena,
    ids: ArrayLike<number>,
    positions: ArrayLike<number>,
    seqStart: ArrayLike<number>,
    cache: KvCache | null,
  ): Tensor {
    const cfg = this.config;
    const T = ids.length;
    const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D, rmsNormEps: eps } = cfg;
    for (let i = 0; i < T; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new RangeError(`Transformer: token id ${id} outside [0, ${cfg.vocabSize})`);
    }
    const idsT = arena.upload('u32', [T], ids, 'ids');
    const posT = arena.upload('u32', [T], positions, 'positions');
    const seqStartT = arena.upload('u32', [T], seqStart, 'seqStart');
    const x = arena.empty('f32', [T, H], 'residual');
    const n = arena.empty('f32', [T, H], 'normed');
    const rstd = arena.empty('f32', [T], 'rstd');
    const q = arena.empty('f32', [T, Hq * D], 'q');
    const k = arena.empty('f32', [T, Hkv * D], 'k');
    const v = arena.empty('f32', [T, Hkv * D], 'v');
    const attn = arena.empty('f32', [T, Hq * D], 'attn');
    const lse = arena.empty('f32', [Hq, T], 'lse');
    const proj = arena.empty('f32', [T, H], 'proj');
    const gate = arena.empty('f32', [T, F], 'gate');
    const up = arena.empty('f32', [T, F], 'up');
    const act = arena.empty('f32', [T, F], 'act');

    embeddingForward(rec, { table: this.weights.get('model.embed_tokens.weight'), ids: idsT, out: x, tokens: T, dim: H, vocab: cfg.vocabSize });
    const past = cache?.length ?? 0;
    for (let l = 0; l < cfg.numLayers; l++) {
      const p = `model.layers.${l}`;
      const bias = (name: string) => (cfg.attentionBias ? `${p}.self_attn.${name}.bias` : undefined);
      rmsnormForward(rec, { x, weight: this.weights.get(`${p}.input_layernorm.weight`), y: n, rstd, rows: T, dim: H, eps });
      this.linear(rec, n, `${p}.self_attn.q_proj.weight`, q, T, bias('q_proj'));
      this.linear(rec, n, `${p}.self_attn.k_proj.weight`, k, T, bias('k_proj'));
      this.linear(rec, n, `${p}.self_attn.v_proj.weight`, v, T, bias('v_proj'));
      ropeForward(rec, { x: q, positions: posT, invFreq: this.invFreq, tokens: T, heads: Hq, headDim: D });
      ropeForward(rec, { x: k, positions: posT, invFreq: this.invFreq, tokens: T, heads: Hkv, headDim: D });
      if (cache) {
        rec.copy(k, cache.slice('keys', l, past, T));
        rec.copy(v, cache.slice('values', l, past, T));
        const Tk = past + T;
        attentionForward(rec, {
          q, k: cache.view('keys', l, Tk), v: cache.view('values', l, Tk), out: attn, lse, seqStart: seqStartT,
          T, Tk, queryOffset: past, Hq, Hkv, D,
        });
      } else {
        attentionForward(rec, { q, k, v, out: attn, lse, seqStart: seqStartT, T, Hq, Hkv, D });
      }
      this.linear(rec, attn, `${p}.self_attn.o_proj.weight`, proj, T);
      residualAdd(rec, { a: x, b: proj });
      rmsnormForward(rec, { x, weight: this.weights.get(`${p}.post_attention_layernorm.weight`), y: n, rstd, rows: T, dim: H, eps });
      this.linear(rec, n, `${p}.mlp.gate_proj.weight`, gate, T);
      this.linear(rec, n, `${p}.mlp.up_proj.weight`, up, T);
      swigluForward(rec, { gate, up, h: act, tokens: T, ffn: F });
      this.linear(rec, act, `${p}.mlp.down_proj.weight`, proj, T);
      residualAdd(rec, { a: x, b: proj });
    }
    rmsnormForward(rec, { x, weight: this.weights.get('model.norm.weight'), y: n, rstd, rows: T, dim: H, eps });
    return n;
  }

  private recordHead(rec: CommandRecorder, hidden: Tensor, logits: Tensor, rows: number): void {
    const head = this.weights.lmHead;
    matmul(rec, { a: hidden, b: head, c: logits, M: rows, N: this.config.vocabSize, K: this.config.hiddenSize, transB: true, variant: this.variant(rows) });
  }
}
