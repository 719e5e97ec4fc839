/**
 * f64 reference for ranged attention (batched decoding), from the math:
 *   S[r,h,j] = scale * q[r,h,:] . k[j,kvh(h),:]  for start_r <= j < end_r
 *   out[r,h,:] = sum_j softmax_j(S[r,h,:]) v[j,kvh(h),:],  kvh(h) = floor(h / (Hq / Hkv))
 */
export function attentionDecodeRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  ranges: ArrayLike<number>,
  s: { rows: number; Hq: number; Hkv: number; D: number; scale: number },
): Float64Array {
  const { rows, Hq, Hkv, D, scale } = s;
  const out = new Float64Array(rows * Hq * D);
  for (let r = 0; r < rows; r++) {
    const start = ranges[2 * r]!,
      end = ranges[2 * r + 1]!;
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / (Hq / Hkv));
      const scores = new Float64Array(end - start);
      for (let j = start; j < end; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(r * Hq + h) * D + d]! * k[(j * Hkv + kvh) * D + d]!;
        scores[j - start] = scale * dot;
      }
      const max = Math.max(...scores);
      let sum = 0;
      for (let n = 0; n < scores.length; n++) sum += scores[n] = Math.exp(scores[n]! - max);
      for (let j = start; j < end; j++) {
        const w = scores[j - start]! / sum;
        for (let d = 0; d < D; d++) out[(r * Hq + h) * D + d]! += w * v[(j * Hkv + kvh) * D + d]!;
      }
    }
  }
  return out;
}
