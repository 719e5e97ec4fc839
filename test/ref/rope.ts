/** f64 CPU reference for RoPE (HF rotate_half convention) and its inverse frequencies. */

/** inv_freq[i] = theta^(-2i/dim), then Llama-3 scaling if given, all in f64 straight from the formula. */
export function ropeInvFreqRef(dim: number, theta: number, llama3?: { factor: number; low: number; high: number; originalMax: number }): Float64Array {
  const out = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const base = 1 / theta ** ((2 * i) / dim);
    if (!llama3) {
      out[i] = base;
      continue;
    }
    const { factor, low, high, originalMax } = llama3;
    const wavelen = (2 * Math.PI) / base;
    if (wavelen < originalMax / high)
      out[i] = base; // high frequency: unchanged
    else if (wavelen > originalMax / low)
      out[i] = base / factor; // low frequency: scaled down
    else {
      // In between: blend the scaled and unscaled frequency by how many turns fit in the original context.
      const smooth = (originalMax / wavelen - low) / (high - low);
      out[i] = (1 - smooth) * (base / factor) + smooth * base;
    }
  }
  return out;
}

/**
 * y = R(θ) x per (token, head): for i < h = dim/2, (y_i, y_{i+h}) = (c x_i - s x_{i+h}, s x_i + c x_{i+h}),
 * θ = pos[t] * invFreq[i]. angle 'f32' rounds θ to f32 first, as PyTorch (and the GPU) form it; cos/sin in f64.
 */
export function ropeRef(
  x: ArrayLike<number>,
  pos: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  tokens: number,
  heads: number,
  dim: number,
  angle: 'f64' | 'f32' = 'f64',
): Float64Array {
  return rotate(x, pos, invFreq, tokens, heads, dim, angle, false);
}

/** dx = R(θ)^T dy: (dx_i, dx_{i+h}) = (c dy_i + s dy_{i+h}, -s dy_i + c dy_{i+h}). */
export function ropeBackwardRef(
  dy: ArrayLike<number>,
  pos: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  tokens: number,
  heads: number,
  dim: number,
  angle: 'f64' | 'f32' = 'f64',
): Float64Array {
  return rotate(dy, pos, invFreq, tokens, heads, dim, angle, true);
}

function rotate(
  v: ArrayLike<number>,
  pos: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  tokens: number,
  heads: number,
  dim: number,
  angle: 'f64' | 'f32',
  transpose: boolean,
): Float64Array {
  const h = dim / 2;
  const out = new Float64Array(tokens * heads * dim);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < h; i++) {
      const theta = angle === 'f32' ? Math.fround(pos[t]! * invFreq[i]!) : pos[t]! * invFreq[i]!;
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      for (let hd = 0; hd < heads; hd++) {
        const lo = (t * heads + hd) * dim + i;
        const a = v[lo]!;
        const b = v[lo + h]!;
        if (transpose) {
          out[lo] = c * a + s * b;
          out[lo + h] = -s * a + c * b;
        } else {
          out[lo] = c * a - s * b;
          out[lo + h] = s * a + c * b;
        }
      }
    }
  }
  return out;
}
