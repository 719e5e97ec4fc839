// Shared by the attention kernels (inlined with #include "attention_common"; the includer declares the
// uniform `p: Params`).
// A workgroup owns ROWS rows, one per invocation (query rows; key rows for dK/dV), and streams blocks of
// TILE rows of the other side through workgroup memory. Within a block the head-dim loop is outermost:
// an invocation's head vectors (runtime-indexed private arrays) are touched once per block, while the
// TILE scores stay in registers. The head dim is a runtime parameter, so one pipeline serves every
// D <= 128, and CPU adapters (lavapipe, SwiftShader) compile it in about a second where a head-dim-
// specialised, fully unrolled build takes 5-20 s. Head vectors are vec4s; lanes past the head dim are zero.

const MAX_D4: u32 = 32u; // vec4s in the largest head (D = 128)
const TILE: u32 = 8u; // two tiles of TILE x MAX_D4 vec4s: 8 KiB of workgroup memory
override ROWS: u32 = 64u;

const LN2: f32 = 0.6931471805599453;
const LOG2E: f32 = 1.4426950408889634;
// Score of a masked key and running max before any allowed key. Finite on purpose: WGSL does not promise infinities.
const NEG_BIG: f32 = -1.0e30;
// How far (log2 units) a score may exceed the running max before the accumulators are rescaled.
const RESCALE_SLACK: f32 = 8.0;

// tq query rows at key positions q_pos0 .. q_pos0 + tq - 1 (q_pos0 = 0 and tq = tk for training);
// scale_log2 = scale * log2(e), so scores come out in the log2 domain.
struct Params { tq: u32, tk: u32, q_pos0: u32, hq: u32, hkv: u32, head_dim: u32, scale: f32, scale_log2: f32 }

// vec4s per head vector.
fn head_vecs() -> u32 { return (p.head_dim + 3u) / 4u; }

// 1 for lanes of vec4 number c that lie inside the head, 0 past it.
fn lane_mask(c: u32) -> vec4<f32> {
  let d = vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u);
  return select(vec4<f32>(0.0), vec4<f32>(1.0), d < vec4<u32>(p.head_dim));
}

// Element indices of vec4 number c of the row starting at base, clamped into the row.
fn lane_index(base: u32, c: u32) -> vec4<u32> {
  let d = min(vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.head_dim - 1u));
  return vec4<u32>(base) + d;
}

fn hsum(a: vec4<f32>) -> f32 { return a.x + a.y + a.z + a.w; }

