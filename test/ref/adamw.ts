/**
 * f64 AdamW from the algorithm in the torch.optim.AdamW documentation (amsgrad=False, maximize=False):
 *   theta <- theta - lr * lambda * theta
 *   m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
 *   m_hat = m / (1 - beta1^t);      v_hat = v / (1 - beta2^t)
 *   theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)
 * Updates param, m and v in place; g is the gradient already multiplied by any clip coefficient.
 */
export interface AdamWRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export function adamwRef(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, h: AdamWRefHyper, clip = 1): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]! * clip;
    param[i] = param[i]! - h.lr * h.weightDecay * param[i]!;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
    const mHat = m[i]! / (1 - h.beta1 ** h.step);
    const vHat = v[i]! / (1 - h.beta2 ** h.step);
    param[i] = param[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}
