// Causal grouped-query attention forward, FlashAttention-2 style: the score matrix is never materialised.
// A workgroup owns ROWS consecutive query rows of one query head, one row per invocation (its query and
// output accumulator in private arrays). Key/value blocks stream through workgroup memory; each row keeps
// an online softmax (running max m and sum l, log2 domain) in f32. Key blocks outside the block's
// causal/sequence range are never visited.
//   q, out [Tq, Hq, D]   k, v [Tk, Hkv, D]   lse [Hq, Tq] (natural log)   seq_start [Tq] (u32)
// Query i sits at key position q_pos0 + i and sees keys j with seq_start[i] <= j <= q_pos0 + i.
#include "attention_common"
#include "attention_span"

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seq_start: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

var<workgroup> k_tile: array<vec4<f32>, TILE * MAX_D4>;
var<workgroup> v_tile: array<vec4<f32>, TILE * MAX_D4>;

fn q_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(q[ix.x], q[ix.y], q[ix.z], q[ix.w]) * lane_mask(c); }
fn k_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(k[ix.x], k[ix.y], k[ix.z], k[ix.w]) * lane_mask(c); }
fn v_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(v[ix.x], v[ix.y], v[ix.z], v[ix.w]) * lane_mask(c); }

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let d4 = head_vecs();
  let h = wg.y;
  let hk = h / (p.hq / p.hkv);
  let i0 = wg.x * ROWS;
  let i = i0 + lid;
  let ic = min(i, p.tq - 1u);

  let keys = row_keys(ic);
  let row_lo = keys.x;
  let row_hi = keys.y;
  let block = block_keys(i0);

  var qr: array<vec4<f32>, MAX_D4>;
  var o: array<vec4<f32>, MAX_D4>;
  let qbase = (ic * p.hq + h) * p.head_dim;
  for (var c = 0u; c < d4; c++) {
    qr[c] = q_vec(qbase, c) * p.scale_log2;
    o[c] = vec4<f32>(0.0);
  }
  var m = NEG_BIG;
  var l = 0.0;

  for (var kb = block.x / TILE; kb <= block.y / TILE; kb++) {
    for (var e = lid; e < TILE * d4; e += ROWS) {
      let j = kb * TILE + e / d4;
      let kv = (min(j, p.tk - 1u) * p.hkv + hk) * p.head_dim;
      let keep = select(0.0, 1.0, j < p.tk);
      k_tile[e] = k_vec(kv, e % d4) * keep;
      v_tile[e] = v_vec(kv, e % d4) * keep;
    }
    workgroupBarrier();
    var s: array<vec4<f32>, TILE>;
    for (var r = 0u; r < TILE; r++) { s[r] = vec4<f32>(0.0); }
    for (var c = 0u; c < d4; c++) {
      let qc = qr[c];
      for (var r = 0u; r < TILE; r++) { s[r] += qc * k_tile[r * d4 + c]; }
    }
    var w: array<f32, TILE>; // scores, then softmax weights
    var block_max = NEG_BIG;
    for (var r = 0u; r < TILE; r++) {
      let j = kb * TILE + r;
      w[r] = select(NEG_BIG, hsum(s[r]), j >= row_lo && j <= row_hi);
      block_max = max(block_max, w[r]);
    }
    // Lazy rescaling: m only moves when a score exceeds it by RESCALE_SLACK, so weights stay below
    // 2^RESCALE_SLACK and rescales are rare; lse = m + log2(l) is exact whatever m is.
    if (block_max > m + RESCALE_SLACK) {
      let alpha = exp2(m - block_max);
      l *= alpha;
      for (var c = 0u; c < d4; c++) { o[c] *= alpha; }
      m = block_max;
    }
    for (var r = 0u; r < TILE; r++) {
      w[r] = select(0.0, exp2(w[r] - m), w[r] > NEG_BIG);
      l += w[r];
    }
    for (var c = 0u; c < d4; c++) {
      var oc = o[c];
      for (var r = 0u; r < TILE; r++) { oc += w[r] * v_tile[r * d4 + c]; }
      o[c] = oc;
    }
    workgroupBarrier();
  }

  if (i < p.tq) {
    // l >= 1: the key that last set m contributed exp2(0), and rescaling never shrinks it below that.
    let inv_l = 1.0 / l;
    for (var c = 0u; c < d4; c++) {
      let val = o[c] * inv_l;
      for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < p.head_dim) { out[qbase + 4u * c + e] = val[e]; }
      }
    }
    lse[h * p.tq + i] = (m + log2(l)) * LN2;
  }
}
