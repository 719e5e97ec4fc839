/**
 * One Llama / Qwen2 decoder layer with LoRA-adapted projections, forward (keeping what the backward needs) and
 * backward (through the frozen base into the residual stream and into dA, dB), in the llm.c manner: an explicit
 * backward per layer instead of an autograd tape.
 *   n1 = rmsnorm(x);  q, k, v = proj(n1);  q, k = rope(q, k);  a = attention(q, k, v);  m = x + o_proj(a)
 *   n2 = rmsnorm(m);  h = silu(gate(n2)) * up(n2);  y = m + down_proj(h)
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LoraAdapter, LoraTensors } from '../lora/adapter.ts';
import { LORA_TARGETS, loraModulePath, projectionShape, type LoraTarget } from '../lora/config.ts';
import { adapterWeights, planGroupedLora, type AdapterRun } from '../lora/grouped-lora.ts';
import type { ModelConfig } from '../model/config.ts';
import type { WeightRef } from '../model/split-weight.ts';
import { attentionBackward, attentionForward, type AttentionScratch } from '../ops/attention.ts';
import { residualAdd } from '../ops/residual.ts';
import { rmsnormBackward, rmsnormForward } from '../ops/rmsnorm.ts';
import { ropeBackward, ropeForward } from '../ops/rope.ts';
import { swigluBackward, swigluForward } from '../ops/swiglu.ts';
import type { Arena } from '../gpu/arena.ts';
import { inputScale, loraLinearBackward, loraLinearForward, type LoraLinear, type TrainingPrecision } from './lora-linear.ts';

/** What the training graph reads of the frozen base model (ModelWeights has it). */
export interface BaseWeights {
  /** A weight stored whole (norms, biases: always small). */
  get(name: string): Tensor;
  /** A weight whole or as row blocks (projections and embedding may exceed the storage binding limit). */
  ref(name: string): WeightRef;
  readonly lmHeadRef: WeightRef;
}

/** Per-call inputs every layer reads. */
export interface LayerInputs {
  config: ModelConfig;
  weights: BaseWeights;
  /** The adapters by index (a row's adapter index picks one); empty for the base model alone. */
  adapters: readonly LoraAdapter[];
  /** Each adapter's contiguous rows of the batch. */
  runs: readonly AdapterRun[];
  tokens: number;
  positions: Tensor; // [T] u32
  seqStart: Tensor; // [T] u32
  invFreq: Tensor; // [headDim / 2] f32
  /** How the base's products run. */
  precision: TrainingPrecision;
}

/** Activations of one layer's forward that its backward reads. */
export interface LayerActivations {
  n1: Tensor;
  rstd1: Tensor; // input rmsnorm output [T, H] and 1/rms [T]
  q: Tensor;
  k: Tensor;
  v: Tensor; // after RoPE: [T, Hq·D], [T, Hkv·D], [T, Hkv·D]
  attn: Tensor;
  lse: Tensor; // attention output [T, Hq·D], logsumexp [Hq, T]
  xMid: Tensor; // residual after attention [T, H]
  n2: Tensor;
  rstd2: Tensor;
  gate: Tensor;
  up: Tensor;
  act: Tensor; // [T, F]
  /** x·Aᵀ of each adapted projection: every adapter's rows at its own rank (grouped-lora.ts layout). */
  u: Partial<Record<LoraTarget, Tensor>>;
  /** [2]: the scale of the projections' current input (mixed precision), shared by the products that read it. */
  xScale: Tensor;
}

/** Elements of each adapted projection's u buffer (the same in every layer: an adapter adapts its targets everywhere). */
function loraBufferSizes(inp: LayerInputs): Partial<Record<LoraTarget, number>> {
  const lin = layerLinears(inp, 0);
  const sizes: Partial<Record<LoraTarget, number>> = {};
  for (const t of LORA_TARGETS) if (lin[t].lora) sizes[t] = lin[t].lora!.uSize;
  return sizes;
}

export function allocLayerActivations(arena: Arena, inp: LayerInputs, label: string): LayerActivations {
  const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D } = inp.config;
  const T = inp.tokens;
  const e = (shape: number[], name: string) => arena.empty('f32', shape, `${label} ${name}`);
  const u: Partial<Record<LoraTarget, Tensor>> = {};
  for (const [t, size] of Object.entries(loraBufferSizes(inp)) as [LoraTarget, number][]) u[t] = e([size], `u ${t}`);
  return {
    n1: e([T, H], 'n1'),
    rstd1: e([T], 'rstd1'),
    q: e([T, Hq * D], 'q'),
    k: e([T, Hkv * D], 'k'),
    v: e([T, Hkv * D], 'v'),
    attn: e([T, Hq * D], 'attn'),
    lse: e([Hq, T], 'lse'),
    xMid: e([T, H], 'xMid'),
    n2: e([T, H], 'n2'),
    rstd2: e([T], 'rstd2'),
    gate: e([T, F], 'gate'),
    up: e([T, F], 'up'),
    act: e([T, F], 'act'),
    u,
    xScale: e([2], 'input scale'),
  };
}

/** Backward scratch shared by all layers; g carries dL/d(residual) from layer to layer. */
export interface BackwardScratch {
  g: Tensor; // [T, H]
  dNormIn: Tensor; // [T, H]: dL/d(rmsnorm input), added to g
  dn: Tensor; // [T, H]: dL/d(rmsnorm output)
  dAct: Tensor;
  dGate: Tensor;
  dUp: Tensor; // [T, F]
  dAttn: Tensor;
  dq: Tensor; // [T, Hq·D]
  dk: Tensor;
  dv: Tensor; // [T, Hkv·D]
  e: Tensor | null; // e = dy·B of the largest adapted projection's segments (grouped-lora.ts layout)
  dyScale: Tensor; // [2]: the scale of a projection's dy (mixed precision)
  attention: AttentionScratch;
}

export function allocBackwardScratch(arena: Arena, inp: LayerInputs): BackwardScratch {
  const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D } = inp.config;
  const T = inp.tokens;
  const e = (shape: number[], name: string) => arena.empty('f32', shape, `grad ${name}`);
  const loraScratch = Math.max(0, ...Object.values(loraBufferSizes(inp)));
  return {
    g: e([T, H], 'residual'),
    dNormIn: e([T, H], 'norm input'),
    dn: e([T, H], 'normed'),
    dAct: e([T, F], 'act'),
    dGate: e([T, F], 'gate'),
    dUp: e([T, F], 'up'),
    dAttn: e([T, Hq * D], 'attn'),
    dq: e([T, Hq * D], 'q'),
    dk: e([T, Hkv * D], 'k'),
    dv: e([T, Hkv * D], 'v'),
    e: loraScratch > 0 ? e([loraScratch], 'lora e') : null,
    dyScale: e([2], 'dy scale'),
    attention: { di: e([Hq, T], 'attention di') },
  };
}

/** The seven projections of a layer, each with the LoRA segments of the adapters that adapt it. */
export function layerLinears(inp: LayerInputs, layer: number): Record<LoraTarget, LoraLinear> {
  const { config, weights, adapters } = inp;
  const out = {} as Record<LoraTarget, LoraLinear>;
  for (const target of LORA_TARGETS) {
    const path = loraModulePath(layer, target);
    const hasBias = config.attentionBias && (target === 'q_proj' || target === 'k_proj' || target === 'v_proj');
    const shape = projectionShape(config, target);
    out[target] = {
      w: weights.ref(`${path}.weight`),
      bias: hasBias ? weights.get(`${path}.bias`) : undefined,
      ...shape,
      lora: adapters.length ? planGroupedLora(inp.runs, shape.inFeatures, shape.outFeatures, adapterWeights(adapters, layer, target)) : undefined,
      precision: inp.precision,
    };
  }
  return out;
}

export interface LayerForwardOptions {
  /** [T, H] scratch for the projections' outputs before the residual adds. */
  proj: Tensor;
  /** The residual output [T, H]; null when recomputing for the backward (which needs everything but it). */
  xOut: Tensor | null;
}

/** Records layer `layer`'s forward from xIn, writing every activation of `acts` (and xOut unless null). */
export function recordLayerForward(
  rec: CommandRecorder,
  inp: LayerInputs,
  layer: number,
  xIn: Tensor,
  acts: LayerActivations,
  opts: LayerForwardOptions,
): void {
  const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D, rmsNormEps: eps } = inp.config;
  const T = inp.tokens;
  const p = `model.layers.${layer}`;
  const lin = layerLinears(inp, layer);
  const { proj } = opts;

  // With mixed precision each projection input is scanned once for its scale, shared by the products that read it.
  const scaleOf = (x: Tensor, cols: number) => inputScale(rec, inp.precision, x, T, cols, acts.xScale);
  rmsnormForward(rec, { x: xIn, weight: inp.weights.get(`${p}.input_layernorm.weight`), y: acts.n1, rstd: acts.rstd1, rows: T, dim: H, eps });
  let xScale = scaleOf(acts.n1, H);
  loraLinearForward(rec, lin.q_proj, { x: acts.n1, y: acts.q, u: acts.u.q_proj, tokens: T, xScale });
  loraLinearForward(rec, lin.k_proj, { x: acts.n1, y: acts.k, u: acts.u.k_proj, tokens: T, xScale });
  loraLinearForward(rec, lin.v_proj, { x: acts.n1, y: acts.v, u: acts.u.v_proj, tokens: T, xScale });
  ropeForward(rec, { x: acts.q, positions: inp.positions, invFreq: inp.invFreq, tokens: T, heads: Hq, headDim: D });
  ropeForward(rec, { x: acts.k, positions: inp.positions, invFreq: inp.invFreq, tokens: T, heads: Hkv, headDim: D });
  attentionForward(rec, { q: acts.q, k: acts.k, v: acts.v, out: acts.attn, lse: acts.lse, seqStart: inp.seqStart, T, Hq, Hkv, D });
  xScale = scaleOf(acts.attn, Hq * D);
  loraLinearForward(rec, lin.o_proj, { x: acts.attn, y: proj, u: acts.u.o_proj, tokens: T, xScale });
  residualAdd(rec, { a: xIn, b: proj, out: acts.xMid });

  rmsnormForward(rec, { x: acts.xMid, weight: inp.weights.get(`${p}.post_attention_layernorm.weight`), y: acts.n2, rstd: acts.rstd2, rows: T, dim: H, eps });
  xScale = scaleOf(acts.n2, H);
  loraLinearForward(rec, lin.gate_proj, { x: acts.n2, y: acts.gate, u: acts.u.gate_proj, tokens: T, xScale });
  loraLinearForward(rec, lin.up_proj, { x: acts.n2, y: acts.up, u: acts.u.up_proj, tokens: T, xScale });
  swigluForward(rec, { gate: acts.gate, up: acts.up, h: acts.act, tokens: T, ffn: F });
  xScale = scaleOf(acts.act, F);
  loraLinearForward(rec, lin.down_proj, { x: acts.act, y: proj, u: acts.u.down_proj, tokens: T, skipBase: opts.xOut === null, xScale });
  if (opts.xOut) residualAdd(rec, { a: acts.xMid, b: proj, out: opts.xOut });
}

export interface LayerBackwardOptions {
  /** Gradients of each adapter, by adapter index (empty without adapters; undefined: not trained). */
  grads: readonly (LoraTensors | undefined)[];
  /** Add into the gradients instead of overwriting them: for all adapters, or per adapter index. */
  accumulateGrads: boolean | readonly boolean[];
  /** Propagate into the layer's input (false for layer 0: nothing below needs it). */
  needInputGrad: boolean;
}

/**
 * Records layer `layer`'s backward. On entry s.g holds dL/d(layer output); on exit dL/d(layer input) (when
 * needInputGrad). Writes (or adds to) dA and dB of every adapted projection of the layer.
 */
export function recordLayerBackward(
  rec: CommandRecorder,
  inp: LayerInputs,
  layer: number,
  xIn: Tensor,
  acts: LayerActivations,
  s: BackwardScratch,
  opts: LayerBackwardOptions,
): void {
  const { hiddenSize: H, intermediateSize: F, numHeads: Hq, numKvHeads: Hkv, headDim: D } = inp.config;
  const T = inp.tokens;
  const p = `model.layers.${layer}`;
  const lin = layerLinears(inp, layer);
  const grads = (target: LoraTarget) => opts.grads.map((g) => g?.get(layer, target));
  const back = (target: LoraTarget, dy: Tensor, x: Tensor, dx: Tensor | null, dxMode: 'write' | 'add' | 'none') =>
    loraLinearBackward(rec, lin[target], {
      dy,
      x,
      u: acts.u[target],
      dx,
      dxMode,
      grads: grads(target),
      accumulateGrads: opts.accumulateGrads,
      e: s.e ?? undefined,
      dyScale: s.dyScale,
      tokens: T,
    });

  // MLP: y = m + down(silu(gate(n2)) * up(n2)), n2 = rmsnorm(m).
  back('down_proj', s.g, acts.act, s.dAct, 'write');
  swigluBackward(rec, { gate: acts.gate, up: acts.up, dh: s.dAct, dgate: s.dGate, dup: s.dUp, tokens: T, ffn: F });
  back('gate_proj', s.dGate, acts.n2, s.dn, 'write');
  back('up_proj', s.dUp, acts.n2, s.dn, 'add');
  rmsnormBackward(rec, {
    x: acts.xMid,
    weight: inp.weights.get(`${p}.post_attention_layernorm.weight`),
    rstd: acts.rstd2,
    dy: s.dn,
    dx: s.dNormIn,
    rows: T,
    dim: H,
  });
  residualAdd(rec, { a: s.g, b: s.dNormIn }); // g = dL/dm

  // Attention: m = x + o_proj(attention(rope(q(n1)), rope(k(n1)), v(n1))), n1 = rmsnorm(x).
  // Below o_proj only q/k/v adapters and the layers underneath need gradients: layer 0 may stop early.
  const qkvAdapted = Boolean(lin.q_proj.lora || lin.k_proj.lora || lin.v_proj.lora);
  if (!opts.needInputGrad && !qkvAdapted) {
    back('o_proj', s.g, acts.attn, null, 'none');
    return;
  }
  back('o_proj', s.g, acts.attn, s.dAttn, 'write');
  attentionBackward(rec, {
    q: acts.q,
    k: acts.k,
    v: acts.v,
    out: acts.attn,
    lse: acts.lse,
    seqStart: inp.seqStart,
    dOut: s.dAttn,
    dq: s.dq,
    dk: s.dk,
    dv: s.dv,
    scratch: s.attention,
    T,
    Hq,
    Hkv,
    D,
  });
  ropeBackward(rec, { dy: s.dq, positions: inp.positions, invFreq: inp.invFreq, tokens: T, heads: Hq, headDim: D });
  ropeBackward(rec, { dy: s.dk, positions: inp.positions, invFreq: inp.invFreq, tokens: T, heads: Hkv, headDim: D });
  const dx = opts.needInputGrad ? s.dn : null;
  back('q_proj', s.dq, acts.n1, dx, dx ? 'write' : 'none');
  back('k_proj', s.dk, acts.n1, dx, dx ? 'add' : 'none');
  back('v_proj', s.dv, acts.n1, dx, dx ? 'add' : 'none');
  if (!opts.needInputGrad) return;
  rmsnormBackward(rec, { x: xIn, weight: inp.weights.get(`${p}.input_layernorm.weight`), rstd: acts.rstd1, dy: s.dn, dx: s.dNormIn, rows: T, dim: H });
  residualAdd(rec, { a: s.g, b: s.dNormIn }); // g = dL/dx
}
