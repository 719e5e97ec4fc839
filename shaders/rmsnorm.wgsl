// RMSNorm over the last dimension, one workgroup per row.
//   forward:  y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)   (rstd saved for backward)
//   backward: dx = rstd * (w*dy) - x * rstd^3 / dim * sum(w*dy*x)    (the norm weight is frozen: no dw)
// Defines: BACKWARD; W_BF16 | W_F16 (weight storage; default f32).
#include "lib_dtype"

override WG: u32 = 256u;

struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if W_BF16
@group(0) @binding(2) var<storage, read> w: array<u32>;
fn weight(i: u32) -> f32 { return half_at_bf16(w[i >> 1u], i); }
#elif W_F16
@group(0) @binding(2) var<storage, read> w: array<u32>;
fn weight(i: u32) -> f32 { return half_at_f16(w[i >> 1u], i); }
#else
@group(0) @binding(2) var<storage, read> w: array<f32>;
fn weight(i: u32) -> f32 { return w[i]; }
#endif
#if BACKWARD
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
#endif

var<workgroup> partial: array<f32, 1024>;

// Tree reduction of partial[0..WG) into partial[0]; every invocation must call it.
fn reduce_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  var stride = WG / 2u;
  loop {
    if (stride == 0u) { break; }
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
    stride /= 2u;
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  // Uniform control flow: rows past the end still take part in the barriers, then write nothing.
  let live = row < p.rows;
  let base = select(0u, row * p.dim, live);
  let n = select(0u, p.dim, live);
#if BACKWARD
  let r = select(0.0, rstd[min(row, p.rows - 1u)], live);
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) { acc += weight(i) * dy[base + i] * x[base + i]; }
  let s = reduce_sum(lid, acc);
  let c = r * r * r * s / f32(p.dim);
  for (var i = lid; i < n; i += WG) { dx[base + i] = r * weight(i) * dy[base + i] - x[base + i] * c; }
#else
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) { let v = x[base + i]; acc += v * v; }
  let ss = reduce_sum(lid, acc);
  let r = inverseSqrt(ss / f32(max(p.dim, 1u)) + p.eps);
  for (var i = lid; i < n; i += WG) { y[base + i] = x[base + i] * r * weight(i); }
  if (live && lid == 0u) { rstd[row] = r; }
#endif
}
