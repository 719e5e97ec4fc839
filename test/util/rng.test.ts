import { describe, expect, it } from 'vitest';
import { ArcRng } from '../../src/domains/arc/rng.ts';
import { roundSeed, sampleStream } from '../../src/seal/streams.ts';
import { epochOrder } from '../../src/train/sft.ts';
import { fillUniform, fmix32, mulberry32, SeededRng, streamState, xorshift32 } from '../../src/util/rng.ts';

// Draws pinned from the generators as they were before they were gathered into src/util/rng.ts: a changed
// sequence would silently change every seeded run (adapter init, epoch orders, ARC augmentations, self-edit streams).
describe('the one seeded RNG module', () => {
  it('mulberry32 matches its published sequence (seed 0 -> 0.26642920868471265 = 1144304738 / 2^32)', () => {
    const next = mulberry32(0);
    expect([next(), next(), next(), next()]).toEqual([1144304738, 1416247, 958946056, 627933444]);
    const g = SeededRng.fromState(0);
    expect(g.nextFloat()).toBe(0.26642920868471265);
  });

  it('streams, uniform fills, ARC draws, SFT epoch orders and self-edit seeds are bit-identical to before', () => {
    expect(streamState(42, 7)).toBe(3495955300);
    expect(streamState(2 ** 40 + 5, 0x41520100)).toBe(2022269442);
    expect(fmix32(123)).toBe(2235285516);
    expect(Array.from(fillUniform(new Float32Array(4), 0.5, streamState(3, 9)))).toEqual([
      0.2689412236213684, -0.41428321599960327, -0.4100251793861389, -0.014977872371673584,
    ]);
    const arc = ArcRng.create(7, 0x41520200);
    expect(arc.permutation(10)).toEqual([3, 8, 6, 2, 5, 1, 0, 7, 9, 4]);
    expect(arc.int(1000)).toBe(638);
    expect(arc.nextU32()).toBe(3583781291);
    expect([roundSeed(5, 2), roundSeed(2 ** 33 + 1, 0), sampleStream('ctx-1', 2, 3)]).toEqual([2602936105, 3151655564, 424631796]);
    expect(epochOrder(10, 11, 2)).toEqual([5, 2, 8, 9, 3, 0, 1, 4, 6, 7]);
  });

  it('xorshift32 is Marsaglia 13/17/5 (state 1 -> 270369, 67634689)', () => {
    const next = xorshift32(1);
    expect([next(), next()]).toEqual([270369, 67634689]);
  });

  it('a clone draws what the original draws next; a negative seed is refused', () => {
    const a = SeededRng.create(9, 1);
    a.nextU32();
    const b = a.clone();
    expect([b.nextU32(), b.int(7)]).toEqual([a.nextU32(), a.int(7)]);
    expect(() => streamState(-1, 0)).toThrow(/seed must be a non-negative safe integer, got -1/);
  });
});
