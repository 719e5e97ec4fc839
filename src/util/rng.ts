/**
 * The project's seeded random numbers: one generator, one way to derive independent streams from a seed. Reference
 * libraries' generators (PyTorch's Philox / MT19937, numpy's RandomState) cannot be reproduced here, so we promise
 * determinism instead: the same (seed, stream) gives the same draws on every runtime, and each use of a seed (a
 * LoRA matrix, an epoch's order, an ARC augmentation) draws from its own stream, so adding one use does not change
 * the draws of the others.
 *
 * Generator: mulberry32 (a 32-bit state advanced by the Weyl constant 0x6D2B79F5, output through an
 * xorshift-multiply finaliser). Streams: the state of stream s for seed S mixes both 32-bit halves of S and s with
 * murmur3's 32-bit finaliser (fmix32). Integers in [0, n) are drawn without modulo bias (rejection of the top
 * partial range); shuffles are Fisher-Yates from the last element down, as numpy's shuffle.
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

/** The u32 state of stream `streamId` for any safe-integer seed (both 32-bit halves are mixed in); no range check. */
export function mixSeedStream(seed: number, streamId: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return fmix32(fmix32(lo ^ fmix32(hi + 0x9e3779b9)) ^ fmix32(streamId >>> 0));
}

/** The state of stream `streamId` for a seed, which must be a non-negative safe integer. */
export function streamState(seed: number, streamId: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  return mixSeedStream(seed, streamId);
}

/** A mulberry32 generator with draws on top of its u32 output. */
export class SeededRng {
  private constructor(private state: number) {}

  /** The generator starting from a raw 32-bit state. */
  static fromState(state: number): SeededRng {
    return new SeededRng(state >>> 0);
  }

  /** The generator of stream `stream` for `seed` (a non-negative safe integer). */
  static create(seed: number, stream: number): SeededRng {
    return new SeededRng(streamState(seed, stream));
  }

  /** An independent copy at the same position: it draws what this generator would draw next. */
  clone(): SeededRng {
    return new SeededRng(this.state);
  }

  /** The next u32. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1) with 32 random bits: u32 / 2^32. */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [0, n), n in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`SeededRng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles `items` in place (Fisher-Yates from the end) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}

/** mulberry32 from a 32-bit state as a function: returns the next u32 on each call. */
export function mulberry32(state: number): () => number {
  const g = SeededRng.fromState(state);
  return () => g.nextU32();
}

/** Fills `out` with U(-bound, bound) from one stream: bound * (2u - 1), u the top 24 bits of each draw. */
export function fillUniform(out: Float32Array, bound: number, state: number): Float32Array {
  const g = SeededRng.fromState(state);
  for (let i = 0; i < out.length; i++) out[i] = bound * (2 * ((g.nextU32() >>> 8) / 16777216) - 1);
  return out;
}

/** xorshift32 (Marsaglia 13/17/5) from a non-zero 32-bit state: the next u32 on each call. Synthetic checkpoints draw from it. */
export function xorshift32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
