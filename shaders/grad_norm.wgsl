// Global L2 norm of a list of gradient tensors and the clip scale, deterministically (no atomics):
//   PARTIAL (default): one dispatch per tensor; workgroup g sums g^2 over its fixed chunk of the tensor and
//                      writes partials[offset + g]
//   FINAL:             one workgroup sums all partials in a fixed order; norm = sqrt(sum),
//                      clip = min(1, max_norm / (norm + 1e-6))  (torch.nn.utils.clip_grad_norm_)
// Bindings:  PARTIAL: 1 grad, 2 partials (out)     FINAL: 1 partials, 2 norm (out, 1 element), 3 clip (out, 1 element) if CLIP

override WG: u32 = 256u; // at most 256

struct Params { n: u32, offset: u32, chunk: u32, max_norm: f32 }
@group(0) @binding(0) var<uniform> p: Params;

#if FINAL
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
#if CLIP
@group(0) @binding(3) var<storage, read_write> clip: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
#endif

var<workgroup> red: array<f32, 256>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red[lid] += red[lid + stride]; }
    workgroupBarrier();
  }
  return red[0];
}

#if FINAL
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var acc = 0.0;
  for (var i = lid; i < p.n; i += WG) { acc += partials[i]; }
  let total = reduce_sum(lid, acc);
  if (lid == 0u) {
    let nrm = sqrt(total);
    norm[0] = nrm;
#if CLIP
    clip[0] = min(1.0, p.max_norm / (nrm + 1e-6));
#endif
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let g = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  let start = g * p.chunk;
  let end = min(start + p.chunk, p.n);
  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) { let v = grad[i]; acc += v * v; }
  let total = reduce_sum(lid, acc);
  if (lid == 0u && start < p.n) { partials[p.offset + g] = total; }
}
#endif
