// One AdamW step (torch.optim.AdamW, amsgrad=False, maximize=False), one invocation per element:
//   g = grad * clip                       (clip: the global clip scale, CLIP only)
//   param *= 1 - lr * weight_decay        (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t) and 1 - beta1, 1 - beta2 computed on the host in
// f64, as PyTorch does.
// Bindings: 1 param, 2 grad, 3 m, 4 v, 5 clip (1 element) if CLIP.

override WG: u32 = 256u;

struct Params { n: u32, decay: f32, beta1: f32, beta2: f32, eps: f32, step_size: f32, bc2_sqrt: f32, one_minus_beta1: f32, one_minus_beta2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
#if CLIP
@group(0) @binding(5) var<storage, read> clip: array<f32>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.n) { return; }
#if CLIP
  let g = grad[i] * clip[0];
#else
  let g = grad[i];
#endif
  let m1 = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let v1 = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = m1;
  v[i] = v1;
  param[i] = param[i] * p.decay - p.step_size * m1 / (sqrt(v1) / p.bc2_sqrt + p.eps);
}
