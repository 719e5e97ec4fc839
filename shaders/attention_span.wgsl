// Inlined with #include "attention_span" after attention_common, by kernels that bind `seq_start`.

// The keys query row ic may see: [lo, hi].
fn row_keys(ic: u32) -> vec2<u32> {
  let hi = p.q_pos0 + ic;
  return vec2<u32>(min(seq_start[ic], hi), hi);
}

// The union of those ranges over the query block starting at i0. Kept apart from row_keys so that it stays uniform
// across the workgroup (it bounds loops with barriers): seq_start is non-decreasing, so the block's first row starts earliest.
fn block_keys(i0: u32) -> vec2<u32> {
  return vec2<u32>(min(seq_start[i0], p.q_pos0 + i0), p.q_pos0 + min(i0 + ROWS, p.tq) - 1u);
}
