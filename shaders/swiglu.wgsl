// SwiGLU gate of the Llama MLP, elementwise over gate and up [tokens, ffn] f32:
//   forward:  h = silu(g) * u,  silu(g) = g * sigmoid(g)
//   backward: dg = dh * u * s * (1 + g * (1 - s)),  du = dh * silu(g),  s = sigmoid(g)
// sigmoid only ever takes exp(-|g|) <= 1, so it neither overflows nor forms inf/inf for large |g|.
// Defines: BACKWARD; VEC4 (the element count is a multiple of 4 and p.n counts vec4s).

override WG: u32 = 256u;

#if VEC4
alias V = vec4<f32>;
#else
alias V = f32;
#endif

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<V>;
@group(0) @binding(2) var<storage, read> up: array<V>;
#if BACKWARD
@group(0) @binding(3) var<storage, read> dh: array<V>;
@group(0) @binding(4) var<storage, read_write> dgate: array<V>;
@group(0) @binding(5) var<storage, read_write> dup: array<V>;
#else
@group(0) @binding(3) var<storage, read_write> h: array<V>;
#endif

fn sigmoid(g: V) -> V {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= V(0.0));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.n) { return; }
  let g = gate[i];
  let u = up[i];
  let s = sigmoid(g);
#if BACKWARD
  let d = dh[i];
  dgate[i] = d * u * s * (1.0 + g * (1.0 - s));
  dup[i] = d * g * s;
#else
  h[i] = g * s * u;
#endif
}
