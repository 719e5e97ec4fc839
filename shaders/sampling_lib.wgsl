// Helpers shared by the sampling kernels (inlined with #include "sampling_lib"). The includer declares
// `override WG` (at most 256), `p.vocab` and `logits` (and `mask` when MASKED), sets mask_base before using them,
// and uses these only from uniform control flow where they hold barriers.

const NO_INDEX: u32 = 0xffffffffu;

// Define MASKED: token i of a row is a candidate only when bit i of the row's mask words is set (the row's mask starts
// at word mask_base); the others are removed before anything else, as if their logits were -infinity.
var<private> mask_base: u32;
// MASKED kernels whose mask is optional at run time set this when the call has none (the binding is then a placeholder).
var<private> mask_off: bool = false;

fn allowed(i: u32) -> bool {
#if MASKED
  return mask_off || ((mask[mask_base + (i >> 5u)] >> (i & 31u)) & 1u) != 0u;
#else
  return true;
#endif
}

var<workgroup> red_val: array<f32, 256>;
var<workgroup> red_idx: array<u32, 256>;

struct Best { value: f32, index: u32 }

// Whether candidate (v1, i1) beats (v2, i2): larger value, ties to the lower index (torch.argmax); NO_INDEX loses.
fn beats(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
  return i1 != NO_INDEX && (i2 == NO_INDEX || v1 > v2 || (v1 == v2 && i1 < i2));
}

// Workgroup argmax of one (value, index) candidate per invocation. Every invocation must call it.
fn reduce_argmax(lid: u32, v: f32, i: u32) -> Best {
  red_val[lid] = v;
  red_idx[lid] = i;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride && beats(red_val[lid + stride], red_idx[lid + stride], red_val[lid], red_idx[lid])) {
      red_val[lid] = red_val[lid + stride];
      red_idx[lid] = red_idx[lid + stride];
    }
    workgroupBarrier();
  }
  let best = Best(red_val[0], red_idx[0]);
  workgroupBarrier();
  return best;
}

// The largest allowed logit of the row starting at base and its index (ties to the lowest index; NO_INDEX when
// none is allowed), over the whole workgroup.
fn row_argmax(lid: u32, base: u32) -> Best {
  var bv = 0.0;
  var bi = NO_INDEX;
  for (var i = lid; i < p.vocab; i += WG) {
    let x = logits[base + i];
    if (allowed(i) && beats(x, i, bv, bi)) { bv = x; bi = i; }
  }
  return reduce_argmax(lid, bv, bi);
}

// f32 bits -> u32 key with the same order (for finite values); -0 and +0 share a key, as they compare equal.
fn order_key(x: f32) -> u32 {
  let b = select(bitcast<u32>(x), 0u, x == 0.0);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
