/** f64 CPU reference for SwiGLU: h = silu(g) * u, silu(g) = g / (1 + e^-g). */

function sigmoid(g: number): number {
  // Written so neither branch overflows: e^-|g| <= 1.
  return g >= 0 ? 1 / (1 + Math.exp(-g)) : Math.exp(g) / (1 + Math.exp(g));
}

export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const h = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) h[i] = gate[i]! * sigmoid(gate[i]!) * up[i]!;
  return h;
}

/** d silu/dg = s + g s (1 - s); dh/du = silu(g). */
export function swigluBackwardRef(gate: ArrayLike<number>, up: ArrayLike<number>, dh: ArrayLike<number>) {
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    const s = sigmoid(g);
    dgate[i] = dh[i]! * up[i]! * (s + g * s * (1 - s));
    dup[i] = dh[i]! * g * s;
  }
  return { dgate, dup };
}
