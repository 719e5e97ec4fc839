// dst[rows_to[r], :] = src[r, :] for r < rows: writes new tokens' keys and values into their KV-cache slots.
// One invocation per element; rows_to must not repeat (each destination row is written by one source row).
struct Params { rows: u32, width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> rows_to: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.rows * p.width) { return; }
  let r = i / p.width;
  dst[rows_to[r] * p.width + i % p.width] = src[i];
}
