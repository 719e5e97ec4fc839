// Attention backward pre-pass: di[h, t] = sum_d dOut[t, h, d] * out[t, h, d]  (= rowsum(P * dP) of the
// softmax Jacobian), one invocation per (token, head) row.
override WG: u32 = 64u;

struct Params { t: u32, hq: u32, dim: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_out: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> di: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (row >= p.t * p.hq) { return; }
  let base = row * p.dim;
  var acc = 0.0;
  for (var d = 0u; d < p.dim; d++) { acc += d_out[base + d] * out[base + d]; }
  di[(row % p.hq) * p.t + row / p.hq] = acc;
}
