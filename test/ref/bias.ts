/** f64 CPU reference for the bias add over the last dimension and its gradient. */
export function biasAddRef(y: ArrayLike<number>, bias: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = y[r * cols + c]! + bias[c]!;
  return out;
}

export function biasBackwardRef(dy: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const dbias = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dbias[c]! += dy[r * cols + c]!;
  return dbias;
}
