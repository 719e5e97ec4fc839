/**
 * f64 CPU reference for causal grouped-query attention over packed sequences, written from the math:
 *   S[h,i,j] = scale * q[i,h,:] . k[j,kvh(h),:]       allowed when seqStart[i] <= j <= i
 *   P = softmax_j(S) over allowed j,  out[i,h,:] = sum_j P[h,i,j] v[j,kvh(h),:],  lse[h,i] = log sum_j exp(S[h,i,j])
 * with kvh(h) = floor(h / (Hq / Hkv)). Layouts: q/out [T, Hq, D], k/v [T, Hkv, D], lse [Hq, T].
 */
export interface AttentionShape {
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale: number;
}

/** seqStart for sequences of the given lengths packed one after another. */
export function packedSeqStart(lengths: readonly number[]): Uint32Array {
  const out = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
  let t = 0;
  for (const len of lengths) {
    for (let i = 0; i < len; i++) out[t + i] = t;
    t += len;
  }
  return out;
}

/** Softmax row of query i, head h: the allowed key range [lo, i], the probabilities and the logsumexp. */
function softmaxRow(q: ArrayLike<number>, k: ArrayLike<number>, seqStart: ArrayLike<number>, s: AttentionShape, i: number, h: number) {
  const { Hq, Hkv, D, scale } = s;
  const kvh = Math.floor(h / (Hq / Hkv));
  const lo = seqStart[i]!;
  const scores = new Float64Array(i - lo + 1);
  for (let j = lo; j <= i; j++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[(i * Hq + h) * D + d]! * k[(j * Hkv + kvh) * D + d]!;
    scores[j - lo] = scale * dot;
  }
  const max = scores.reduce((a, b) => Math.max(a, b), -Infinity);
  let sum = 0;
  for (let n = 0; n < scores.length; n++) sum += scores[n] = Math.exp(scores[n]! - max);
  for (let n = 0; n < scores.length; n++) scores[n]! /= sum;
  return { lo, kvh, p: scores, lse: max + Math.log(sum) };
}

/**
 * Forward for the query rows `rows` (all rows by default): out [rows, Hq, D] and lse [Hq, rows], in the order of `rows`.
 */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  seqStart: ArrayLike<number>,
  s: AttentionShape,
  rows: readonly number[] = Array.from({ length: s.T }, (_, i) => i),
) {
  const { Hq, Hkv, D } = s;
  const out = new Float64Array(rows.length * Hq * D);
  const lse = new Float64Array(Hq * rows.length);
  rows.forEach((i, r) => {
    for (let h = 0; h < Hq; h++) {
      const { lo, kvh, p, lse: l } = softmaxRow(q, k, seqStart, s, i, h);
      lse[h * rows.length + r] = l;
      for (let j = lo; j <= i; j++) {
        for (let d = 0; d < D; d++) out[(r * Hq + h) * D + d]! += p[j - lo]! * v[(j * Hkv + kvh) * D + d]!;
      }
    }
  });
  return { out, lse };
}

/** Gradients of sum(out * dOut) with respect to q, k and v. */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  seqStart: ArrayLike<number>,
  s: AttentionShape,
) {
  const { T, Hq, Hkv, D, scale } = s;
  const dq = new Float64Array(T * Hq * D);
  const dk = new Float64Array(T * Hkv * D);
  const dv = new Float64Array(T * Hkv * D);
  for (let i = 0; i < T; i++) {
    for (let h = 0; h < Hq; h++) {
      const { lo, kvh, p } = softmaxRow(q, k, seqStart, s, i, h);
      const qi = (i * Hq + h) * D;
      // dP[j] = dOut_i . v_j;  dS[j] = P[j] (dP[j] - sum_n P[n] dP[n])  (softmax Jacobian)
      const dp = new Float64Array(p.length);
      let pdp = 0;
      for (let j = lo; j <= i; j++) {
        const vj = (j * Hkv + kvh) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dOut[qi + d]! * v[vj + d]!;
        dp[j - lo] = dot;
        pdp += p[j - lo]! * dot;
      }
      for (let j = lo; j <= i; j++) {
        const kj = (j * Hkv + kvh) * D;
        const pj = p[j - lo]!;
        const ds = pj * (dp[j - lo]! - pdp);
        for (let d = 0; d < D; d++) {
          dq[qi + d]! += scale * ds * k[kj + d]!;
          dk[kj + d]! += scale * ds * q[qi + d]!;
          dv[kj + d]! += pj * dOut[qi + d]!;
        }
      }
    }
  }
  return { dq, dk, dv };
}
