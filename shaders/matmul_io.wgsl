// Bindings, operand loads and the output epilogue shared by every matmul kernel (#include "matmul_io").
//   C[M,N] = alpha * op(A) * op(B) + bias + (C when ACCUMULATE)
//   A: f32, stored [M,K], or [K,M] with TRANS_A.   B: f32 | bf16 | f16, stored [K,N], or [N,K] with TRANS_B.
// C may be a column slice of a wider matrix: element (m, n) lives at c[c_offset + m * c_stride + c_col + n] and
// takes bias[c_col + n] (c_stride = N and c_col = c_offset = 0 for a plain C), so a weight split by output rows
// writes its columns. A and B may start inside their buffers: A's storage element (row, col) lives at
// a[a_offset + row * a_stride + col] (a column slice when a_stride exceeds its row length), B's at
// b[b_offset + row * (its row length) + col]. The offsets are element counts passed as params, not binding
// offsets (those must be 256-byte aligned): a packed batch's row ranges (one LoRA adapter's rows, the reduction
// rows of a dW product) and a split weight's column ranges of dY are then ordinary operands.
// Loads work in storage coordinates (row, col) of the stored matrix and return zeros outside it, so tiles
// may overhang any edge. Defines: TRANS_A; TRANS_B; A_VEC (A's storage rows are whole vec4s);
//   B_HALF with B_BF16 | B_F16 (16-bit B, two per u32); B_VEC (B's storage rows are whole vec4 words: 4 f32
//   or 8 halves); HAS_BIAS with BIAS_BF16 | BIAS_F16; ACCUMULATE; A_SCALED with A_SCALE_BINDING (the kernels
//   that round A to f16: a_scale = (s, 1/s) from abs_max_scale.wgsl; load_a4 returns A·s and store_c
//   multiplies by 1/s, both exact powers of two); FAULT_DROP_LAST_K (a wrong result on purpose, see load_a4).
//   A_VEC and B_VEC also promise that the offsets and A's stride keep every row start on a vector boundary.
#include "lib_dtype"

struct Params { M: u32, N: u32, K: u32, alpha: f32, c_stride: u32, c_col: u32, a_offset: u32, a_stride: u32, b_offset: u32, c_offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;

#if A_VEC
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
#endif

#if B_HALF
#if B_VEC
@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;
#else
@group(0) @binding(2) var<storage, read> b: array<u32>;
#endif
#else
#if B_VEC
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
#endif

@group(0) @binding(3) var<storage, read_write> c: array<f32>;

#if HAS_BIAS
#if BIAS_BF16
@group(0) @binding(4) var<storage, read> bias: array<u32>;
fn bias_at(n: u32) -> f32 { return half_at_bf16(bias[n >> 1u], n); }
#elif BIAS_F16
@group(0) @binding(4) var<storage, read> bias: array<u32>;
fn bias_at(n: u32) -> f32 { return half_at_f16(bias[n >> 1u], n); }
#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
fn bias_at(n: u32) -> f32 { return bias[n]; }
#endif
#endif

#if A_SCALED
@group(0) @binding({{A_SCALE_BINDING}}) var<storage, read> a_scale: array<f32>;
fn scaled_a(v: vec4<f32>) -> vec4<f32> { return v * a_scale[0]; }
#else
fn scaled_a(v: vec4<f32>) -> vec4<f32> { return v; }
#endif

// Storage shapes (rows, cols) of A and B.
#if TRANS_A
fn a_shape() -> vec2<u32> { return vec2<u32>(p.K, p.M); }
#else
fn a_shape() -> vec2<u32> { return vec2<u32>(p.M, p.K); }
#endif
#if TRANS_B
fn b_shape() -> vec2<u32> { return vec2<u32>(p.N, p.K); }
#else
fn b_shape() -> vec2<u32> { return vec2<u32>(p.K, p.N); }
#endif

// One element of A's storage; the caller checks bounds.
fn a_elem(row: u32, col: u32) -> f32 {
  let i = p.a_offset + row * p.a_stride + col;
#if A_VEC
  return a[i >> 2u][i & 3u];
#else
  return a[i];
#endif
}

// op(A)[m, k], zero outside.
fn a_at(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
#if TRANS_A
  return a_elem(k, m);
#else
  return a_elem(m, k);
#endif
}

// Four consecutive elements of A's storage row `row` from column `col` (a multiple of 4), zero outside; times
// s with A_SCALED.
#if FAULT_DROP_LAST_K
fn load_a4(row: u32, col: u32) -> vec4<f32> { return scaled_a(drop_last_k(load_a4_raw(row, col), row, col)); }

// A fault on purpose (MatmulArgs.fault, for seal doctor's SEAL_DOCTOR_FAULT): op(A)[m, K-1] reads as zero, as an
// off-by-one in a K bound would, so the self-test can show it catches a wrong kernel. Only through load_a4.
fn drop_last_k(v: vec4<f32>, row: u32, col: u32) -> vec4<f32> {
#if TRANS_A
  if (row == p.K - 1u) { return vec4<f32>(0.0); }
  return v;
#else
  var out = v;
  for (var j = 0u; j < 4u; j++) {
    if (col + j == p.K - 1u) { out[j] = 0.0; }
  }
  return out;
#endif
}
#else
fn load_a4(row: u32, col: u32) -> vec4<f32> { return scaled_a(load_a4_raw(row, col)); }
#endif

fn load_a4_raw(row: u32, col: u32) -> vec4<f32> {
  let shape = a_shape();
#if A_VEC
  // cols % 4 == 0: the vec4 is either wholly inside or wholly outside.
  if (row < shape.x && col < shape.y) { return a[(p.a_offset + row * p.a_stride + col) >> 2u]; }
  return vec4<f32>(0.0);
#else
  var v = vec4<f32>(0.0);
  if (row < shape.x) {
    let base = p.a_offset + row * p.a_stride + col;
    for (var j = 0u; j < 4u; j++) {
      if (col + j < shape.y) { v[j] = a[base + j]; }
    }
  }
  return v;
#endif
}

// Eight consecutive elements of a storage row.
struct Chunk8 { lo: vec4<f32>, hi: vec4<f32> }

#if B_HALF
fn decode2(word: u32) -> vec2<f32> {
#if B_BF16
  return unpack_bf16(word);
#else
  return unpack2x16float(word);
#endif
}
fn decode1(word: u32, i: u32) -> f32 {
#if B_BF16
  return half_at_bf16(word, i);
#else
  return half_at_f16(word, i);
#endif
}
#endif

// Eight consecutive elements of B's storage row `row` from column `col` (a multiple of 8), zero outside.
fn load_b8(row: u32, col: u32) -> Chunk8 {
  let shape = b_shape();
  var out = Chunk8(vec4<f32>(0.0), vec4<f32>(0.0));
  if (row >= shape.x) { return out; }
  let base = p.b_offset + row * shape.y + col;
#if B_HALF
#if B_VEC
  // cols % 8 == 0: one vec4<u32> holds the eight halves.
  if (col < shape.y) {
    let w = b[base >> 3u];
    out.lo = vec4<f32>(decode2(w.x), decode2(w.y));
    out.hi = vec4<f32>(decode2(w.z), decode2(w.w));
  }
#else
  for (var j = 0u; j < 4u; j++) {
    if (col + j < shape.y) { out.lo[j] = decode1(b[(base + j) >> 1u], base + j); }
    if (col + 4u + j < shape.y) { out.hi[j] = decode1(b[(base + 4u + j) >> 1u], base + 4u + j); }
  }
#endif
#else
#if B_VEC
  // cols % 4 == 0: each vec4 is wholly inside or outside.
  if (col < shape.y) { out.lo = b[base >> 2u]; }
  if (col + 4u < shape.y) { out.hi = b[(base >> 2u) + 1u]; }
#else
  for (var j = 0u; j < 4u; j++) {
    if (col + j < shape.y) { out.lo[j] = b[base + j]; }
    if (col + 4u + j < shape.y) { out.hi[j] = b[base + 4u + j]; }
  }
#endif
#endif
  return out;
}

// Writes one output element (m < M, n < N) through the epilogue: scale, bias, accumulate.
fn store_c(m: u32, n: u32, v: f32) {
  let col = p.c_col + n;
  var r = p.alpha * v;
#if A_SCALED
  r *= a_scale[1];
#endif
#if HAS_BIAS
  r += bias_at(col);
#endif
  let i = p.c_offset + m * p.c_stride + col;
#if ACCUMULATE
  r += c[i];
#endif
  c[i] = r;
}
