/**
 * f64 CPU reference forward pass for Llama / Qwen2 with HF transformers semantics: RMSNorm, rotate_half RoPE,
 * GQA (repeat_kv), causal softmax attention, SwiGLU MLP, q/k/v bias for Qwen2, tied or untied LM head.
 * Plain loops, one token row at a time, written from the math; it is the oracle for the GPU model, not fast.
 */
import type { ModelConfig } from '../../src/model/config.ts';
import { ropeInverseFrequencies } from '../../src/ops/rope.ts';

export type Weights = Map<string, Float64Array | Float32Array>;

function weight(weights: Weights, name: string, numel: number): Float64Array | Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`reference transformer: missing weight ${name}`);
  if (w.length !== numel) throw new Error(`reference transformer: ${name} has ${w.length} elements, expected ${numel}`);
  return w;
}

/** y = W x (+ b) for a HF Linear weight W [out, in]. */
function linear(x: Float64Array, w: ArrayLike<number>, out: number, bias?: ArrayLike<number>): Float64Array {
  const inDim = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0;
    for (let i = 0; i < inDim; i++) s += w[o * inDim + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: ArrayLike<number>, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const s = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * s * w[i]!);
}

/** rotate_half RoPE in place on each head of x [heads * headDim]: pairs are (i, i + headDim/2). */
function rope(x: Float64Array, heads: number, headDim: number, pos: number, invFreq: Float32Array): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let i = 0; i < half; i++) {
      const angle = pos * invFreq[i]!;
      const c = Math.cos(angle),
        s = Math.sin(angle);
      const a = x[base + i]!,
        b = x[base + i + half]!;
      x[base + i] = a * c - b * s;
      x[base + i + half] = b * c + a * s;
    }
  }
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** Logits [vocab] for every position of `ids` (one sequence, positions 0..n-1). */
export function referenceLogits(cfg: ModelConfig, weights: Weights, ids: number[]): Float64Array[] {
  const { hiddenSize: hid, intermediateSize: ff, numHeads, numKvHeads, headDim: d, vocabSize, rmsNormEps: eps } = cfg;
  const qDim = numHeads * d,
    kvDim = numKvHeads * d;
  const group = numHeads / numKvHeads; // query heads per KV head (repeat_kv)
  const invFreq = ropeInverseFrequencies(cfg);
  const embed = weight(weights, 'model.embed_tokens.weight', vocabSize * hid);

  // Residual stream per position.
  let hidden = ids.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`reference transformer: token id ${id} outside [0, ${vocabSize})`);
    return Float64Array.from(embed.subarray(id * hid, (id + 1) * hid));
  });

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const w = (name: string, numel: number) => weight(weights, `${p}.${name}`, numel);
    const bias = (name: string, numel: number) => (cfg.attentionBias ? w(name, numel) : undefined);

    // Attention: project every position, rotate q and k by their position, then causal softmax per head.
    const x = hidden.map((h) => rmsnorm(h, w('input_layernorm.weight', hid), eps));
    const q = x.map((v, pos) => {
      const t = linear(v, w('self_attn.q_proj.weight', qDim * hid), qDim, bias('self_attn.q_proj.bias', qDim));
      rope(t, numHeads, d, pos, invFreq);
      return t;
    });
    const k = x.map((v, pos) => {
      const t = linear(v, w('self_attn.k_proj.weight', kvDim * hid), kvDim, bias('self_attn.k_proj.bias', kvDim));
      rope(t, numKvHeads, d, pos, invFreq);
      return t;
    });
    const vv = x.map((v) => linear(v, w('self_attn.v_proj.weight', kvDim * hid), kvDim, bias('self_attn.v_proj.bias', kvDim)));
    const scale = 1 / Math.sqrt(d);
    const attn = q.map((qi, i) => {
      const out = new Float64Array(qDim);
      for (let h = 0; h < numHeads; h++) {
        const kvh = Math.floor(h / group);
        const scores = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += qi[h * d + e]! * k[j]![kvh * d + e]!;
          scores[j] = s * scale;
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j]! - max);
        for (let j = 0; j <= i; j++) {
          const pj = scores[j]! / sum;
          for (let e = 0; e < d; e++) out[h * d + e]! += pj * vv[j]![kvh * d + e]!;
        }
      }
      return out;
    });
    hidden = hidden.map((h, i) => {
      const o = linear(attn[i]!, w('self_attn.o_proj.weight', hid * qDim), hid);
      return h.map((v, e) => v + o[e]!);
    });

    // SwiGLU MLP: down(silu(gate x) * up x).
    hidden = hidden.map((h) => {
      const xn = rmsnorm(h, w('post_attention_layernorm.weight', hid), eps);
      const gate = linear(xn, w('mlp.gate_proj.weight', ff * hid), ff);
      const up = linear(xn, w('mlp.up_proj.weight', ff * hid), ff);
      const act = gate.map((g, i) => silu(g) * up[i]!);
      const down = linear(act, w('mlp.down_proj.weight', hid * ff), hid);
      return h.map((v, e) => v + down[e]!);
    });
  }

  const norm = weight(weights, 'model.norm.weight', hid);
  const head = cfg.tieWordEmbeddings ? embed : weight(weights, 'lm_head.weight', vocabSize * hid);
  return hidden.map((h) => linear(rmsnorm(h, norm, eps), head, vocabSize));
}

function argmax(v: Float64Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Greedy decoding: the `n` token ids that follow `ids` (recomputes the whole prefix each step: simple, not fast). */
export function referenceGreedy(cfg: ModelConfig, weights: Weights, ids: number[], n: number): number[] {
  const seq = [...ids];
  const generated: number[] = [];
  for (let step = 0; step < n; step++) {
    const logits = referenceLogits(cfg, weights, seq);
    const next = argmax(logits[logits.length - 1]!);
    generated.push(next);
    seq.push(next);
  }
  return generated;
}
