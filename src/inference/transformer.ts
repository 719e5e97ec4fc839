/**
 * The Llama / Qwen2 decoder forward pass on the GPU, HF transformers semantics:
 *   x = embed(ids); per layer: x += o_proj(attn(rope(q(n)), rope(k(n)), v(n))), n = rmsnorm(x)
 *                              x += down(silu(gate(n)) * up(n)),              n = rmsnorm(x)
 *   logits = lm_head(rmsnorm(x))
 * Two modes: a packed batch of whole sequences (forward), and sequences with a KV cache (prefill, decode, step,
 * stepBatch: many sequences of different lengths at once, each in its own cache slot). Every call records all its kernels into one command recorder and submits once; activations come
 * from a per-call arena returned to the pool after the submission.
 * An optional LoRA adapter (setAdapter) is applied unmerged to the projections it adapts: y = x·Wᵀ (+ b) + s·(x·Aᵀ)·Bᵀ
 * (src/lora/inference.ts), in every mode.
 */
import { Arena } from '../gpu/arena.ts';
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { Tensor } from '../gpu/tensor.ts';
import { attentionForward } from '../ops/attention.ts';
import { attentionDecode, checkDecodeRanges } from '../ops/attention-decode.ts';
import { exactKernel, type MatmulVariant } from '../ops/matmul.ts';
import { residualAdd } from '../ops/residual.ts';
import { rmsnormForward } from '../ops/rmsnorm.ts';
import { scatterRows } from '../ops/scatter-rows.ts';
import { ropeForward, ropeInverseFrequencies } from '../ops/rope.ts';
import { argmax } from '../ops/sampling.ts';
import { swigluForward } from '../ops/swiglu.ts';
import type { LoraAdapter } from '../lora/adapter.ts';
import { loraModulePath, type LoraTarget } from '../lora/config.ts';
import { checkAdapterFits, passAdapters, recordLoraDelta, type PassAdapters } from '../lora/inference.ts';
import type { ModelConfig } from '../model/config.ts';
import { KvCache } from '../model/kv-cache.ts';
import { DEFAULT_PREFILL_CHUNK, planPasses, type Pass, type SequenceChunk } from '../model/pass-plan.ts';
import { deviceBindingLimit } from '../model/split-weight.ts';
import { embed, linear } from '../model/weight-ops.ts';
import type { ModelWeights } from '../model/weights.ts';

export type { SequenceChunk } from '../model/pass-plan.ts';

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
  const ids: number[] = [],
    positions: number[] = [],
    seqStart: number[] = [];
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
  /** Most tokens per prefill pass (longer prompts run in chunks against the cache); default 512. */
  prefillChunk?: number;
  /** A LoRA adapter applied at run time without merging (see setAdapter); the caller keeps ownership. */
  adapter?: LoraAdapter | null;
}

/** What a pass's attention reads and writes: no cache (whole packed sequences), or a KV cache as planned (see pass-plan.ts). */
type LayerCachePlan =
  | { kind: 'none'; seqStart: Tensor }
  | { kind: 'packed'; cache: KvCache; rowsTo: Tensor; seqStart: Tensor }
  | { kind: 'chunk'; cache: KvCache; rowsTo: Tensor; slot: number; past: number; seqStart: Tensor }
  | { kind: 'decode'; cache: KvCache; rowsTo: Tensor; ranges: Tensor };

/** Records a kernel that writes the next token of each row (u32 [rows]) from logits [rows, vocab]. */
export type TokenChooser = (rec: CommandRecorder, logits: Tensor, token: Tensor) => void;

export class Transformer {
  private readonly invFreq: Tensor;
  /** Reused across calls: its uniform buffer and bind groups carry over from one decoding step to the next. */
  private readonly rec: CommandRecorder;
  /** Adapters rows may use (SequenceChunk.adapter indexes them), and the index rows use by default (-1: none). */
  private loras: readonly LoraAdapter[] = [];
  private defaultAdapter = -1;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly options: TransformerOptions = {},
  ) {
    this.invFreq = ctx.upload('f32', [config.headDim / 2], ropeInverseFrequencies(config), 'rope.invFreq');
    this.rec = ctx.recorder();
    if (options.adapter) this.setAdapter(options.adapter);
  }

  /**
   * Applies a LoRA adapter (for this model's shapes) to every later call, or none (null). The adapter is read at
   * each call, not copied: its parameters may change between calls (training), and it must outlive its use here.
   * A KV cache filled under one adapter holds that adapter's keys and values: reset it after switching.
   */
  setAdapter(adapter: LoraAdapter | null): void {
    this.setAdapters(adapter ? [adapter] : [], adapter ? 0 : -1);
  }

  /**
   * Adapters for per-sequence use: a SequenceChunk with `adapter: i` runs under adapters[i] (-1: the base model);
   * chunks without one use `defaultAdapter` (-1: none). Rows of different adapters share every pass over the base
   * weights; each run of rows with one adapter adds two thin matmuls per adapted projection (grouped-lora.ts).
   * Same ownership and cache rules as setAdapter.
   */
  setAdapters(adapters: readonly LoraAdapter[], defaultAdapter = -1): void {
    for (const a of adapters) checkAdapterFits(this.config, a);
    if (!Number.isInteger(defaultAdapter) || defaultAdapter < -1 || defaultAdapter >= adapters.length) {
      throw new RangeError(`Transformer.setAdapters: defaultAdapter ${defaultAdapter} is not -1 or an index of the ${adapters.length} adapters`);
    }
    this.loras = [...adapters];
    this.defaultAdapter = defaultAdapter;
  }

  /** The adapter rows use by default, or null. */
  get adapter(): LoraAdapter | null {
    return this.defaultAdapter >= 0 ? this.loras[this.defaultAdapter]! : null;
  }

  /** The adapters sequences may choose from (setAdapters). */
  get adapters(): readonly LoraAdapter[] {
    return this.loras;
  }

  /** Logits [T, vocab] f32 of every token of a packed batch; the caller frees the returned tensor. */
  forward(batch: TokenBatch): Tensor {
    const T = batch.ids.length;
    if (T < 1) throw new RangeError('Transformer.forward: the batch has no tokens');
    const logitBytes = T * this.config.vocabSize * 4;
    if (logitBytes > deviceBindingLimit(this.ctx)) {
      throw new RangeError(
        `Transformer.forward: logits of ${T} tokens x ${this.config.vocabSize} vocabulary are ${logitBytes} bytes, over this device's ` +
          `storage binding limit of ${deviceBindingLimit(this.ctx)} bytes; run fewer tokens per call`,
      );
    }
    const positions = batch.positions ?? Array.from({ length: T }, (_, i) => i);
    const seqStart = batch.seqStart ?? new Uint32Array(T);
    if (positions.length !== T || seqStart.length !== T) {
      throw new RangeError(`Transformer.forward: ${T} ids but ${positions.length} positions and ${seqStart.length} seqStart entries`);
    }
    const rec = this.rec;
    const arena = new Arena(this.ctx);
    try {
      const plan: LayerCachePlan = { kind: 'none', seqStart: arena.upload('u32', [T], seqStart, 'seqStart') };
      const hidden = this.recordLayers(rec, arena, batch.ids, positions, plan, new Array<number>(T).fill(this.defaultAdapter));
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

  /** A KV cache for `slots` sequences of up to maxT tokens each (one by default); the caller disposes it. */
  createCache(maxT: number, slots = 1): KvCache {
    return new KvCache(this.ctx, this.config, maxT, slots);
  }

  /** Runs the prompt into an empty (or reset) cache; returns the logits of its last token. */
  async prefill(cache: KvCache, ids: ArrayLike<number>): Promise<Float32Array> {
    if (cache.length !== 0) throw new Error(`Transformer.prefill: the cache already holds ${cache.length} positions; reset() it first`);
    return this.cachedLogits(cache, [{ slot: 0, ids }]);
  }

  /** Appends one token at position cache.length; returns its logits. */
  async decode(cache: KvCache, token: number): Promise<Float32Array> {
    return this.cachedLogits(cache, [{ slot: 0, ids: [token] }]);
  }

  /**
   * Runs `ids` through slot 0 of the cache and picks the next token on the GPU: `choose` records a kernel that
   * writes one u32 from the last position's logits [1, vocab] (argmax, sample). Only that u32 is read back.
   */
  async step(cache: KvCache, ids: ArrayLike<number>, choose: TokenChooser): Promise<number> {
    return (await this.stepBatch(cache, [{ slot: 0, ids }], choose))[0]!;
  }

  /**
   * One step of batched generation: each entry's tokens are appended to its slot of the cache (a prompt, or the
   * one token chosen last step), then `choose` picks the next token of every entry from the logits of its last
   * token ([entries, vocab], in entry order). Prompts run as chunked prefill (packed together when short), single
   * tokens as one batched decode pass. Returns the chosen tokens, one per entry.
   */
  async stepBatch(cache: KvCache, entries: readonly SequenceChunk[], choose: TokenChooser): Promise<number[]> {
    const tokens = this.launchStep(cache, entries, choose);
    try {
      return Array.from(await this.ctx.read(tokens));
    } finally {
      this.ctx.free(tokens);
    }
  }

  /**
   * stepBatch without the wait: records and submits the step and returns the chosen tokens as a u32 tensor
   * [entries] on the GPU (the caller reads and frees it). With `deviceIds`, every entry is a decode of one
   * token that is already on the GPU: row i of deviceIds (the tokens an earlier launch chose) for entry i,
   * whose `ids` are then ignored. So the next step can be submitted before this one's tokens reach the host,
   * and the CPU's recording overlaps the GPU's work (pipelined decoding, src/generate/generate.ts).
   */
  launchStep(cache: KvCache, entries: readonly SequenceChunk[], choose: TokenChooser, deviceIds?: Tensor): Tensor {
    if (deviceIds) {
      if (deviceIds.dtype !== 'u32' || deviceIds.numel !== entries.length) {
        throw new RangeError(`Transformer.launchStep: deviceIds must be u32 [${entries.length}], got ${deviceIds.dtype} of ${deviceIds.numel}`);
      }
      for (const e of entries) {
        if (cache.lengths[e.slot] === 0)
          throw new RangeError(`Transformer.launchStep: slot ${e.slot} is empty; a device-side token can only be decoded after a prompt`);
      }
      // One placeholder id per entry makes planPasses build the decode pass; recordLayers reads deviceIds instead.
      entries = entries.map((e) => ({ ...e, ids: [0] }));
    }
    const { logits, done } = this.recordEntries(cache, entries, deviceIds);
    const tokens = this.ctx.empty('u32', [entries.length], 'next tokens');
    try {
      choose(this.rec, logits, tokens);
      this.rec.submit();
    } catch (e) {
      this.ctx.free(tokens);
      throw e;
    } finally {
      done();
      this.ctx.free(logits);
    }
    return tokens;
  }

  /** Greedy decoding with a KV cache: the n token ids that follow `ids` (argmax on the GPU, one u32 read per step). */
  async generate(ids: ArrayLike<number>, n: number, opts: { stopIds?: readonly number[] } = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Transformer.generate: n must be a non-negative integer, got ${n}`);
    if (n === 0) return [];
    const cache = this.createCache(ids.length + n);
    const vocab = this.config.vocabSize;
    const greedy: TokenChooser = (rec, logits, tokens) => argmax(rec, { logits, tokens, rows: tokens.numel, vocab });
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

  private async cachedLogits(cache: KvCache, entries: SequenceChunk[]): Promise<Float32Array> {
    const { logits, done } = this.recordEntries(cache, entries);
    this.rec.submit();
    done();
    try {
      return await this.ctx.readF32(logits);
    } finally {
      this.ctx.free(logits);
    }
  }

  /**
   * Records the entries' passes through the cache and the LM head over each entry's last token: logits
   * [entries, vocab], not yet submitted. Passes before the last are submitted as they go, so activation memory
   * stays that of one pass; `done` frees the rest once the caller has submitted.
   */
  private recordEntries(cache: KvCache, entries: readonly SequenceChunk[], deviceIds?: Tensor): { logits: Tensor; done: () => void } {
    const E = entries.length;
    if (E < 1) throw new RangeError('Transformer: no sequences to run');
    const seen = new Set<number>();
    for (const { slot, ids, adapter = this.defaultAdapter } of entries) {
      cache.checkSlot(slot);
      if (seen.has(slot)) throw new RangeError(`Transformer: slot ${slot} appears twice in one step`);
      seen.add(slot);
      if (ids.length < 1) throw new RangeError(`Transformer: no tokens to run for slot ${slot}`);
      if (!Number.isInteger(adapter) || adapter < -1 || adapter >= this.loras.length) {
        throw new RangeError(`Transformer: slot ${slot} asks for adapter ${adapter}; ${this.loras.length} set (setAdapters)`);
      }
      cache.ensureRoom(ids.length, slot);
    }
    const H = this.config.hiddenSize;
    const rowBytes = H * 4;
    const rec = this.rec;
    const passes = planPasses(cache, entries, this.options.prefillChunk ?? DEFAULT_PREFILL_CHUNK, this.defaultAdapter);
    // A step of one pass whose rows are the entries' last tokens in entry order (a decode step, the hot path) feeds
    // its hidden states to the head as they are; otherwise each entry's last row is gathered.
    const only = passes.length === 1 ? passes[0]! : null;
    const direct = only !== null && only.ids.length === E && only.lastRows.every(([entry, row], i) => entry === i && row === i);
    if (deviceIds && !direct) throw new Error('Transformer: device-side ids need a step of one decode pass in entry order');
    const lastHidden = direct ? null : this.ctx.empty('f32', [E, H], 'last hidden');
    let arena: Arena | null = null;
    const free = () => {
      (arena as Arena | null)?.free();
      if (lastHidden) this.ctx.free(lastHidden);
    };
    try {
      let headInput = lastHidden;
      for (const pass of passes) {
        if (arena) {
          rec.submit();
          arena.free();
        }
        arena = new Arena(this.ctx);
        // Device ids come with one decode pass in entry order (launchStep; checked above).
        const ids = deviceIds ?? pass.ids;
        const hidden = this.recordLayers(rec, arena, ids, pass.positions, this.cachePlan(arena, cache, pass), pass.adapters);
        if (!lastHidden) headInput = hidden;
        else {
          for (const [entry, row] of pass.lastRows) {
            rec.copy(
              new Tensor(hidden.buffer, 'f32', [1, H], hidden.byteOffset + row * rowBytes),
              new Tensor(lastHidden.buffer, 'f32', [1, H], lastHidden.byteOffset + entry * rowBytes),
              rowBytes,
            );
          }
        }
        for (const [slot, tokens] of pass.appended) cache.lengths[slot]! += tokens;
      }
      const logits = this.ctx.empty('f32', [E, this.config.vocabSize], 'logits');
      this.recordHead(rec, headInput!, logits, E);
      return { logits, done: free };
    } catch (e) {
      free();
      throw e;
    }
  }

  /** Uploads what a pass's attention needs to use the cache. */
  private cachePlan(arena: Arena, cache: KvCache, pass: Pass): LayerCachePlan {
    const T = pass.ids.length;
    const rowsTo = arena.upload('u32', [T], pass.rowsTo, 'kv rows');
    switch (pass.kind) {
      case 'packed':
        return { kind: 'packed', cache, rowsTo, seqStart: arena.upload('u32', [T], pass.seqStart, 'seqStart') };
      case 'chunk':
        return { kind: 'chunk', cache, rowsTo, slot: pass.slot, past: pass.past, seqStart: arena.upload('u32', [T], new Uint32Array(T), 'seqStart') };
      case 'decode':
        checkDecodeRanges(pass.ranges, T, cache.rows);
        return { kind: 'decode', cache, rowsTo, ranges: arena.upload('u32', [T, 2], pass.ranges, 'kv ranges') };
    }
  }

  private variant(M: number): MatmulVariant {
    return this.options.matmul === 'f32' ? exactKernel(M) : 'auto';
  }

  /**
   * y[M, out] = x[M, in]·Wᵀ (+ bias) (+ the LoRA delta) for projection `target` of `layer` (HF Linear weight W [out, in]).
   * The one place the adapter enters the forward pass.
   */
  private projection(rec: CommandRecorder, lora: PassAdapters | null, layer: number, target: LoraTarget, x: Tensor, y: Tensor, M: number): void {
    const path = loraModulePath(layer, target);
    const biased = this.config.attentionBias && (target === 'q_proj' || target === 'k_proj' || target === 'v_proj');
    const variant = this.variant(M);
    linear(rec, { x, weight: this.weights.ref(`${path}.weight`), y, M, bias: biased ? this.weights.get(`${path}.bias`) : undefined, variant });
    if (lora) recordLoraDelta(rec, lora, { layer, target, x, y, variant: (rows) => this.variant(rows) });
  }

  /**
   * Embedding and all decoder layers; returns the final-normed hidden states [T, hidden]. With a cache, the new
   * tokens' k (after RoPE) and v are written to their cache rows and attention reads the cache (see LayerCachePlan).
   */
  private recordLayers(
    rec: CommandRecorder,
    arena: Arena,
    /** Host ids (checked and uploaded), or u32 ids already on the GPU (chosen by the sampler: in range). */
    ids: ArrayLike<number> | Tensor,
    positions: ArrayLike<number>,
    plan: LayerCachePlan,
    rowAdapters: ArrayLike<number>,
  ): Tensor {
    const cfg = this.config;
    const T = ids instanceof Tensor ? ids.numel : ids.length;
    const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D, rmsNormEps: eps } = cfg;
    let idsT: Tensor;
    if (ids instanceof Tensor) idsT = ids;
    else {
      for (let i = 0; i < T; i++) {
        const id = ids[i]!;
        if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new RangeError(`Transformer: token id ${id} outside [0, ${cfg.vocabSize})`);
      }
      idsT = arena.upload('u32', [T], ids, 'ids');
    }
    const posT = arena.upload('u32', [T], positions, 'positions');
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
    const lora = passAdapters(this.loras, rowAdapters, (dtype, shape, label) => arena.empty(dtype, shape, label));

    embed(rec, { table: this.weights.ref('model.embed_tokens.weight'), ids: idsT, out: x, tokens: T, dim: H });
    for (let l = 0; l < cfg.numLayers; l++) {
      const p = `model.layers.${l}`;
      const project = (target: LoraTarget, input: Tensor, output: Tensor) => this.projection(rec, lora, l, target, input, output, T);
      rmsnormForward(rec, { x, weight: this.weights.get(`${p}.input_layernorm.weight`), y: n, rstd, rows: T, dim: H, eps });
      project('q_proj', n, q);
      project('k_proj', n, k);
      project('v_proj', n, v);
      ropeForward(rec, { x: q, positions: posT, invFreq: this.invFreq, tokens: T, heads: Hq, headDim: D });
      ropeForward(rec, { x: k, positions: posT, invFreq: this.invFreq, tokens: T, heads: Hkv, headDim: D });
      this.recordAttention(rec, plan, l, { q, k, v, attn, lse, T });
      project('o_proj', attn, proj);
      residualAdd(rec, { a: x, b: proj });
      rmsnormForward(rec, { x, weight: this.weights.get(`${p}.post_attention_layernorm.weight`), y: n, rstd, rows: T, dim: H, eps });
      project('gate_proj', n, gate);
      project('up_proj', n, up);
      swigluForward(rec, { gate, up, h: act, tokens: T, ffn: F });
      project('down_proj', act, proj);
      residualAdd(rec, { a: x, b: proj });
    }
    rmsnormForward(rec, { x, weight: this.weights.get('model.norm.weight'), y: n, rstd, rows: T, dim: H, eps });
    return n;
  }

  /** Attention of layer l for the pass's plan; with a cache, first stores the new keys and values in their rows. */
  private recordAttention(
    rec: CommandRecorder,
    plan: LayerCachePlan,
    l: number,
    t: { q: Tensor; k: Tensor; v: Tensor; attn: Tensor; lse: Tensor; T: number },
  ): void {
    const { numHeads: Hq, numKvHeads: Hkv, headDim: D } = this.config;
    const { q, k, v, attn: out, lse, T } = t;
    if (plan.kind === 'none') {
      attentionForward(rec, { q, k, v, out, lse, seqStart: plan.seqStart, T, Hq, Hkv, D });
      return;
    }
    const { cache, rowsTo } = plan;
    const width = Hkv * D;
    scatterRows(rec, { src: k, rowsTo, dst: cache.keys[l]!, rows: T, width, dstRows: cache.rows });
    scatterRows(rec, { src: v, rowsTo, dst: cache.values[l]!, rows: T, width, dstRows: cache.rows });
    switch (plan.kind) {
      case 'packed':
        attentionForward(rec, { q, k, v, out, lse, seqStart: plan.seqStart, T, Hq, Hkv, D });
        break;
      case 'chunk': {
        const Tk = plan.past + T;
        const keys = cache.view('keys', l, plan.slot, Tk),
          values = cache.view('values', l, plan.slot, Tk);
        attentionForward(rec, { q, k: keys, v: values, out, lse, seqStart: plan.seqStart, T, Tk, queryOffset: plan.past, Hq, Hkv, D });
        break;
      }
      case 'decode':
        attentionDecode(rec, { q, k: cache.keys[l]!, v: cache.values[l]!, ranges: plan.ranges, out, rows: T, cacheRows: cache.rows, Hq, Hkv, D });
        break;
    }
  }

  private recordHead(rec: CommandRecorder, hidden: Tensor, logits: Tensor, rows: number): void {
    linear(rec, { x: hidden, weight: this.weights.lmHeadRef, y: logits, M: rows, variant: this.variant(rows) });
  }
}
