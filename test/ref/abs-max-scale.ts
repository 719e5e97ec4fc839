/** f64 reference for abs_max_scale: the power of two s with max|A|·s in [2^14, 2^15), and 1/s. */
export function absMaxScaleRef(a: ArrayLike<number>, rows: number, cols: number, offset = 0, stride = cols): [number, number] {
  let max = 0;
  let finite = true;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(a[offset + r * stride + c]!);
      if (!Number.isFinite(v)) finite = false;
      else max = Math.max(max, v);
    }
  }
  if (!finite || max === 0) return [1, 1];
  // floor(log2(max)) by halving and doubling (exact for every f32 value).
  let e = 0;
  let p = 1;
  for (; p > max; e--) p /= 2;
  for (; p * 2 <= max; e++) p *= 2;
  const k = Math.min(126, Math.max(-126, 14 - e));
  return [2 ** k, 2 ** -k];
}
