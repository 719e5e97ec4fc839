/**
 * The seeded random numbers of the ARC domain (augmentation draws, colour and example permutations, the example cap,
 * which query gets which transform). numpy's RandomState cannot be reproduced here, and the reference's results also
 * depend on Python's per-process set order, so we guarantee determinism instead: the same (seed, stream) gives the
 * same draws on every runtime.
 *
 * Generator: mulberry32 (src/lora/rng.ts), seeded per stream with streamState(seed, stream). Integers in [0, n) are
 * drawn without modulo bias (rejection of the top partial range); shuffles are Fisher-Yates from the last element
 * down, as numpy's shuffle.
 */
import { streamState } from '../../lora/rng.ts';

/** Stream ids of the ARC domain, one per independent use of a seed. */
export const ARC_STREAMS = {
  /** TTT data for leave-n: stream base + n. */
  tttLeaveN: 0x4152_0100,
  /** The shuffle before the example cap. */
  tttCap: 0x4152_0200,
  /** Inference queries for leave-n: stream base + n. */
  inferenceLeaveN: 0x4152_0300,
} as const;

export class ArcRng {
  private constructor(private state: number) {}

  /** The generator of stream `stream` for `seed` (a non-negative safe integer). */
  static create(seed: number, stream: number): ArcRng {
    return new ArcRng(streamState(seed, stream));
  }

  /** An independent copy at the same position: it draws what this generator would draw next. */
  clone(): ArcRng {
    return new ArcRng(this.state);
  }

  /** The next u32 (mulberry32). */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n), n in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`ArcRng.int: n must be an integer in [1, 2^32], got ${n}`);
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
