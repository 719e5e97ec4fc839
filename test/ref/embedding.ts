/** f64 CPU reference for the embedding gather and its gradient. */

/** out[t, :] = table[ids[t], :]; an id outside the table gives a NaN row. */
export function embeddingRef(table: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    for (let d = 0; d < dim; d++) out[t * dim + d] = id < vocab ? table[id * dim + d]! : NaN;
  }
  return out;
}

/** dtable = initial + sum over tokens of dout rows scattered to their ids (initial defaults to zeros). */
export function embeddingBackwardRef(dout: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number, initial?: ArrayLike<number>): Float64Array {
  const dtable = initial ? Float64Array.from(initial) : new Float64Array(vocab * dim);
  for (let t = 0; t < ids.length; t++) for (let d = 0; d < dim; d++) dtable[ids[t]! * dim + d]! += dout[t * dim + d]!;
  return dtable;
}

/**
 * The gather from one row block of a split table: `block` holds rows [rowStart, rowStart + rows) of the
 * [vocab, dim] table. A token whose id is in that range gets its row, an id >= vocab a NaN row, and every other
 * token keeps its row of `initial` (the out before the call).
 */
export function embeddingBlockRef(
  block: ArrayLike<number>,
  ids: ArrayLike<number>,
  o: { vocab: number; dim: number; rowStart: number; rows: number; initial: ArrayLike<number> },
): Float64Array {
  const { vocab, dim, rowStart, rows } = o;
  const out = Float64Array.from(o.initial);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    for (let d = 0; d < dim; d++) {
      if (id >= vocab) out[t * dim + d] = NaN;
      else if (id >= rowStart && id < rowStart + rows) out[t * dim + d] = block[(id - rowStart) * dim + d]!;
    }
  }
  return out;
}
