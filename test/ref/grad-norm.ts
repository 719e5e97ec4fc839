/** f64 reference for the global gradient norm and torch.nn.utils.clip_grad_norm_'s clip coefficient. */
export function gradNormRef(grads: readonly ArrayLike<number>[], maxNorm = Infinity): { norm: number; clip: number } {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  const norm = Math.sqrt(sum);
  return { norm, clip: Math.min(1, maxNorm / (norm + 1e-6)) };
}
