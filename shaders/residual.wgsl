// Residual add, elementwise f32: out = a + b, or with IN_PLACE a += b.
// Defines: IN_PLACE; VEC4 (the element count is a multiple of 4 and p.n counts vec4s).

override WG: u32 = 256u;

#if VEC4
alias V = vec4<f32>;
#else
alias V = f32;
#endif

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> a: array<V>;
@group(0) @binding(2) var<storage, read> b: array<V>;
#else
@group(0) @binding(1) var<storage, read> a: array<V>;
@group(0) @binding(2) var<storage, read> b: array<V>;
@group(0) @binding(3) var<storage, read_write> out: array<V>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.n) { return; }
#if IN_PLACE
  a[i] = a[i] + b[i];
#else
  out[i] = a[i] + b[i];
#endif
}
