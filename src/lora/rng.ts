/**
 * The seeded random numbers of adapter initialisation. PyTorch's generator (Philox / MT19937 with its own
 * sampling code) cannot be reproduced here, so an adapter initialised from seed S has the same distribution as
 * PEFT's, never the same values. What we guarantee instead: the same seed gives the same bits on every runtime,
 * and every (layer, projection, matrix) has its own stream, so adding or removing a target or a layer does not
 * change the values of the others.
 *
 * Generator: mulberry32 (a 32-bit state advanced by the Weyl constant 0x6D2B79F5, output through an
 * xorshift-multiply finaliser), seeded per stream with the murmur3 32-bit finaliser (fmix32) of the seed and the
 * stream id. Uniform floats take the top 24 bits: u = (x >>> 8) / 2^24 in [0, 1).
 */

/** murmur3's fmix32: a bijective 32-bit mix. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32 from a 32-bit state: returns the next u32 on each call. */
export function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The state of stream `streamId` for a seed (any non-negative safe integer: both 32-bit halves are mixed in). */
export function streamState(seed: number, streamId: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`LoRA init: seed must be a non-negative safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return fmix32(fmix32(lo ^ fmix32(hi + 0x9e3779b9)) ^ fmix32(streamId >>> 0));
}

/** Fills `out` with U(-bound, bound) from one stream: bound * (2u - 1), u the top 24 bits of each draw. */
export function fillUniform(out: Float32Array, bound: number, state: number): Float32Array {
  const next = mulberry32(state);
  for (let i = 0; i < out.length; i++) out[i] = bound * (2 * ((next() >>> 8) / 16777216) - 1);
  return out;
}
