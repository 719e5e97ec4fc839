// Skinny matmul for few rows of C (decode: M = 1..32), same contract as matmul.wgsl (see matmul_io.wgsl).
// There the weight read dominates, so each workgroup owns a few output columns and streams their weights
// once per RB rows, spreading the reduction over K across its invocations and summing the partial dot
// products in workgroup memory. Rows are taken RB at a time; a workgroup re-reads its own weights for each
// further block of rows, which a cache then serves.
// The partial sums are added with plain loops rather than trees: few barriers keep the code small
// (software rasterizers such as lavapipe compile each barrier into a suspension point).
#include "matmul_io"

const WG: u32 = 256u;
const RB: u32 = 4u; // rows of C per pass

#if TRANS_B
// B stored [N,K]: column n of C is a dot product with the contiguous storage row n of B. COLS columns per
// workgroup, LANES invocations per column, each taking 8 consecutive k at a time.
const COLS: u32 = 8u;
const LANES: u32 = WG / COLS;
var<workgroup> partial: array<vec4<f32>, WG>; // partial[lid][r]: row m0 + r

// op(A)[m, k..k+7], zero outside.
fn a_row8(m: u32, k: u32) -> Chunk8 {
#if TRANS_A
  var out = Chunk8(vec4<f32>(0.0), vec4<f32>(0.0));
  for (var j = 0u; j < 4u; j++) {
    out.lo[j] = a_at(m, k + j);
    out.hi[j] = a_at(m, k + 4u + j);
  }
  return out;
#else
  return Chunk8(load_a4(m, k), load_a4(m, k + 4u));
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wg.y * nwg.x + wg.x) * COLS + lid / LANES;
  let lane = lid % LANES;
  for (var m0 = 0u; m0 < p.M; m0 += RB) {
    var acc = vec4<f32>(0.0);
    if (n < p.N) {
      for (var k = lane * 8u; k < p.K; k += LANES * 8u) {
        let w = load_b8(n, k);
        for (var r = 0u; r < RB; r++) {
          if (m0 + r < p.M) {
            let x = a_row8(m0 + r, k);
            acc[r] += dot(x.lo, w.lo) + dot(x.hi, w.hi);
          }
        }
      }
    }
    partial[lid] = acc;
    workgroupBarrier();
    // Lane r of each column sums row m0 + r over the column's lanes.
    if (lane < RB && n < p.N && m0 + lane < p.M) {
      let first = lid - lane;
      var total = 0.0;
      for (var l = 0u; l < LANES; l++) { total += partial[first + l][lane]; }
      store_c(m0 + lane, n, total);
    }
    workgroupBarrier();
  }
}
#else
// B stored [K,N]: its storage rows run along N. Each invocation owns 8 adjacent columns and one of SLICES
// interleaved slices of K; the slices are summed in workgroup memory, one row at a time.
const COL_THREADS: u32 = 4u;
const COLS: u32 = COL_THREADS * 8u;
const SLICES: u32 = WG / COL_THREADS;
var<workgroup> partial: array<vec4<f32>, 2u * WG>; // partial[2 lid + h]: columns 4h..4h+3 of the invocation's 8

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = (wg.y * nwg.x + wg.x) * COLS;
  let n = n0 + (lid % COL_THREADS) * 8u;
  let slice = lid / COL_THREADS;
  for (var m0 = 0u; m0 < p.M; m0 += RB) {
    var acc = array<Chunk8, RB>(); // explicit zeros: a bare `var` in a loop is not re-zeroed by every compiler
    for (var k = slice; k < p.K; k += SLICES) {
      let w = load_b8(k, n);
      for (var r = 0u; r < RB; r++) {
        let x = a_at(m0 + r, k);
        acc[r].lo = fma(vec4<f32>(x), w.lo, acc[r].lo);
        acc[r].hi = fma(vec4<f32>(x), w.hi, acc[r].hi);
      }
    }
    for (var r = 0u; r < RB; r++) {
      if (m0 + r < p.M) { // uniform: every invocation sees the same m0 + r
        partial[2u * lid] = acc[r].lo;
        partial[2u * lid + 1u] = acc[r].hi;
        workgroupBarrier();
        // Invocation h < 2 COL_THREADS sums vec4 h of the workgroup's columns over the slices; slice s
        // holds it at partial[2 s COL_THREADS + h].
        if (lid < 2u * COL_THREADS) {
          var total = vec4<f32>(0.0);
          for (var s = 0u; s < SLICES; s++) { total += partial[2u * s * COL_THREADS + lid]; }
          for (var e = 0u; e < 4u; e++) {
            if (n0 + lid * 4u + e < p.N) { store_c(m0 + r, n0 + lid * 4u + e, total[e]); }
          }
        }
        workgroupBarrier();
      }
    }
  }
}
#endif
