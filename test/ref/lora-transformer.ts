/**
 * f64 CPU reference of LoRA training for Llama / Qwen2 (HF transformers + PEFT semantics), written from the math:
 * the forward of a packed batch with adapted projections y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ, the weighted mean
 * cross-entropy loss, and the gradient of that loss with respect to every A and B by reverse mode written by
 * hand (layer by layer, from the block references of each op in test/ref, each checked against finite
 * differences in its own test). Also the merged weights W + s·B·A, for checking an adapter against the plain
 * reference transformer. Whole-batch row-major layouts: activations [T, features].
 */
import type { ModelConfig } from '../../src/model/config.ts';
import { ropeInverseFrequencies } from '../../src/ops/rope.ts';
import { attentionBackwardRef, attentionRef } from './attention.ts';
import { rmsnormBackwardRef, rmsnormRef } from './rmsnorm.ts';
import { ropeBackwardRef, ropeRef } from './rope.ts';
import { swigluBackwardRef, swigluRef } from './swiglu.ts';
import type { Weights } from './transformer.ts';

export const REF_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
type Target = (typeof REF_TARGETS)[number];

/** A [r, in] and B [out, r] of one projection, f64 so finite differences can perturb them in place. */
export interface RefLoraModule {
  a: Float64Array;
  b: Float64Array;
}

export interface RefLora {
  rank: number;
  scale: number;
  /** By HF module path (model.layers.{i}.self_attn.q_proj, …). */
  modules: Map<string, RefLoraModule>;
}

export interface RefBatch {
  ids: ArrayLike<number>;
  positions: ArrayLike<number>;
  seqStart: ArrayLike<number>;
  /** -100 (or any id outside the vocabulary) ignores the position. */
  targets: ArrayLike<number>;
  weights: ArrayLike<number>;
}

const MLP_TARGETS: ReadonlySet<string> = new Set(['gate_proj', 'up_proj', 'down_proj']);
const modulePath = (layer: number, t: Target) => `model.layers.${layer}.${MLP_TARGETS.has(t) ? 'mlp' : 'self_attn'}.${t}`;

function weight(weights: Weights, name: string, numel: number): ArrayLike<number> {
  const w = weights.get(name);
  if (!w) throw new Error(`LoRA reference: missing weight ${name}`);
  if (w.length !== numel) throw new Error(`LoRA reference: ${name} has ${w.length} elements, expected ${numel}`);
  return w;
}

/** c[M, N] = a[M, K] · b[N, K]ᵀ */
function mulNT(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k]! * b[n * K + k]!;
      c[m * N + n] = s;
    }
  }
  return c;
}

/** c[M, N] = a[M, K] · b[K, N] */
function mulNN(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const av = a[m * K + k]!;
      if (av === 0) continue;
      for (let n = 0; n < N; n++) c[m * N + n]! += av * b[k * N + n]!;
    }
  }
  return c;
}

/** c[M, N] = a[K, M]ᵀ · b[K, N] */
function mulTN(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) {
      const av = a[k * M + m]!;
      if (av === 0) continue;
      for (let n = 0; n < N; n++) c[m * N + n]! += av * b[k * N + n]!;
    }
  }
  return c;
}

const add = <A extends Float64Array>(a: A, b: ArrayLike<number>, s = 1): A => {
  for (let i = 0; i < a.length; i++) a[i]! += s * b[i]!;
  return a;
};

interface Projection {
  w: ArrayLike<number>;
  bias?: ArrayLike<number>;
  inF: number;
  outF: number;
  lora?: RefLoraModule;
}

function projections(cfg: ModelConfig, weights: Weights, lora: RefLora | null, layer: number): Record<Target, Projection> {
  const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D } = cfg;
  const dims: Record<Target, [number, number]> = {
    q_proj: [Hq * D, H],
    k_proj: [Hkv * D, H],
    v_proj: [Hkv * D, H],
    o_proj: [H, Hq * D],
    gate_proj: [F, H],
    up_proj: [F, H],
    down_proj: [H, F],
  };
  const out = {} as Record<Target, Projection>;
  for (const t of REF_TARGETS) {
    const [outF, inF] = dims[t];
    const path = modulePath(layer, t);
    const biased = cfg.attentionBias && (t === 'q_proj' || t === 'k_proj' || t === 'v_proj');
    out[t] = {
      w: weight(weights, `${path}.weight`, outF * inF),
      bias: biased ? weight(weights, `${path}.bias`, outF) : undefined,
      inF,
      outF,
      lora: lora?.modules.get(path),
    };
  }
  return out;
}

/** y [T, out] = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ */
function projForward(p: Projection, x: ArrayLike<number>, T: number, lora: RefLora | null): Float64Array {
  const y = mulNT(x, p.w, T, p.outF, p.inF);
  if (p.bias) for (let t = 0; t < T; t++) for (let o = 0; o < p.outF; o++) y[t * p.outF + o]! += p.bias[o]!;
  if (p.lora && lora) add(y, mulNT(mulNT(x, p.lora.a, T, lora.rank, p.inF), p.lora.b, T, p.outF, lora.rank), lora.scale);
  return y;
}

/** dx, and dA / dB into grads, of y = projForward(x) given dy. */
function projBackward(p: Projection, x: ArrayLike<number>, dy: Float64Array, T: number, lora: RefLora | null, grads: RefLoraModule | undefined): Float64Array {
  const dx = mulNN(dy, p.w, T, p.inF, p.outF);
  if (p.lora && lora && grads) {
    const r = lora.rank,
      s = lora.scale;
    const u = mulNT(x, p.lora.a, T, r, p.inF); // [T, r]
    add(grads.b, mulTN(dy, u, p.outF, r, T), s); // dB = s·dyᵀ·u
    const e = mulNN(dy, p.lora.b, T, r, p.outF); // e = dy·B [T, r]
    add(grads.a, mulTN(e, x, r, p.inF, T), s); // dA = s·eᵀ·x
    add(dx, mulNN(e, p.lora.a, T, p.inF, r), s); // dx += s·e·A
  }
  return dx;
}

interface LayerCache {
  x: Float64Array;
  n1: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  attn: Float64Array;
  xMid: Float64Array;
  n2: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  act: Float64Array;
}

function forward(cfg: ModelConfig, weights: Weights, lora: RefLora | null, batch: Omit<RefBatch, 'targets' | 'weights'>) {
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D, vocabSize: V, rmsNormEps: eps } = cfg;
  const T = batch.ids.length;
  const invFreq = ropeInverseFrequencies(cfg); // the f32 inv_freq PyTorch computes
  const shape = { T, Hq, Hkv, D, scale: 1 / Math.sqrt(D) };
  const embed = weight(weights, 'model.embed_tokens.weight', V * H);
  let x: Float64Array = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    const id = batch.ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`LoRA reference: token id ${id} outside [0, ${V})`);
    for (let i = 0; i < H; i++) x[t * H + i] = embed[id * H + i]!;
  }
  const caches: LayerCache[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const proj = projections(cfg, weights, lora, l);
    const n1 = rmsnormRef(x, weight(weights, `${p}.input_layernorm.weight`, H), T, H, eps).y;
    const q = ropeRef(projForward(proj.q_proj, n1, T, lora), batch.positions, invFreq, T, Hq, D, 'f32');
    const k = ropeRef(projForward(proj.k_proj, n1, T, lora), batch.positions, invFreq, T, Hkv, D, 'f32');
    const v = projForward(proj.v_proj, n1, T, lora);
    const attn = attentionRef(q, k, v, batch.seqStart, shape).out;
    const xMid = add(Float64Array.from(x), projForward(proj.o_proj, attn, T, lora));
    const n2 = rmsnormRef(xMid, weight(weights, `${p}.post_attention_layernorm.weight`, H), T, H, eps).y;
    const gate = projForward(proj.gate_proj, n2, T, lora);
    const up = projForward(proj.up_proj, n2, T, lora);
    const act = swigluRef(gate, up);
    caches.push({ x, n1, q, k, v, attn, xMid, n2, gate, up, act });
    x = add(Float64Array.from(xMid), projForward(proj.down_proj, act, T, lora));
  }
  const nf = rmsnormRef(x, weight(weights, 'model.norm.weight', H), T, H, eps).y;
  const head = cfg.tieWordEmbeddings ? embed : weight(weights, 'lm_head.weight', V * H);
  const logits = mulNT(nf, head, T, V, H);
  return { caches, hidden: x, nf, head, logits };
}

/** Logits [T, vocab] (row-major) of a packed batch with the adapter applied (null: the base model). */
export function loraLogitsRef(cfg: ModelConfig, weights: Weights, lora: RefLora | null, batch: Omit<RefBatch, 'targets' | 'weights'>): Float64Array {
  return forward(cfg, weights, lora, batch).logits;
}

const tokenWeight = (b: RefBatch, t: number, V: number) => {
  const target = b.targets[t]!;
  return Number.isInteger(target) && target >= 0 && target < V ? b.weights[t]! : 0;
};

/** sum_t w_t·(logsumexp(logits_t) − logits_t[target_t]) / denominator (default sum_t w_t), and each row's softmax. */
function lossOf(logits: Float64Array, b: RefBatch, V: number, denominator?: number) {
  const T = b.ids.length;
  let num = 0,
    den = 0;
  const softmax = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]!);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += softmax[t * V + i] = Math.exp(logits[t * V + i]! - max);
    for (let i = 0; i < V; i++) softmax[t * V + i]! /= sum;
    const w = tokenWeight(b, t, V);
    den += w;
    if (w !== 0) num += w * (max + Math.log(sum) - logits[t * V + b.targets[t]!]!);
  }
  const d = denominator ?? den;
  return { loss: d > 0 ? num / d : 0, softmax, denominator: d };
}

/** The weighted mean cross-entropy of a packed batch. */
export function loraLossRef(cfg: ModelConfig, weights: Weights, lora: RefLora | null, batch: RefBatch, denominator?: number): number {
  return lossOf(forward(cfg, weights, lora, batch).logits, batch, cfg.vocabSize, denominator).loss;
}

/** The loss and its gradient with respect to every A and B (same module keys as lora.modules), by hand-written reverse mode. */
export function loraGradRef(cfg: ModelConfig, weights: Weights, lora: RefLora, batch: RefBatch, denominator?: number) {
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D, vocabSize: V, rmsNormEps: eps } = cfg;
  const T = batch.ids.length;
  const fwd = forward(cfg, weights, lora, batch);
  const { loss, softmax, denominator: den } = lossOf(fwd.logits, batch, V, denominator);
  const grads = new Map<string, RefLoraModule>();
  for (const [path, m] of lora.modules) grads.set(path, { a: new Float64Array(m.a.length), b: new Float64Array(m.b.length) });

  // dlogits = w_t / den · (softmax − onehot(target)); then back through the head and the final norm.
  const dlogits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const w = tokenWeight(batch, t, V);
    if (w === 0 || den === 0) continue;
    for (let i = 0; i < V; i++) dlogits[t * V + i] = (w / den) * (softmax[t * V + i]! - (i === batch.targets[t] ? 1 : 0));
  }
  const dnf = mulNN(dlogits, fwd.head, T, H, V);
  let g: Float64Array = rmsnormBackwardRef(fwd.hidden, weight(weights, 'model.norm.weight', H), dnf, T, H, eps);

  const invFreq = ropeInverseFrequencies(cfg);
  const shape = { T, Hq, Hkv, D, scale: 1 / Math.sqrt(D) };
  for (let l = cfg.numLayers - 1; l >= 0; l--) {
    const c = fwd.caches[l]!;
    const p = `model.layers.${l}`;
    const proj = projections(cfg, weights, lora, l);
    const gr = (t: Target) => grads.get(modulePath(l, t));
    // MLP
    const dAct = projBackward(proj.down_proj, c.act, g, T, lora, gr('down_proj'));
    const { dgate, dup } = swigluBackwardRef(c.gate, c.up, dAct);
    const dn2 = add(projBackward(proj.gate_proj, c.n2, dgate, T, lora, gr('gate_proj')), projBackward(proj.up_proj, c.n2, dup, T, lora, gr('up_proj')));
    g = add(g, rmsnormBackwardRef(c.xMid, weight(weights, `${p}.post_attention_layernorm.weight`, H), dn2, T, H, eps));
    // Attention
    const dAttn = projBackward(proj.o_proj, c.attn, g, T, lora, gr('o_proj'));
    const { dq, dk, dv } = attentionBackwardRef(c.q, c.k, c.v, dAttn, batch.seqStart, shape);
    const dqRaw = ropeBackwardRef(dq, batch.positions, invFreq, T, Hq, D, 'f32');
    const dkRaw = ropeBackwardRef(dk, batch.positions, invFreq, T, Hkv, D, 'f32');
    const dn1 = projBackward(proj.q_proj, c.n1, dqRaw, T, lora, gr('q_proj'));
    add(dn1, projBackward(proj.k_proj, c.n1, dkRaw, T, lora, gr('k_proj')));
    add(dn1, projBackward(proj.v_proj, c.n1, dv, T, lora, gr('v_proj')));
    g = add(g, rmsnormBackwardRef(c.x, weight(weights, `${p}.input_layernorm.weight`, H), dn1, T, H, eps));
  }
  return { loss, grads };
}

/** The base weights with every adapter merged in: W + s·B·A (f64), the rest shared. */
export function mergeLoraRef(weights: Weights, lora: RefLora): Weights {
  const merged: Weights = new Map(weights);
  for (const [path, m] of lora.modules) {
    const w = weights.get(`${path}.weight`);
    if (!w) throw new Error(`LoRA reference: no base weight for ${path}`);
    const inF = m.a.length / lora.rank,
      outF = m.b.length / lora.rank;
    merged.set(`${path}.weight`, add(Float64Array.from(w), mulNN(m.b, m.a, outF, inF, lora.rank), lora.scale));
  }
  return merged;
}
