// Tensor-core matmul through Dawn's chromium_experimental_subgroup_matrix; same contract as matmul.wgsl
// (see matmul_io.wgsl). Operands are staged in f16 in workgroup memory (activations rounded: TOL.half) and
// multiplied as FM x FN x FK fragments with f32 results, taken from one of the adapter's f16 -> f32 configs.
// A workgroup is SUBGROUPS subgroups (4 down M, 2 across N); each owns a 2 x 4 block of result fragments,
// so the workgroup covers BM = 8 FM rows by BN = 8 FN columns of C and advances K by BK = 2 FK per tile.
// The next tile is fetched into registers while the fragments multiply the current one. Results go
// through workgroup memory, one fragment at a time, for the epilogue (scale, bias, accumulate, edges).
// Defines: FM FN FK (the config), SG (the adapter's largest subgroup size; the workgroup is SUBGROUPS * SG).
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
#include "matmul_io"

const FM: u32 = {{FM}}u;
const FN: u32 = {{FN}}u;
const FK: u32 = {{FK}}u;
const SG: u32 = {{SG}}u;
const SUBGROUPS: u32 = 8u;
const SG_COLS: u32 = 2u;
const FRAG_ROWS: u32 = 2u; // fragments per subgroup down M (acc0x) ...
const FRAG_COLS: u32 = 4u; // ... and across N (accx0..accx3): must match the code in main
const BM: u32 = (SUBGROUPS / SG_COLS) * FRAG_ROWS * FM;
const BN: u32 = SG_COLS * FRAG_COLS * FN;
const BK: u32 = 2u * FK;
const WG: u32 = SUBGROUPS * SG;
// Row strides, padded by 16 bytes so the rows of a fragment load fall in different banks; every row
// start stays 16-byte aligned.
const AS: u32 = BK + 8u;
const BS: u32 = BN + 8u;
const OS: u32 = FN + 4u;
const A_CHUNKS: u32 = BM * BK / 4u;
const B_CHUNKS: u32 = BN * BK / 8u;
const A_LOADS: u32 = (A_CHUNKS + WG - 1u) / WG;
const B_LOADS: u32 = (B_CHUNKS + WG - 1u) / WG;

// Row-major tiles. Fragment loads are bounds-checked as offset + stride * rows, past the last element
// they touch, hence the slack at the end of each array.
var<workgroup> a_tile: array<f16, BM * AS + BK>; // a_tile[m * AS + k] = op(A)[m0 + m, k0 + k]
var<workgroup> b_tile: array<f16, BK * BS + BN>; // b_tile[k * BS + n] = op(B)[k0 + k, n0 + n]
var<workgroup> c_stage: array<f32, SUBGROUPS * FM * OS + FN>; // one result fragment per subgroup

fn fetch_a(q: u32, m0: u32, k0: u32) -> vec4<f32> {
#if TRANS_A
  return load_a4(k0 + q / (BM / 4u), m0 + (q % (BM / 4u)) * 4u);
#else
  return load_a4(m0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u);
#endif
}

fn stash_a(q: u32, v: vec4<f32>) {
#if TRANS_A
  let k = q / (BM / 4u);
  let m = (q % (BM / 4u)) * 4u;
  for (var j = 0u; j < 4u; j++) { a_tile[(m + j) * AS + k] = f16(v[j]); }
#else
  let m = q / (BK / 4u);
  let k = (q % (BK / 4u)) * 4u;
  for (var j = 0u; j < 4u; j++) { a_tile[m * AS + k + j] = f16(v[j]); }
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
    b_tile[(k + j) * BS + n] = f16(v.lo[j]);
    b_tile[(k + 4u + j) * BS + n] = f16(v.hi[j]);
  }
#else
  let k = q / (BN / 8u);
  let n = (q % (BN / 8u)) * 8u;
  for (var j = 0u; j < 4u; j++) {
    b_tile[k * BS + n + j] = f16(v.lo[j]);
    b_tile[k * BS + n + 4u + j] = f16(v.hi[j]);
  }
#endif
}

// Writes one result fragment whose top-left element is C[row0, col0]. Called by the whole workgroup (it
// holds barriers); only has_tiles subgroups store.
fn emit(frag: subgroup_matrix_result<f32, {{FN}}, {{FM}}>, has_tiles: bool, sg: u32, lane: u32, sg_size: u32, row0: u32, col0: u32) {
  let base = sg * FM * OS;
  if (has_tiles) { subgroupMatrixStore<row_major>(&c_stage, base, frag, OS); }
  workgroupBarrier();
  if (has_tiles) {
    for (var e = lane; e < FM * FN; e += sg_size) {
      let r = e / FN;
      let col = e % FN;
      if (row0 + r < p.M && col0 + col < p.N) { store_c(row0 + r, col0 + col, c_stage[base + r * OS + col]); }
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  // Subgroups are runs of sg_size consecutive invocations. With sg_size == SG there are exactly SUBGROUPS;
  // on an adapter that chose a narrower size the extra ones only help stage tiles.
  let sg = lid / sg_size;
  let has_tiles = sg < SUBGROUPS;
  let sg_m = (sg / SG_COLS) * FRAG_ROWS * FM;
  let sg_n = (sg % SG_COLS) * FRAG_COLS * FN;

  var acc00 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc01 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc02 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc03 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc10 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc11 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc12 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();
  var acc13 = subgroup_matrix_result<f32, {{FN}}, {{FM}}>();

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
    workgroupBarrier();
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
    if (has_tiles) {
      for (var ks = 0u; ks < BK; ks += FK) {
        let l0 = subgroupMatrixLoad<subgroup_matrix_left<f16, {{FK}}, {{FM}}>, row_major>(&a_tile, sg_m * AS + ks, AS);
        let l1 = subgroupMatrixLoad<subgroup_matrix_left<f16, {{FK}}, {{FM}}>, row_major>(&a_tile, (sg_m + FM) * AS + ks, AS);
        let r0 = subgroupMatrixLoad<subgroup_matrix_right<f16, {{FN}}, {{FK}}>, row_major>(&b_tile, ks * BS + sg_n, BS);
        acc00 = subgroupMatrixMultiplyAccumulate(l0, r0, acc00);
        acc10 = subgroupMatrixMultiplyAccumulate(l1, r0, acc10);
        let r1 = subgroupMatrixLoad<subgroup_matrix_right<f16, {{FN}}, {{FK}}>, row_major>(&b_tile, ks * BS + sg_n + FN, BS);
        acc01 = subgroupMatrixMultiplyAccumulate(l0, r1, acc01);
        acc11 = subgroupMatrixMultiplyAccumulate(l1, r1, acc11);
        let r2 = subgroupMatrixLoad<subgroup_matrix_right<f16, {{FN}}, {{FK}}>, row_major>(&b_tile, ks * BS + sg_n + 2u * FN, BS);
        acc02 = subgroupMatrixMultiplyAccumulate(l0, r2, acc02);
        acc12 = subgroupMatrixMultiplyAccumulate(l1, r2, acc12);
        let r3 = subgroupMatrixLoad<subgroup_matrix_right<f16, {{FN}}, {{FK}}>, row_major>(&b_tile, ks * BS + sg_n + 3u * FN, BS);
        acc03 = subgroupMatrixMultiplyAccumulate(l0, r3, acc03);
        acc13 = subgroupMatrixMultiplyAccumulate(l1, r3, acc13);
      }
    }
  }

  let row0 = m0 + sg_m;
  let col0 = n0 + sg_n;
  emit(acc00, has_tiles, sg, lane, sg_size, row0, col0);
  emit(acc01, has_tiles, sg, lane, sg_size, row0, col0 + FN);
  emit(acc02, has_tiles, sg, lane, sg_size, row0, col0 + 2u * FN);
  emit(acc03, has_tiles, sg, lane, sg_size, row0, col0 + 3u * FN);
  emit(acc10, has_tiles, sg, lane, sg_size, row0 + FM, col0);
  emit(acc11, has_tiles, sg, lane, sg_size, row0 + FM, col0 + FN);
  emit(acc12, has_tiles, sg, lane, sg_size, row0 + FM, col0 + 2u * FN);
  emit(acc13, has_tiles, sg, lane, sg_size, row0 + FM, col0 + 3u * FN);
}
