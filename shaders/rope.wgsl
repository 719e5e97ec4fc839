// Rotary position embedding in the HF rotate_half convention, on x [tokens, heads, head_dim] f32.
// Dimension i < h = head_dim/2 is paired with i + h and both are rotated by θ = position[token] * inv_freq[i]:
//   forward:  y[i] = x[i] cos θ - x[i+h] sin θ,   y[i+h] = x[i+h] cos θ + x[i] sin θ
//   backward: the transpose, a rotation by -θ (params.direction = -1): dx = R(-θ) dy
// θ is one f32 multiply, as PyTorch computes it; its sin and cos are then computed to ~1 ulp (see sin_cos).
// One invocation per (token, head, pair).
// Defines: IN_PLACE (x is read_write and receives the result; otherwise it goes to y).

override WG: u32 = 256u;

struct Params { pairs: u32, heads: u32, half_dim: u32, direction: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>;
#if IN_PLACE
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
#else
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#endif

// sin and cos of an f32 angle to about 1 ulp on every backend. WGSL's builtins promise only 2^-11 absolute
// error, and only on [-π, π]: SwiftShader's are ~1e-4 off at θ ≈ 8192, and a GPU that reduces in f32 turns
// would lose ~1e-3 rad there. So, in three steps:
// 1. subtract the nearest multiple of 2π, Cody–Waite style with 2π split in three parts: k*TWO_PI_A and
//    k*TWO_PI_B are exact for |k| < 2^16 (angles below ~4e5 rad), leaving r within ~3e-7 of exact;
// 2. subtract the nearest multiple of π/2 (q in -2..2; exact by Sterbenz's lemma), leaving |x| <= π/4;
// 3. evaluate Cephes' minimax polynomials for sin and cos on [-π/4, π/4] and rotate by the quadrant.
const INV_TWO_PI: f32 = 0.15915494309189535;
const TWO_PI_A: f32 = 6.28125;                // 201 / 32
const TWO_PI_B: f32 = 0.0019378662109375;     // 127 / 65536
const TWO_PI_C: f32 = -2.5590313510230753e-6; // 2π - TWO_PI_A - TWO_PI_B, rounded to f32
const TWO_OVER_PI: f32 = 0.6366197723675814;
const HALF_PI_A: f32 = 1.5707963705062866;    // π/2 rounded to f32
const HALF_PI_B: f32 = -4.371139000186243e-8; // π/2 - HALF_PI_A, rounded to f32

fn sin_cos(theta: f32) -> vec2<f32> {
  let k = round(theta * INV_TWO_PI);
  let r = ((theta - k * TWO_PI_A) - k * TWO_PI_B) - k * TWO_PI_C;
  let q = round(r * TWO_OVER_PI);
  let x = (r - q * HALF_PI_A) - q * HALF_PI_B;
  let z = x * x;
  let s = x + x * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  // θ = 2πk + qπ/2 + x; i32(q) & 3 is q mod 4, negatives included.
  switch (u32(i32(q) & 3)) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let idx = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (idx >= p.pairs) { return; }
  let i = idx % p.half_dim;
  let row = idx / p.half_dim; // token * heads + head
  let token = row / p.heads;
  let lo = row * 2u * p.half_dim + i;
  let hi = lo + p.half_dim;

  let theta = f32(positions[token]) * inv_freq[i];
  let sc = sin_cos(theta);
  let s = sc.x * p.direction;
  let c = sc.y;
  let x_lo = x[lo];
  let x_hi = x[hi];
#if IN_PLACE
  x[lo] = x_lo * c - x_hi * s;
  x[hi] = x_hi * c + x_lo * s;
#else
  y[lo] = x_lo * c - x_hi * s;
  y[hi] = x_hi * c + x_lo * s;
#endif
}
