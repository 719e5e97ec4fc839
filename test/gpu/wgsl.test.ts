import { describe, expect, it } from 'vitest';
import { preprocess } from '../../src/gpu/wgsl.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, pack16, unpack16 } from '../../src/gpu/dtype.ts';

describe('WGSL preprocessor', () => {
  const src = ['a', '#if X', 'x', '#elif Y', 'y', '#else', 'z', '#endif', '#if !X', 'notx', '#endif', 'n={{N}}'].join('\n');
  it('selects branches and substitutes values', () => {
    expect(preprocess(src, { X: true, N: 3 })).toBe('a\nx\nn=3');
    expect(preprocess(src, { Y: 1, N: 'u' })).toBe('a\ny\nnotx\nn=u');
    expect(preprocess(src, { N: 0 })).toBe('a\nz\nnotx\nn=0');
  });
  it('handles nesting and inlines includes', () => {
    const nested = ['#if A', '#if B', 'ab', '#else', 'a!b', '#endif', '#endif', '#include "lib_dtype"'].join('\n');
    const out = preprocess(nested, { A: true });
    expect(out.startsWith('a!b\n')).toBe(true);
    expect(out).toContain('fn bf16_lo');
  });
  it('reports malformed sources', () => {
    expect(() => preprocess('#if A\nx', {})).toThrow(/unterminated/);
    expect(() => preprocess('#endif', {})).toThrow(/without #if/);
    expect(() => preprocess('{{MISSING}}', {})).toThrow(/no define/);
    expect(() => preprocess('#include "nope"', {})).toThrow(/unknown shader/);
  });
});

describe('16-bit conversions', () => {
  it('round to nearest even and keep special values', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie -> even (zero)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2);
    expect(f32ToF16Bits(-0.5)).toBe(0xb800);
  });
  it('pack/unpack round-trips representable values, odd lengths included', () => {
    const v = [1, -2, 0.5, 3];
    expect(Array.from(unpack16(pack16(v, 'bf16'), 'bf16', 3))).toEqual([1, -2, 0.5]);
    expect(Array.from(unpack16(pack16(v, 'f16'), 'f16', 4))).toEqual(v);
  });
});
