// Embedding rows by token id, table [vocab, dim] (f32, or bf16/f16 stored two per u32), out/dout [tokens, dim] f32.
//   forward:  out[t, :] = table[ids[t], :]. An id >= vocab is never read: its row of out is NaN, so the bug
//             shows up in the loss instead of as plausible numbers. The table may be one row block of a split
//             embedding, holding rows [row_start, row_start + rows) of the vocab: then only the tokens whose ids
//             fall in that range are written (other blocks write the rest; every block writes the NaN rows).
//   backward (BACKWARD): dtable[v, :] (+)= sum of dout[t, :] over the tokens t with ids[t] == v. The host groups
//             the tokens by id (CSR: unique ids, offsets, token order); one workgroup per unique id sums its
//             tokens in that order, so there are no atomics and the result is bitwise repeatable. Rows of
//             dtable whose id does not occur are not touched. p.accumulate = 1 adds to dtable instead of overwriting.
// Defines: BACKWARD; W_BF16 | W_F16 (table storage, forward only; default f32).
#include "lib_dtype"

override WG: u32 = 256u;

#if BACKWARD
struct Params { dim: u32, uniques: u32, vocab: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> unique_ids: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> token_order: array<u32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let u = wg.y * nwg.x + wg.x;
  if (u >= p.uniques) { return; }
  let v = unique_ids[u];
  if (v >= p.vocab) { return; }
  let first = offsets[u];
  let last = offsets[u + 1u];
  for (var d = lid.x; d < p.dim; d += WG) {
    var acc = select(0.0, dtable[v * p.dim + d], p.accumulate != 0u);
    for (var j = first; j < last; j++) { acc += dout[token_order[j] * p.dim + d]; }
    dtable[v * p.dim + d] = acc;
  }
}
#else
struct Params { tokens: u32, dim: u32, vocab: u32, row_start: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
#if W_BF16
@group(0) @binding(1) var<storage, read> table: array<u32>;
fn table_at(i: u32) -> f32 { return half_at_bf16(table[i >> 1u], i); }
#elif W_F16
@group(0) @binding(1) var<storage, read> table: array<u32>;
fn table_at(i: u32) -> f32 { return half_at_f16(table[i >> 1u], i); }
#else
@group(0) @binding(1) var<storage, read> table: array<f32>;
fn table_at(i: u32) -> f32 { return table[i]; }
#endif
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.tokens * p.dim) { return; }
  let t = i / p.dim;
  let d = i - t * p.dim;
  let id = ids[t];
  if (id < p.vocab) {
    if (id >= p.row_start && id < p.row_start + p.rows) { out[i] = table_at((id - p.row_start) * p.dim + d); }
  } else {
    // A runtime value, not a constant: WGSL constant evaluation rejects NaN.
    let nan_bits = 0x7fc00000u;
    out[i] = bitcast<f32>(nan_bits);
  }
}
#endif
