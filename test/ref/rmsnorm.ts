/** f64 CPU reference for RMSNorm. */
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const y = new Float64Array(rows * dim);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const s = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = s;
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i]! * s * w[i]!;
  }
  return { y, rstd };
}

export function rmsnormBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const dx = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    let dot = 0;
    for (let i = 0; i < dim; i++) {
      ss += x[r * dim + i]! ** 2;
      dot += w[i]! * dy[r * dim + i]! * x[r * dim + i]!;
    }
    const s = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) dx[r * dim + i] = s * w[i]! * dy[r * dim + i]! - (x[r * dim + i]! * s ** 3 * dot) / dim;
  }
  return dx;
}
