/**
 * Floating-point operations of one LoRA SFT step (forward + backward; AdamW and every elementwise kernel are
 * not counted: they are memory-bound and negligible next to the products), multiply and add counted separately.
 * Notation: T tokens of one adapter's packed batch, H hidden, F intermediate, V vocabulary, r rank; a projection
 * p maps in_p features to out_p. "Model" FLOPs are what the step must compute; recomputation is reported apart.
 *
 *   per layer, per projection p:
 *     forward    2·T·in_p·out_p                      base y = x·Wᵀ
 *              + 2·T·r·(in_p + out_p)  if adapted     u = x·Aᵀ, y += s·u·Bᵀ
 *     backward   2·T·in_p·out_p        if dX needed   dX = dY·W (no dW: the base is frozen)
 *              + 2·T·r·out_p · 2       if adapted     dB = s·dYᵀ·u, e = dY·B
 *              + 2·T·r·in_p            if adapted     dA = s·eᵀ·x
 *              + 2·T·r·in_p            if adapted and dX needed: dX += s·e·A
 *   attention, per packed sequence of n tokens (n(n+1)/2 causal pairs): forward 2 products, backward 5 (the
 *     scores recomputed, dV, dP, dQ, dK), each 2·D per pair and query head: attentionFlops.
 *   LM head    2·T·H·V forward (logits) + 2·T·H·V backward (dHidden = dLogits·Head; no dW).
 *
 * dX of a projection is needed wherever anything below it takes a gradient: always, except in layer 0 (the
 * embedding is frozen), where q/k/v need none, o_proj needs one when q, k or v is adapted, gate/up when o, q, k
 * or v is, down when any projection of the layer but itself is; the attention backward runs in layer 0 only
 * when q, k or v is adapted.
 *
 * Recomputation (LoraModel's per-layer checkpointing) re-runs every layer's forward but the last's (still in
 * place) before its backward, without down_proj's base product and its s·u·Bᵀ (only its u is needed).
 */
import type { LoraTarget } from '../src/lora/config.ts';
import { projectionShape, LORA_TARGETS } from '../src/lora/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { attentionFlops } from '../src/ops/attention.ts';
import type { Dispatch } from '../src/gpu/recorder.ts';
import { CommandRecorder } from '../src/gpu/recorder.ts';

export interface SftFlopsInput {
  config: ModelConfig;
  lora: { targets: readonly LoraTarget[]; rank: number };
  /** Lengths of the sequences packed into one adapter's batch. */
  sequenceLengths: readonly number[];
}

export interface SftFlops {
  /** Model FLOPs of one adapter's forward + backward (the sum of the parts below). */
  total: number;
  baseForward: number;
  baseBackward: number;
  loraForward: number;
  loraBackward: number;
  attentionForward: number;
  attentionBackward: number;
  head: number;
  /** Extra FLOPs when the step recomputes activations (not part of total), and the attention part of them. */
  recompute: number;
  recomputeAttention: number;
}

const QKV: readonly LoraTarget[] = ['q_proj', 'k_proj', 'v_proj'];
/** The projections that consume each projection's input gradient within a layer (what lies below it). */
const BELOW: Record<LoraTarget, readonly LoraTarget[]> = {
  q_proj: [],
  k_proj: [],
  v_proj: [],
  o_proj: QKV,
  gate_proj: ['o_proj', ...QKV],
  up_proj: ['o_proj', ...QKV],
  down_proj: ['gate_proj', 'up_proj', 'o_proj', ...QKV],
};

export function sftStepFlops({ config, lora, sequenceLengths }: SftFlopsInput): SftFlops {
  const { hiddenSize: H, vocabSize: V, numLayers: L, numHeads: Hq, headDim: D, intermediateSize: F } = config;
  const T = sequenceLengths.reduce((a, b) => a + b, 0);
  const r = lora.rank;
  const adapted = (t: LoraTarget) => lora.targets.includes(t);
  const attention = sequenceLengths.reduce(
    (acc, n) => {
      const f = attentionFlops(n, Hq, D);
      return { forward: acc.forward + f.forward, backward: acc.backward + f.backward };
    },
    { forward: 0, backward: 0 },
  );

  const f: SftFlops = {
    total: 0,
    baseForward: 0,
    baseBackward: 0,
    loraForward: 0,
    loraBackward: 0,
    attentionForward: 0,
    attentionBackward: 0,
    head: 0,
    recompute: 0,
    recomputeAttention: 0,
  };
  for (let layer = 0; layer < L; layer++) {
    const dxNeeded = (t: LoraTarget) => layer > 0 || BELOW[t].some(adapted);
    for (const t of LORA_TARGETS) {
      const { inFeatures: i, outFeatures: o } = projectionShape(config, t);
      f.baseForward += 2 * T * i * o;
      if (dxNeeded(t)) f.baseBackward += 2 * T * i * o;
      if (!adapted(t)) continue;
      f.loraForward += 2 * T * r * (i + o);
      f.loraBackward += 2 * T * r * (2 * o + i) + (dxNeeded(t) ? 2 * T * r * i : 0);
    }
    f.attentionForward += attention.forward;
    if (layer > 0 || QKV.some(adapted)) f.attentionBackward += attention.backward;
  }
  f.head = 4 * T * H * V;
  f.total = f.baseForward + f.baseBackward + f.loraForward + f.loraBackward + f.attentionForward + f.attentionBackward + f.head;

  // One layer's forward without down_proj's base product and B product, times the layers recomputed.
  const layerForward = (f.baseForward + f.loraForward + f.attentionForward) / L;
  const downSkipped = 2 * T * F * H + (adapted('down_proj') ? 2 * T * r * H : 0);
  f.recompute = (L - 1) * (layerForward - downSkipped);
  f.recomputeAttention = (L - 1) * attention.forward;
  return f;
}

/** The matmul part of a step's FLOPs (what a census of its matmul dispatches must find). */
export function matmulFlops(f: SftFlops, recompute: boolean): number {
  const attention = f.attentionForward + f.attentionBackward + (recompute ? f.recomputeAttention : 0);
  return f.total + (recompute ? f.recompute : 0) - attention;
}

/** What the matmuls of a recorded step ran on: FLOPs per matmul kernel (from each dispatch's M, N, K). */
export interface MatmulCensus {
  flops: number;
  byKernel: Record<string, number>;
  dispatches: number;
}

const MATMUL_KERNELS: Record<string, string> = {
  matmul: 'portable',
  matmul_f16: 'f16',
  matmul_skinny: 'skinny',
  matmul_subgroup_matrix: 'subgroup-matrix',
};

/**
 * Runs `work` while counting the matmuls every command recorder records (from the params M, N, K of a matmul
 * dispatch), for the report's kernel mix. Recording is untouched; the counter is removed afterwards.
 */
export async function censusMatmuls<T>(work: () => Promise<T>): Promise<{ result: T; census: MatmulCensus }> {
  const census: MatmulCensus = { flops: 0, byKernel: {}, dispatches: 0 };
  const dispatch = CommandRecorder.prototype.dispatch;
  CommandRecorder.prototype.dispatch = function (this: CommandRecorder, d: Dispatch) {
    const kernel = MATMUL_KERNELS[d.kernel.shader];
    if (kernel && d.params?.M && d.params.N && d.params.K) {
      const flops = 2 * d.params.M[1] * d.params.N[1] * d.params.K[1];
      census.flops += flops;
      census.byKernel[kernel] = (census.byKernel[kernel] ?? 0) + flops;
      census.dispatches++;
    }
    return dispatch.call(this, d);
  };
  try {
    return { result: await work(), census };
  } finally {
    CommandRecorder.prototype.dispatch = dispatch;
  }
}
