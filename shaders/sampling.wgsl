// Seeded sampling, one workgroup per row of [rows, vocab] f32 logits, with Hugging Face's logits processors in
// their order (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper), then a draw from what is left:
//   s = x / temperature                       (temperature > 0; greedy decoding is the sampling_argmax kernel)
//   top-k (0 = off): keep every token whose logit >= the k-th largest logit (ties at the threshold all kept)
//   top-p (1 = off): among those, keep each token whose probability mass strictly above its logit value is
//                    < top_p: the smallest descending prefix whose mass reaches top_p. Tokens with equal logits
//                    are kept or dropped together; the most likely token is always kept.
//   token = argmax of s_i + G_i over the kept tokens, ties to the lowest index: the Gumbel-max trick, an exact
//           draw from softmax(s) restricted to the kept set. G_i = -log(-log(U_i)) with U_i from the
//           counter-based hash pcg4d(i, row, step, seed), so the CPU reference reproduces each draw.
// Nothing is sorted: each threshold is a radix select over order-preserving u32 keys of the f32 bit patterns,
// 4 bits per pass (at most 8 passes), with per-digit token counts (top-k) or probability masses (top-p) reduced
// in workgroup memory in a fixed order. When at most CAP tokens survive top-k (or the vocabulary is that
// small), they are gathered into workgroup memory and top-p and the draw work there instead.
// Logits must be finite.
// Per-row streams and steps (always bound; p.flags says which are real, so one pipeline serves every call):
//   streams u32 [rows] (flag bit 0): row r hashes with stream id streams[r] instead of r, so a sequence draws the same
//            tokens whatever row it occupies in a batch.
//   steps u32 [rows] (flag bit 1): row r hashes with step steps[r] instead of p.step (sequences at different positions).
//   mask u32 [rows, ceil(vocab / 32)] (flag bit 2): token i of row r is allowed when bit i % 32 of word
//            r * ceil(vocab / 32) + i / 32 is set. Disallowed tokens are removed first, as if their logits were -infinity
//            (before temperature, top-k and top-p: a constraint logits processor ahead of HF's warpers). A row with no
//            allowed token gets 0xffffffff (a caller error: check masks on the host).
// One pipeline for every call: CPU adapters (lavapipe) take 30+ s to compile this kernel, so no per-option variants.
// Bindings: 1 logits, 2 tokens (u32 out, one per row), 3 streams, 4 steps, 5 mask.
override WG: u32 = 128u; // 16, 32, 64 or 128: the radix histogram holds 16 bins per invocation
#include "sampling_lib"

struct Params { rows: u32, vocab: u32, top_k: u32, top_p: f32, temperature: f32, seed: u32, step: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> streams: array<u32>;
@group(0) @binding(4) var<storage, read> steps: array<u32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;

// The random stream and step of this workgroup's row (set in main).
var<private> row_stream: u32;
var<private> row_step: u32;

// Whether token i (logit x) is still a candidate: allowed by the mask and with key >= min_key.
fn kept(i: u32, x: f32, min_key: u32) -> bool {
  return allowed(i) && order_key(x) >= min_key;
}

const DIGITS: u32 = 16u;
var<workgroup> hist: array<f32, 2048>; // [DIGITS][WG]
var<workgroup> digit_parts: array<f32, 128>; // [DIGITS][WG / DIGITS]
var<workgroup> digit_totals: array<f32, 16>;

// The kept tokens, when at most CAP: logit, index and unnormalised probability.
const CAP: u32 = 256u;
var<workgroup> cand_x: array<f32, CAP>;
var<workgroup> cand_i: array<u32, CAP>;
var<workgroup> cand_e: array<f32, CAP>;
var<workgroup> offsets: array<u32, 128>; // [WG]
var<workgroup> kept_count: u32;

fn reduce_sum(lid: u32, v: f32) -> f32 {
  hist[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { hist[lid] += hist[lid + stride]; }
    workgroupBarrier();
  }
  let total = hist[0];
  workgroupBarrier();
  return total;
}

// Unnormalised probability of a logit given the row max.
fn mass(x: f32, row_max: f32) -> f32 {
  return exp((x - row_max) / p.temperature);
}

// Radix select: the largest key K with W(key >= K) >= goal, where W sums over the tokens with key >= min_key
// either 1 (by_mass false: a count) or their unnormalised probability. If even all of them weigh less than goal
// (rounding), the result keeps them all. A count search stops early once the keys at or above the chosen bin
// number exactly `goal`: the bin's lower bound keeps the same tokens as the exact K.
fn radix_select(lid: u32, base: u32, min_key: u32, by_mass: bool, goal: f32, row_max: f32) -> u32 {
  var prefix = 0u; // the digits chosen so far, in place
  var above = 0.0; // weight of the keys above the range that prefix selects
  var done = false; // same value in every invocation (computed from the same workgroup memory)
  var bins: array<f32, 16>;
  let parts = WG / DIGITS;
  for (var level = 0u; level < 8u; level++) {
    let shift = 28u - 4u * level;
    let chosen = select(0xffffffffu << (shift + 4u), 0u, level == 0u); // mask of the digits already chosen
    for (var d = 0u; d < DIGITS; d++) { bins[d] = 0.0; } // explicit: a `var` declared in the loop was not re-zeroed on lavapipe
    if (!done) {
      for (var i = lid; i < p.vocab; i += WG) {
        let x = logits[base + i];
        let key = order_key(x);
        if (allowed(i) && key >= min_key && (key & chosen) == prefix) {
          var w = 1.0;
          if (by_mass) { w = mass(x, row_max); }
          bins[(key >> shift) & 15u] += w;
        }
      }
    }
    // Per-digit totals in a fixed order: invocation lid adds 16 entries of the WG x 16 table (part lid % parts
    // of digit lid / parts), then 16 invocations add each digit's parts, then every invocation reads the 16 totals.
    for (var d = 0u; d < DIGITS; d++) { hist[d * WG + lid] = bins[d]; }
    workgroupBarrier();
    let col = (lid / parts) * WG + (lid % parts) * DIGITS;
    var part_sum = 0.0;
    for (var j = 0u; j < DIGITS; j++) { part_sum += hist[col + j]; }
    digit_parts[lid] = part_sum;
    workgroupBarrier();
    if (lid < DIGITS) {
      var bin = 0.0;
      for (var q = 0u; q < parts; q++) { bin += digit_parts[lid * parts + q]; }
      digit_totals[lid] = bin;
    }
    workgroupBarrier();
    // The highest digit whose bin, with all weight above it, reaches the goal; digit 0 keeps the whole range.
    var digit = 0u;
    var cum = above;
    var found = false;
    for (var d = i32(DIGITS) - 1; d >= 0; d--) {
      let next = cum + digit_totals[d];
      if (!found && (next >= goal || d == 0)) {
        digit = u32(d);
        above = cum;
        found = true;
        done = done || (!by_mass && next == goal);
      }
      cum = next;
    }
    prefix |= digit << shift;
    // No barrier needed here: the next writes to hist, digit_parts and digit_totals each follow a barrier that
    // every invocation reaches only after its reads above.
  }
  return prefix;
}

// PCG-based 4D hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", JCGT 2020).
fn pcg4d(key: vec4<u32>) -> vec4<u32> {
  var v = key * 1664525u + 1013904223u;
  v.x += v.y * v.w;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v.w += v.y * v.z;
  v ^= v >> vec4<u32>(16u);
  v.x += v.y * v.w;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v.w += v.y * v.z;
  return v;
}

// Standard Gumbel noise for token i of this row: G = -log(E), E = -log(1 - u) ~ Exp(1), u uniform in (0, 1).
fn gumbel(i: u32) -> f32 {
  let h = pcg4d(vec4<u32>(i, row_stream, row_step, p.seed)).x;
  let u = min((f32(h) + 0.5) * 2.3283064365386963e-10, 0.99999994); // (h + 1/2) / 2^32
  var e: f32;
  if (u < 0.5) {
    // -log(1 - u) = 2 atanh(z), z = u / (2 - u) <= 1/3: an odd series keeps full relative precision for small u,
    // where the largest G (the likely winners) come from; log(1 - u) would lose it.
    let z = u / (2.0 - u);
    let z2 = z * z;
    var s = 1.0 / 15.0;
    s = s * z2 + 1.0 / 13.0;
    s = s * z2 + 1.0 / 11.0;
    s = s * z2 + 1.0 / 9.0;
    s = s * z2 + 1.0 / 7.0;
    s = s * z2 + 1.0 / 5.0;
    s = s * z2 + 1.0 / 3.0;
    s = s * z2 + 1.0;
    e = 2.0 * z * s;
  } else {
    e = -log(1.0 - u);
  }
  return -log(e);
}

// Counts the tokens with key >= min_key; each invocation's first slot in the candidate list goes to
// offsets[lid] (invocation order, then index order: deterministic). The total is uniform.
fn count_kept(lid: u32, base: u32, min_key: u32) -> u32 {
  var mine = 0u;
  for (var i = lid; i < p.vocab; i += WG) {
    if (kept(i, logits[base + i], min_key)) { mine++; }
  }
  offsets[lid] = mine;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0u;
    for (var t = 0u; t < WG; t++) {
      let c = offsets[t];
      offsets[t] = acc;
      acc += c;
    }
    kept_count = acc;
  }
  return workgroupUniformLoad(&kept_count);
}

// The draw when the kept tokens fit in workgroup memory (n <= CAP, the usual case after top-k): they are
// gathered once, and top-p and the draw need no more passes over the row. A token's mass above is summed
// directly over the list.
fn draw_from_candidates(lid: u32, base: u32, min_key: u32, n: u32, row_max: f32) -> u32 {
  var slot = offsets[lid];
  for (var i = lid; i < p.vocab; i += WG) {
    let x = logits[base + i];
    if (kept(i, x, min_key)) {
      cand_x[slot] = x;
      cand_i[slot] = i;
      cand_e[slot] = mass(x, row_max);
      slot++;
    }
  }
  workgroupBarrier();
  var z = 0.0;
  for (var j = lid; j < n; j += WG) { z += cand_e[j]; }
  let goal = p.top_p * reduce_sum(lid, z);
  var bv = 0.0;
  var bi = NO_INDEX;
  for (var j = lid; j < n; j += WG) {
    let x = cand_x[j];
    var keep = true;
    if (p.top_p < 1.0) {
      var above = 0.0;
      for (var q = 0u; q < n; q++) {
        if (cand_x[q] > x) { above += cand_e[q]; }
      }
      keep = above < goal || above == 0.0;
    }
    if (keep) {
      let v = x / p.temperature + gumbel(cand_i[j]);
      if (beats(v, cand_i[j], bv, bi)) { bv = v; bi = cand_i[j]; }
    }
  }
  return reduce_argmax(lid, bv, bi).index;
}

// The draw over the whole row (many kept tokens): top-p by radix select over probability masses, then the
// Gumbel race in one more pass.
fn draw_from_row(lid: u32, base: u32, min_key_k: u32, row_max: f32) -> u32 {
  var min_key = min_key_k;
  if (p.top_p < 1.0) {
    var z = 0.0;
    for (var i = lid; i < p.vocab; i += WG) {
      let x = logits[base + i];
      if (kept(i, x, min_key)) { z += mass(x, row_max); }
    }
    let total = reduce_sum(lid, z);
    let kp = radix_select(lid, base, min_key, true, p.top_p * total, row_max);
    min_key = min(max(min_key, kp), order_key(row_max)); // at least the most likely token
  }
  var bv = 0.0;
  var bi = NO_INDEX;
  for (var i = lid; i < p.vocab; i += WG) {
    let x = logits[base + i];
    if (kept(i, x, min_key)) {
      let v = x / p.temperature + gumbel(i);
      if (beats(v, i, bv, bi)) { bv = v; bi = i; }
    }
  }
  return reduce_argmax(lid, bv, bi).index;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let row = wg.y * nwg.x + wg.x;
  let lid = lid3.x;
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves
  let base = row * p.vocab;
  mask_base = row * ((p.vocab + 31u) / 32u);
  let masked = (p.flags & 4u) != 0u;
  mask_off = !masked;
  // Placeholder bindings hold one element: read index 0 when the flag is off (the value is then unused).
  row_stream = select(row, streams[select(0u, row, (p.flags & 1u) != 0u)], (p.flags & 1u) != 0u);
  row_step = select(p.step, steps[select(0u, row, (p.flags & 2u) != 0u)], (p.flags & 2u) != 0u);

  let row_max = row_argmax(lid, base).value;

  // Tokens are kept when their key is >= min_key.
  var min_key = 0u;
  var n = p.vocab;
  let top_k_on = p.top_k > 0u && p.top_k < p.vocab;
  if (top_k_on) {
    min_key = radix_select(lid, base, 0u, false, f32(p.top_k), row_max);
  }
  // With a mask, the allowed tokens are counted too: few of them (the usual case) fit in workgroup memory.
  if (masked || top_k_on || n <= CAP) {
    n = count_kept(lid, base, min_key);
  }
  var winner: u32;
  if (n <= CAP) {
    winner = draw_from_candidates(lid, base, min_key, n, row_max);
  } else {
    winner = draw_from_row(lid, base, min_key, row_max);
  }
  if (lid == 0u) { tokens[row] = select(winner, 0u, winner == NO_INDEX && !masked); }
}
