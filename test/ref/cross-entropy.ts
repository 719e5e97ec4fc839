/**
 * f64 CPU reference for softmax cross-entropy with token weights. w[t] = mask[t], or 0 when target[t] is
 * outside [0, vocab) (the token is ignored).
 */
export function crossEntropyRef(logits: ArrayLike<number>, targets: ArrayLike<number>, mask: ArrayLike<number>, rows: number, vocab: number) {
  const losses = new Float64Array(rows);
  const lse = new Float64Array(rows);
  /** Interleaved (max, log sum exp(x - max)) per row: the GPU's saved row stats. */
  const stats = new Float64Array(2 * rows);
  let num = 0;
  let den = 0;
  for (let t = 0; t < rows; t++) {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, logits[t * vocab + i]!);
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[t * vocab + i]! - max);
    lse[t] = max + Math.log(sum);
    stats[2 * t] = max;
    stats[2 * t + 1] = Math.log(sum);
    const w = tokenWeight(targets, mask, t, vocab);
    losses[t] = w === 0 ? 0 : lse[t]! - logits[t * vocab + targets[t]!]!;
    num += w * losses[t]!;
    den += w;
  }
  return { losses, lse, stats, loss: den > 0 ? num / den : 0 };
}

/** d(mean loss)/d(logits) times dLoss. */
export function crossEntropyBackwardRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  vocab: number,
  dLoss = 1,
): Float64Array {
  const { lse } = crossEntropyRef(logits, targets, mask, rows, vocab);
  let den = 0;
  for (let t = 0; t < rows; t++) den += tokenWeight(targets, mask, t, vocab);
  const dx = new Float64Array(rows * vocab);
  if (den === 0) return dx;
  for (let t = 0; t < rows; t++) {
    const scale = (dLoss * tokenWeight(targets, mask, t, vocab)) / den;
    for (let i = 0; i < vocab; i++) {
      const softmax = Math.exp(logits[t * vocab + i]! - lse[t]!);
      dx[t * vocab + i] = scale * (softmax - (i === targets[t] ? 1 : 0));
    }
  }
  return dx;
}

function tokenWeight(targets: ArrayLike<number>, mask: ArrayLike<number>, t: number, vocab: number): number {
  const target = targets[t]!;
  return target >= 0 && target < vocab ? mask[t]! : 0;
}
