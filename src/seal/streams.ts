/**
 * The sampling streams of self-edits. A sample is drawn from (seed, stream) (src/generate: per-sequence streams), and
 * both are fixed by what the sample is for: the seed by (run seed, round), the stream by (context id, candidate,
 * attempt). So a candidate's self-edit does not depend on which other slots share its batch, on the order contexts
 * are visited, or on a kill: a slot resampled after a resume draws exactly what the killed process would have.
 */
import { fmix32, mixSeedStream } from '../util/rng.ts';

/** FNV-1a over the UTF-8 bytes of a string, mixed: a u32 key of a context id. */
export function stringKey(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return fmix32(h);
}

/** The u32 sampling seed of a round. */
export function roundSeed(runSeed: number, round: number): number {
  if (!Number.isSafeInteger(runSeed)) throw new RangeError(`roundSeed: the run seed must be a safe integer, got ${runSeed}`);
  return mixSeedStream(runSeed, round + 0x632be5ab);
}

/** The u32 stream of one sample: attempt `attempt` of candidate `candidate` of a context. */
export function sampleStream(contextId: string, candidate: number, attempt: number): number {
  return fmix32(stringKey(contextId) ^ fmix32(Math.imul(candidate + 1, 0x9e3779b1) ^ fmix32((attempt + 0x7f4a7c15) >>> 0)));
}
