// Causal grouped-query attention backward, FlashAttention-2 style, without atomics (deterministic).
// Probabilities are recomputed from the forward's logsumexp, P = exp(S - lse), and with di = rowsum(dOut * out)
// (attention_delta): dS = P * (dOut . v - di),  dq = scale * dS k,  dk = scale * dS^T q,  dv = P^T dOut.
//   DQ:   a workgroup owns ROWS query rows of one query head and streams key/value blocks (as the forward).
//   DKDV: a workgroup owns ROWS key rows of one kv head and streams query/dOut blocks of every query head
//         of its GQA group, so each dk/dv row is summed inside one invocation.
// Layouts as attention_forward; lse and di [Hq, Tq]. Defines: DQ or DKDV.
#include "attention_common"
#include "attention_span"

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seq_start: array<u32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> di: array<f32>;
@group(0) @binding(7) var<storage, read> d_out: array<f32>;
#if DQ
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;
#else
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;
#endif

// The two streamed blocks: k and v (DQ), or q and dOut (DKDV).
var<workgroup> tile_a: array<vec4<f32>, TILE * MAX_D4>;
var<workgroup> tile_b: array<vec4<f32>, TILE * MAX_D4>;

fn q_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(q[ix.x], q[ix.y], q[ix.z], q[ix.w]) * lane_mask(c); }
fn k_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(k[ix.x], k[ix.y], k[ix.z], k[ix.w]) * lane_mask(c); }
fn v_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(v[ix.x], v[ix.y], v[ix.z], v[ix.w]) * lane_mask(c); }
fn do_vec(base: u32, c: u32) -> vec4<f32> { let ix = lane_index(base, c); return vec4<f32>(d_out[ix.x], d_out[ix.y], d_out[ix.z], d_out[ix.w]) * lane_mask(c); }

#if DQ
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
  var dor: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  let base = (ic * p.hq + h) * p.head_dim;
  for (var c = 0u; c < d4; c++) {
    qr[c] = q_vec(base, c) * p.scale_log2;
    dor[c] = do_vec(base, c);
    acc[c] = vec4<f32>(0.0);
  }
  let lse2 = lse[h * p.tq + ic] * LOG2E;
  let d_i = di[h * p.tq + ic];

  for (var kb = block.x / TILE; kb <= block.y / TILE; kb++) {
    for (var e = lid; e < TILE * d4; e += ROWS) {
      let j = kb * TILE + e / d4;
      let kv = (min(j, p.tk - 1u) * p.hkv + hk) * p.head_dim;
      let keep = select(0.0, 1.0, j < p.tk);
      tile_a[e] = k_vec(kv, e % d4) * keep;
      tile_b[e] = v_vec(kv, e % d4) * keep;
    }
    workgroupBarrier();
    var s: array<vec4<f32>, TILE>;
    var dp: array<vec4<f32>, TILE>;
    for (var r = 0u; r < TILE; r++) {
      s[r] = vec4<f32>(0.0);
      dp[r] = vec4<f32>(0.0);
    }
    for (var c = 0u; c < d4; c++) {
      let qc = qr[c];
      let dc = dor[c];
      for (var r = 0u; r < TILE; r++) {
        s[r] += qc * tile_a[r * d4 + c];
        dp[r] += dc * tile_b[r * d4 + c];
      }
    }
    var ds: array<f32, TILE>;
    for (var r = 0u; r < TILE; r++) {
      let j = kb * TILE + r;
      let pj = select(0.0, exp2(hsum(s[r]) - lse2), j >= row_lo && j <= row_hi);
      ds[r] = pj * (hsum(dp[r]) - d_i);
    }
    for (var c = 0u; c < d4; c++) {
      var a = acc[c];
      for (var r = 0u; r < TILE; r++) { a += ds[r] * tile_a[r * d4 + c]; }
      acc[c] = a;
    }
    workgroupBarrier();
  }

  if (i < p.tq) {
    for (var c = 0u; c < d4; c++) {
      let val = acc[c] * p.scale;
      for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < p.head_dim) { dq[base + 4u * c + e] = val[e]; }
      }
    }
  }
}
#endif

#if DKDV
@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let d4 = head_vecs();
  let hk = wg.y;
  let group = p.hq / p.hkv;
  let j0 = wg.x * ROWS;
  let j = j0 + lid;
  let jc = min(j, p.tk - 1u);
  let block_last = min(j0 + ROWS, p.tk) - 1u;
  // First query that can see key j0 (query i sits at key position q_pos0 + i).
  let first_query = max(j0, p.q_pos0) - p.q_pos0;

  var kr: array<vec4<f32>, MAX_D4>;
  var vr: array<vec4<f32>, MAX_D4>;
  var dk_acc: array<vec4<f32>, MAX_D4>;
  var dv_acc: array<vec4<f32>, MAX_D4>;
  let base = (jc * p.hkv + hk) * p.head_dim;
  for (var c = 0u; c < d4; c++) {
    kr[c] = k_vec(base, c) * p.scale_log2;
    vr[c] = v_vec(base, c);
    dk_acc[c] = vec4<f32>(0.0);
    dv_acc[c] = vec4<f32>(0.0);
  }

  for (var g = 0u; g < group; g++) {
    let h = hk * group + g;
    for (var qb = first_query / TILE; qb * TILE < p.tq; qb++) {
      let i_start = qb * TILE;
      // Sequences are packed in order: once a block's first query starts after our last key, so do all later ones.
      if (seq_start[i_start] > block_last) { break; }
      for (var e = lid; e < TILE * d4; e += ROWS) {
        let i = i_start + e / d4;
        let qrow = (min(i, p.tq - 1u) * p.hq + h) * p.head_dim;
        let keep = select(0.0, 1.0, i < p.tq);
        tile_a[e] = q_vec(qrow, e % d4) * keep;
        tile_b[e] = do_vec(qrow, e % d4) * keep;
      }
      workgroupBarrier();
      var s: array<vec4<f32>, TILE>;
      var dp: array<vec4<f32>, TILE>;
      for (var r = 0u; r < TILE; r++) {
        s[r] = vec4<f32>(0.0);
        dp[r] = vec4<f32>(0.0);
      }
      for (var c = 0u; c < d4; c++) {
        let kc = kr[c];
        let vc = vr[c];
        for (var r = 0u; r < TILE; r++) {
          s[r] += kc * tile_a[r * d4 + c];
          dp[r] += vc * tile_b[r * d4 + c];
        }
      }
      var pw: array<f32, TILE>;
      var ds: array<f32, TILE>;
      for (var r = 0u; r < TILE; r++) {
        let i = min(i_start + r, p.tq - 1u);
        let allowed = i_start + r < p.tq && j < p.tk && j >= seq_start[i] && j <= p.q_pos0 + i;
        pw[r] = select(0.0, exp2(hsum(s[r]) - lse[h * p.tq + i] * LOG2E), allowed);
        ds[r] = pw[r] * (hsum(dp[r]) - di[h * p.tq + i]);
      }
      for (var c = 0u; c < d4; c++) {
        var dkc = dk_acc[c];
        var dvc = dv_acc[c];
        for (var r = 0u; r < TILE; r++) {
          dvc += pw[r] * tile_b[r * d4 + c];
          dkc += ds[r] * tile_a[r * d4 + c];
        }
        dk_acc[c] = dkc;
        dv_acc[c] = dvc;
      }
      workgroupBarrier();
    }
  }

  if (j < p.tk) {
    for (var c = 0u; c < d4; c++) {
      let dk_val = dk_acc[c] * p.scale;
      let dv_val = dv_acc[c];
      for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < p.head_dim) {
          dk[base + 4u * c + e] = dk_val[e];
          dv[base + 4u * c + e] = dv_val[e];
        }
      }
    }
  }
}
#endif
