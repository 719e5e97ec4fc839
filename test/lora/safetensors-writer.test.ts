/** The safetensors writer: spec layout (8-byte length, space-padded JSON header, contiguous data) and our reader accepting it. */
import { describe, expect, it } from 'vitest';
import { roundTo } from '../../src/gpu/dtype.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { encodeFloats, writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';

describe('safetensors writer', () => {
  it('writes the spec layout: u64 header length, JSON padded with spaces to 8 bytes, __metadata__, contiguous tensors', async () => {
    const seed = freshSeed();
    const r = rng(seed);
    const a = randn(7, r),
      b = randn(6, r),
      c = randn(5, r);
    const bytes = writeSafetensors([
      { name: 'half', dtype: 'BF16', shape: [7], data: a },
      { name: 'single', dtype: 'F32', shape: [2, 3], data: b },
      { name: 'double', dtype: 'F64', shape: [5, 1], data: c },
      { name: 'empty', dtype: 'F16', shape: [0, 4], data: [] },
      { name: 'raw', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 250]) },
    ]);
    const view = new DataView(bytes.buffer);
    const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    expect(headerLen % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const json = JSON.parse(text);
    expect(json.__metadata__).toEqual({ format: 'pt' });
    // Largest elements first, so each tensor starts aligned to its element size; no holes.
    expect(json.double.data_offsets).toEqual([0, 40]);
    expect(json.single.data_offsets).toEqual([40, 64]);
    expect(json.half.data_offsets).toEqual([64, 78]);
    expect(json.empty.data_offsets).toEqual([78, 78]);
    expect(json.raw.data_offsets).toEqual([78, 81]);
    expect(bytes.byteLength).toBe(8 + headerLen + 81);

    const source = memorySource(bytes, 'written.safetensors');
    const header = await parseSafetensorsHeader(source);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(await readTensorF32(source, header, 'half')).toEqual(roundTo(a, 'bf16'));
    expect(await readTensorF32(source, header, 'single')).toEqual(b);
    expect(await readTensorF32(source, header, 'double')).toEqual(Float32Array.from(c));
    expect([...bytes.subarray(header.tensors.get('raw')!.begin, header.tensors.get('raw')!.end)]).toEqual([1, 2, 250]);
  });

  it('encodes f16 and bf16 with round-to-nearest-even, little-endian', () => {
    expect([...encodeFloats([1, -2], 'F16')]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect([...encodeFloats([1, 1 + 2 ** -8], 'BF16')]).toEqual([0x80, 0x3f, 0x80, 0x3f]); // the tie rounds to even
  });

  it('rejects bad entries with clear errors', () => {
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [2, 2], data: [1, 2, 3] }])).toThrow(
      /tensor 'x': 3 values for shape \[2, 2\] \(4 elements\)/,
    );
    expect(() =>
      writeSafetensors([
        { name: 'x', dtype: 'F32', shape: [1], data: [1] },
        { name: 'x', dtype: 'F32', shape: [1], data: [2] },
      ]),
    ).toThrow(/duplicate tensor name 'x'/);
    expect(() => writeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [1], data: [1] }])).toThrow(/invalid tensor name "__metadata__"/);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'I32', shape: [1], data: [1] }])).toThrow(/cannot encode float values as I32; pass raw bytes/);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'I32', shape: [2], data: new Uint8Array(4) }])).toThrow(/4 raw bytes, but I32 \[2\] needs 8/);
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [-1], data: [] }])).toThrow(/shape must be non-negative integers/);
    expect(() => writeSafetensors([], { format: 1 as unknown as string })).toThrow(/__metadata__.format must be a string/);
  });
});
