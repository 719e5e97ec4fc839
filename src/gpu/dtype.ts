/** Element types and their host-side conversions. 16-bit types are stored two per u32 (little end first). */

export type DType = 'f32' | 'f16' | 'bf16' | 'u32' | 'i32';

export function bytesFor(dtype: DType, numel: number): number {
  const raw = dtype === 'f16' || dtype === 'bf16' ? numel * 2 : numel * 4;
  return Math.ceil(raw / 4) * 4;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** f32 -> IEEE half bits, round to nearest even, with subnormals, infinities and NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Packs f32 values into 16-bit words, two per u32. */
export function pack16(values: ArrayLike<number>, dtype: 'f16' | 'bf16'): Uint32Array {
  const conv = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
  const out = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1]! |= conv(values[i]!) << ((i & 1) * 16);
  return out;
}

export function unpack16(words: Uint32Array, dtype: 'f16' | 'bf16', numel: number): Float32Array {
  const conv = dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) out[i] = conv((words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff);
  return out;
}

/** Rounds f32 values to what a 16-bit dtype can hold (what the GPU will see after upload). */
export function roundTo(values: ArrayLike<number>, dtype: DType): Float32Array {
  if (dtype !== 'f16' && dtype !== 'bf16') return Float32Array.from(values);
  return unpack16(pack16(values, dtype), dtype, values.length);
}
