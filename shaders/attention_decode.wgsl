// Attention of a few query rows, each over its own range of a KV cache (batched decoding: one new token per
// sequence, every sequence in its own slot of the cache, of its own length).
//   q, out [rows, Hq, D]   k, v [cache rows, Hkv, D]   ranges [rows, 2] u32: keys [start, end) of row r
// One workgroup per (row, query head). Its invocations split the keys (key j goes to invocation j mod WG),
// each keeping an online softmax (running max m, sum l, output o; log2 domain, f32); the partial results are
// then merged in workgroup memory in a fixed order, so the output is deterministic.
// A range must hold at least one key (the host checks).
struct Params { rows: u32, hq: u32, hkv: u32, head_dim: u32, scale_log2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> ranges: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const MAX_D4: u32 = 32u; // vec4s in the largest head (D = 128)
const MERGE_D4: u32 = 8u; // vec4s of every invocation's o merged per round
const NEG_BIG: f32 = -1.0e30;

var<workgroup> red: array<f32, WG>;
var<workgroup> red_o: array<vec4<f32>, 512>; // [WG][MERGE_D4]

fn head_vecs() -> u32 { return (p.head_dim + 3u) / 4u; }

// Vec4 number c of the head vector starting at element `base` of a buffer, lanes past the head dim zero.
fn lanes(c: u32) -> vec4<u32> { return min(vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.head_dim - 1u)); }
fn lane_mask(c: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.head_dim));
}
fn q_vec(base: u32, c: u32) -> vec4<f32> { let ix = vec4<u32>(base) + lanes(c); return vec4<f32>(q[ix.x], q[ix.y], q[ix.z], q[ix.w]) * lane_mask(c); }
fn k_vec(base: u32, c: u32) -> vec4<f32> { let ix = vec4<u32>(base) + lanes(c); return vec4<f32>(k[ix.x], k[ix.y], k[ix.z], k[ix.w]); }
fn v_vec(base: u32, c: u32) -> vec4<f32> { let ix = vec4<u32>(base) + lanes(c); return vec4<f32>(v[ix.x], v[ix.y], v[ix.z], v[ix.w]); }

fn reduce_max(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let row = wg.x;
  let h = wg.y;
  let hk = h / (p.hq / p.hkv);
  let d4 = head_vecs();
  let start = ranges[2u * row];
  let end = ranges[2u * row + 1u];

  let qbase = (row * p.hq + h) * p.head_dim;
  var qr: array<vec4<f32>, MAX_D4>;
  var o: array<vec4<f32>, MAX_D4>;
  for (var c = 0u; c < MAX_D4; c++) { qr[c] = vec4<f32>(0.0); o[c] = vec4<f32>(0.0); }
  for (var c = 0u; c < d4; c++) { qr[c] = q_vec(qbase, c) * p.scale_log2; }

  var m = NEG_BIG;
  var l = 0.0;
  for (var j = start + lid; j < end; j += WG) {
    let kbase = (j * p.hkv + hk) * p.head_dim;
    var s4 = vec4<f32>(0.0);
    for (var c = 0u; c < d4; c++) { s4 += qr[c] * k_vec(kbase, c); }
    let s = s4.x + s4.y + s4.z + s4.w;
    if (s > m) {
      let alpha = exp2(m - s);
      l *= alpha;
      for (var c = 0u; c < d4; c++) { o[c] *= alpha; }
      m = s;
    }
    let w = exp2(s - m);
    l += w;
    for (var c = 0u; c < d4; c++) { o[c] += w * v_vec(kbase, c); }
  }

  // Merge: rescale every partial result to the workgroup's max, then sum l and o over the invocations.
  let m_all = reduce_max(lid, m);
  let rescale = select(0.0, exp2(m - m_all), l > 0.0);
  let l_all = reduce_sum(lid, l * rescale);
  let inv_l = 1.0 / l_all;
  for (var c0 = 0u; c0 < d4; c0 += MERGE_D4) {
    for (var cc = 0u; cc < MERGE_D4; cc++) {
      red_o[lid * MERGE_D4 + cc] = o[min(c0 + cc, MAX_D4 - 1u)] * rescale;
    }
    workgroupBarrier();
    let c = c0 + lid;
    if (lid < MERGE_D4 && c < d4) {
      var acc = vec4<f32>(0.0);
      for (var t = 0u; t < WG; t++) { acc += red_o[t * MERGE_D4 + lid]; }
      let val = acc * inv_l;
      for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < p.head_dim) { out[qbase + 4u * c + e] = val[e]; }
      }
    }
    workgroupBarrier();
  }
}
