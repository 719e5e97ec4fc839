// Tiled matmul (see matmul_io.wgsl for C = alpha * op(A) * op(B) + bias (+ C) and the operand defines).
// A workgroup of 256 invocations computes a BM x BN block of C; each invocation a TM x TN micro-tile held in
// registers, as TM/4 x TN/4 blocks of 4x4 spread BM/(TM/4) rows and BN/(TN/4) columns apart (so the inner
// loop's workgroup reads are whole, conflict-free vec4s). K advances BK at a time through tiles kept k-major
// in workgroup memory (a_tile[k][m], b_tile[k][n]); the next K tile is fetched into registers while the
// current one is multiplied, so global latency hides behind the FMAs.
// Defines: BM BN BK TM TN (numbers; (BM/TM)*(BN/TN) == 256, TM and TN multiples of 4); STAGE: the type of the
// workgroup tiles (f32 here; f16 from matmul_f16.wgsl, which only adds `enable f16;`).
#include "matmul_io"

alias stage4 = vec4<{{STAGE}}>;

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WG: u32 = 256u;
const TX: u32 = BN / TN; // invocations across N
const TY: u32 = BM / TM; // invocations down M
// Global loads per tile: A in 4-element chunks along its storage rows, B in 8-element chunks.
const A_CHUNKS: u32 = BM * BK / 4u;
const B_CHUNKS: u32 = BN * BK / 8u;
const A_LOADS: u32 = (A_CHUNKS + WG - 1u) / WG;
const B_LOADS: u32 = (B_CHUNKS + WG - 1u) / WG;

var<workgroup> a_tile: array<stage4, BK * BM / 4u>; // a_tile[k * BM/4 + m/4][m % 4] = op(A)[m0 + m, k0 + k]
var<workgroup> b_tile: array<stage4, BK * BN / 4u>; // b_tile[k * BN/4 + n/4][n % 4] = op(B)[k0 + k, n0 + n]

// Chunk q of the A tile at (m0, k0), in storage order so neighbouring invocations read neighbouring memory.
fn fetch_a(q: u32, m0: u32, k0: u32) -> vec4<f32> {
#if TRANS_A
  return load_a4(k0 + q / (BM / 4u), m0 + (q % (BM / 4u)) * 4u);
#else
  return load_a4(m0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u);
#endif
}

fn stash_a(q: u32, v: vec4<f32>) {
#if TRANS_A
  a_tile[q] = stage4(v); // already k-major: chunk q is a_tile entry q
#else
  let m = q / (BK / 4u);
  let k = (q % (BK / 4u)) * 4u;
  for (var j = 0u; j < 4u; j++) { a_tile[(k + j) * (BM / 4u) + m / 4u][m % 4u] = {{STAGE}}(v[j]); }
#endif
}

fn fetch_b(q: u32, n0: u32, k0: u32) -> Chunk8 {
#if TRANS_B
  return load_b8(n0 + q / (BK / 8u), k0 + (q % (BK / 8u)) * 8u);
#else
  return load_b8(k0 + q / (BN / 8u), n0 + (q % (BN / 8u)) * 8u);
#endif
}

fn stash_b(q: u32, v: Chunk8) {
#if TRANS_B
  let n = q / (BK / 8u);
  let k = (q % (BK / 8u)) * 8u;
  for (var j = 0u; j < 4u; j++) {
    b_tile[(k + j) * (BN / 4u) + n / 4u][n % 4u] = {{STAGE}}(v.lo[j]);
    b_tile[(k + 4u + j) * (BN / 4u) + n / 4u][n % 4u] = {{STAGE}}(v.hi[j]);
  }
#else
  b_tile[2u * q] = stage4(v.lo); // k-major already: chunk q covers entries 2q and 2q + 1
  b_tile[2u * q + 1u] = stage4(v.hi);
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tx = lid % TX;
  let ty = lid / TX;

  var acc: array<vec4<f32>, TM * TN / 4u>; // acc[i * TN/4 + j] = row i, columns 4j..4j+3 of the micro-tile
  var a_next: array<vec4<f32>, A_LOADS>;
  var b_next: array<Chunk8, B_LOADS>;
  for (var i = 0u; i < A_LOADS; i++) {
    let q = lid + i * WG;
    if (q < A_CHUNKS) { a_next[i] = fetch_a(q, m0, 0u); }
  }
  for (var i = 0u; i < B_LOADS; i++) {
    let q = lid + i * WG;
    if (q < B_CHUNKS) { b_next[i] = fetch_b(q, n0, 0u); }
  }

  let tiles = (p.K + BK - 1u) / BK;
  for (var t = 0u; t < tiles; t++) {
    workgroupBarrier(); // everyone is done reading the previous tile
    for (var i = 0u; i < A_LOADS; i++) {
      let q = lid + i * WG;
      if (q < A_CHUNKS) { stash_a(q, a_next[i]); }
    }
    for (var i = 0u; i < B_LOADS; i++) {
      let q = lid + i * WG;
      if (q < B_CHUNKS) { stash_b(q, b_next[i]); }
    }
    workgroupBarrier();
    if (t + 1u < tiles) {
      let k0 = (t + 1u) * BK;
      for (var i = 0u; i < A_LOADS; i++) {
        let q = lid + i * WG;
        if (q < A_CHUNKS) { a_next[i] = fetch_a(q, m0, k0); }
      }
      for (var i = 0u; i < B_LOADS; i++) {
        let q = lid + i * WG;
        if (q < B_CHUNKS) { b_next[i] = fetch_b(q, n0, k0); }
      }
    }
    for (var kk = 0u; kk < BK; kk++) {
      var a_frag: array<vec4<f32>, TM / 4u>;
      var b_frag: array<vec4<f32>, TN / 4u>;
      for (var i = 0u; i < TM / 4u; i++) { a_frag[i] = vec4<f32>(a_tile[kk * (BM / 4u) + i * TY + ty]); }
      for (var j = 0u; j < TN / 4u; j++) { b_frag[j] = vec4<f32>(b_tile[kk * (BN / 4u) + j * TX + tx]); }
      for (var i = 0u; i < TM; i++) {
        let a_i = vec4<f32>(a_frag[i / 4u][i % 4u]);
        for (var j = 0u; j < TN / 4u; j++) {
          acc[i * (TN / 4u) + j] = fma(a_i, b_frag[j], acc[i * (TN / 4u) + j]);
        }
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + (i / 4u) * (4u * TY) + ty * 4u + i % 4u;
    if (m < p.M) {
      for (var j = 0u; j < TN / 4u; j++) {
        let n = n0 + j * (4u * TX) + tx * 4u;
        let v = acc[i * (TN / 4u) + j];
        for (var e = 0u; e < 4u; e++) {
          if (n + e < p.N) { store_c(m, n + e, v[e]); }
        }
      }
    }
  }
}
