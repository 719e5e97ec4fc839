// Argmax per row of [rows, vocab] f32 logits, one workgroup per row: the index of the largest value, ties to the
// lowest index (torch.argmax). Logits must be finite (NaN handling is left to the implementation).
// Define MASKED: only tokens whose bit is set in the row's mask count; a row with none allowed gets 0xffffffff.
// Bindings: 1 logits, 2 tokens (u32 out, one per row), 3 mask (MASKED: u32 [rows, ceil(vocab / 32)]).
override WG: u32 = 256u; // at most 256
#include "sampling_lib"

struct Params { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
#if MASKED
@group(0) @binding(3) var<storage, read> mask: array<u32>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves
  let base = row * p.vocab;
  mask_base = row * ((p.vocab + 31u) / 32u);
  let best = row_argmax(lid, base);
#if MASKED
  if (lid == 0u) { tokens[row] = best.index; }
#else
  if (lid == 0u) { tokens[row] = select(best.index, 0u, best.index == NO_INDEX); }
#endif
}
