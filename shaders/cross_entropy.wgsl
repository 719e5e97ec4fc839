// Softmax cross-entropy over a vocabulary (up to Qwen2.5's 152064), one workgroup per row (token), each row
// read in strided passes. With w[t] = mask[t] when target[t] < vocab, else 0:
//   loss[t]  = logsumexp(x[t]) - x[t, target[t]]   (0 where w[t] == 0)
//   mean     = sum(w * loss) / sum(w)                 (0 when sum(w) == 0)
//   dx[t, i] = dLoss * w[t] / sum(w) * (softmax(x[t])_i - [i == target[t]])
// An out-of-range target (e.g. PyTorch's ignore_index -100 seen as u32) ignores the token: nothing reads past the row.
// Logits must be finite. Every kernel reduces in a fixed order, so results are deterministic.
//
// Defines: MEAN        the mean loss over the rows (one workgroup); otherwise a row kernel with
//          LOSS        per-row loss (and, without GRAD, the row stats (max, log sum exp(x - max)) for a later GRAD)
//          GRAD        dx (from the saved row stats without LOSS; LOSS + GRAD is the fused forward+backward)
//          IN_PLACE    with GRAD: dx overwrites the logits (a buffer may be bound only once when written)
//          DLOSS_TENSOR  with GRAD: dLoss is the 1-element tensor times the scalar param
//
// Bindings:  MEAN:        1 losses, 2 targets, 3 mask, 4 loss (out, 1 element)
//            LOSS:        1 logits, 2 targets, 3 mask, 4 losses (out), 5 stats (out)
//            GRAD:        1 logits, 2 targets, 3 mask, 4 stats,        then dlogits (out) unless IN_PLACE, then dloss if DLOSS_TENSOR
//            LOSS + GRAD: 1 logits, 2 targets, 3 mask, 4 losses (out), then dlogits (out) unless IN_PLACE, then dloss if DLOSS_TENSOR

override WG: u32 = 256u; // at most 256 (the reduction arrays)

struct Params { rows: u32, vocab: u32, dloss_scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;

#if MEAN
@group(0) @binding(1) var<storage, read> losses: array<f32>;
#elif IN_PLACE
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
#else
@group(0) @binding(1) var<storage, read> logits: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
#if MEAN
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
#elif LOSS
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;
#if !GRAD
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;
#endif
#else
@group(0) @binding(4) var<storage, read> stats: array<vec2<f32>>;
#endif
#if GRAD
#if IN_PLACE
#if DLOSS_TENSOR
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
#endif
#else
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
#if DLOSS_TENSOR
@group(0) @binding(6) var<storage, read> dloss: array<f32>;
#endif
#endif
#endif

const NEG_BIG: f32 = -3.0e38; // stands in for -inf, which WGSL implementations may not honour

var<workgroup> red_a: array<f32, 256>;
var<workgroup> red_b: array<f32, 256>;

// Token weight: the mask, or 0 for an out-of-range target.
fn weight(t: u32) -> f32 {
  return select(0.0, mask[t], targets[t] < p.vocab);
}

// Tree reduction of (a, b) pairs over the workgroup, summing both; every invocation must call it.
fn reduce_sum2(lid: u32, a: f32, b: f32) -> vec2<f32> {
  red_a[lid] = a;
  red_b[lid] = b;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      red_a[lid] += red_a[lid + stride];
      red_b[lid] += red_b[lid + stride];
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(red_a[0], red_b[0]);
  workgroupBarrier();
  return total;
}

// Sum of weights over all rows (each workgroup computes the same value in the same order).
fn weight_total(lid: u32) -> f32 {
  var acc = 0.0;
  for (var t = lid; t < p.rows; t += WG) { acc += weight(t); }
  return reduce_sum2(lid, acc, 0.0).x;
}

#if MEAN
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var num = 0.0;
  var den = 0.0;
  for (var t = lid; t < p.rows; t += WG) {
    let w = weight(t);
    num += w * losses[t];
    den += w;
  }
  let s = reduce_sum2(lid, num, den);
  if (lid == 0u) { loss[0] = select(0.0, s.x / s.y, s.y > 0.0); }
}
#else

// Merges two (max, sum of exp(x - max)) pairs.
fn merge(m1: f32, s1: f32, m2: f32, s2: f32) -> vec2<f32> {
  let m = max(m1, m2);
  return vec2<f32>(m, s1 * exp(m1 - m) + s2 * exp(m2 - m));
}

// Row stats (max, log sum exp(x - max)); logsumexp = max + logsum, but kept apart so that x - max stays exact
// for large logits. Each invocation keeps a running (max, sum) over its strided share (one read of the row),
// then the pairs are merged by a tree reduction.
fn row_stats(lid: u32, base: u32) -> vec2<f32> {
  var m = NEG_BIG;
  var s = 0.0;
  for (var i = lid; i < p.vocab; i += WG) {
    let x = logits[base + i];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  red_a[lid] = m;
  red_b[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let r = merge(red_a[lid], red_b[lid], red_a[lid + stride], red_b[lid + stride]);
      red_a[lid] = r.x;
      red_b[lid] = r.y;
    }
    workgroupBarrier();
  }
  let out = vec2<f32>(red_a[0], log(red_b[0]));
  workgroupBarrier();
  return out;
}

#if GRAD
fn dloss_value() -> f32 {
#if DLOSS_TENSOR
  return p.dloss_scale * dloss[0];
#else
  return p.dloss_scale;
#endif
}

// dx for one row; `scale` = dLoss * w / sum(w) (0 for ignored rows, which are zero-filled).
fn write_grad(lid: u32, base: u32, st: vec2<f32>, tgt: u32, scale: f32) {
  for (var i = lid; i < p.vocab; i += WG) {
    let g = scale * (exp((logits[base + i] - st.x) - st.y) - select(0.0, 1.0, i == tgt));
#if IN_PLACE
    logits[base + i] = g;
#else
    dlogits[base + i] = g;
#endif
  }
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves
  let base = row * p.vocab;
  let tgt = targets[row];
  let w = weight(row);
#if !LOSS
  let st = stats[row];
#else
  let st = row_stats(lid, base);
  if (lid == 0u) {
    // min() keeps the read inside the row; the value is discarded for ignored tokens.
    let x_target = logits[base + min(tgt, p.vocab - 1u)];
    losses[row] = select(0.0, (st.x - x_target) + st.y, w != 0.0);
#if !GRAD
    stats[row] = st;
#endif
  }
#endif
#if GRAD
  let total = weight_total(lid);
  let scale = select(0.0, dloss_value() * w / total, total > 0.0);
  // In place, weight_total's barriers also order the read of the target logit before any overwrite.
  write_grad(lid, base, st, tgt, scale);
#endif
}
#endif
