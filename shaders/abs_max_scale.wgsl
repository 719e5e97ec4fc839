// A power-of-two scale s that brings max|A| into [2^14, 2^15), for kernels that round A to f16 (whose normal
// range is 2^-14 .. 65504): A·s keeps f16's 11-bit precision however small (a gradient of a mean loss,
// ~1e-6) or large A is, and since s is a power of two, scaling by s and unscaling by 1/s are exact in f32.
// Deterministic, no atomics: |x| of a float orders like its bits with the sign cleared, so the maximum is a
// u32 maximum, NaN (above +inf in those bits) included.
//   PARTIAL (default): workgroup g takes the max over its fixed chunk of A's addressed elements (rows x cols
//                      at element offset, rows `stride` apart) and writes partials[g]
//   FINAL:             one workgroup takes the max of the partials and writes scale = (s, 1/s); s = 1 when A
//                      is all zeros or holds inf/NaN (which then propagate through the product as they would)
// Bindings:  PARTIAL: 1 a, 2 partials (out, u32)     FINAL: 1 partials, 2 scale (out, 2 x f32)

override WG: u32 = 256u; // a power of two, at most 256

struct Params { rows: u32, cols: u32, offset: u32, stride: u32, chunk: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;

#if FINAL
@group(0) @binding(1) var<storage, read> partials: array<u32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<u32>;
#endif

var<workgroup> red: array<u32, 256>;

fn reduce_max(lid: u32, v: u32) -> u32 {
  red[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { red[lid] = max(red[lid], red[lid + stride]); }
    workgroupBarrier();
  }
  return red[0];
}

// Largest target exponent: max|A|·s < 2^15 leaves headroom below f16's 65504.
const TARGET_EXP: i32 = 14;

#if FINAL
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var m = 0u;
  for (var i = lid; i < p.count; i += WG) { m = max(m, partials[i]); }
  let bits = reduce_max(lid, m);
  if (lid == 0u) {
    var e = 0;
    if (bits != 0u && bits < 0x7f800000u) {
      // floor(log2(max|A|)) from the exponent field (subnormals count as 2^-127); s = 2^(14 - that), kept
      // within [2^-126, 2^126] so s and 1/s are both normal f32 (f32's largest finite needs 2^-113).
      let exponent = i32(bits >> 23u) - 127;
      e = clamp(TARGET_EXP - exponent, -126, 126);
    }
    scale[0] = ldexp(1.0, e);
    scale[1] = ldexp(1.0, -e);
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let g = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  let n = p.rows * p.cols;
  let start = g * p.chunk;
  let end = min(start + p.chunk, n);
  var m = 0u;
  for (var i = start + lid; i < end; i += WG) {
    let row = i / p.cols;
    let x = a[p.offset + row * p.stride + (i - row * p.cols)];
    m = max(m, bitcast<u32>(x) & 0x7fffffffu);
  }
  let top = reduce_max(lid, m);
  if (lid == 0u && start < n) { partials[g] = top; }
}
#endif
