// Bias over the last dimension of y [rows, cols] f32.
//   forward (in place): y[r, c] += bias[c]
//   backward: dbias[c] = sum over r of dy[r, c]. Each column is summed by SLICES invocations over strided rows,
//   then their partial sums are added in slice order: a fixed order, no atomics, bitwise repeatable.
// Defines: BACKWARD; W_BF16 | W_F16 (bias storage, forward only; default f32).
#include "lib_dtype"

override WG: u32 = 256u;    // forward: invocations per workgroup
override COLS: u32 = 64u;   // backward: columns per workgroup
override SLICES: u32 = 4u;  // backward: row slices per column (COLS * SLICES <= 1024)

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
#if BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;

var<workgroup> partial: array<f32, 1024>;

@compute @workgroup_size(COLS, SLICES)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * COLS + lid.x;
  var acc = 0.0;
  if (c < p.cols) {
    for (var r = lid.y; r < p.rows; r += SLICES) { acc += dy[r * p.cols + c]; }
  }
  partial[lid.y * COLS + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && c < p.cols) {
    var total = 0.0;
    for (var s = 0u; s < SLICES; s++) { total += partial[s * COLS + lid.x]; }
    dbias[c] = total;
  }
}
#else
#if W_BF16
@group(0) @binding(1) var<storage, read> bias: array<u32>;
fn bias_at(i: u32) -> f32 { return half_at_bf16(bias[i >> 1u], i); }
#elif W_F16
@group(0) @binding(1) var<storage, read> bias: array<u32>;
fn bias_at(i: u32) -> f32 { return half_at_f16(bias[i >> 1u], i); }
#else
@group(0) @binding(1) var<storage, read> bias: array<f32>;
fn bias_at(i: u32) -> f32 { return bias[i]; }
#endif
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.rows * p.cols) { return; }
  y[i] += bias_at(i % p.cols);
}
#endif
