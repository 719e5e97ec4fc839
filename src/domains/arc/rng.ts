/**
 * The seeded random numbers of the ARC domain (augmentation draws, colour and example permutations, the example cap,
 * which query gets which transform): the project's generator (src/util/rng.ts), one stream per use. numpy's
 * RandomState cannot be reproduced, and the reference's results also depend on Python's per-process set order, so
 * the promise is determinism: the same (seed, stream) gives the same draws on every runtime.
 */
export { SeededRng as ArcRng } from '../../util/rng.ts';

/** Stream ids of the ARC domain, one per independent use of a seed. */
export const ARC_STREAMS = {
  /** TTT data for leave-n: stream base + n. */
  tttLeaveN: 0x4152_0100,
  /** The shuffle before the example cap. */
  tttCap: 0x4152_0200,
  /** Inference queries for leave-n: stream base + n. */
  inferenceLeaveN: 0x4152_0300,
} as const;
