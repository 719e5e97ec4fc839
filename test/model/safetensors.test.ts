import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseSafetensorsHeader, readTensor, readTensorF32 } from '../../src/model/safetensors.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../src/gpu/dtype.ts';
import { fileSource } from '../../runtime-node/file-source.ts';
import { sharedPath } from '../harness/shared.ts';

const STORIES = sharedPath('models/stories260K/model.safetensors');

/** Builds a safetensors file from a header object (or raw header text) and a data section. */
function safetensorsBytes(header: object | string, data: Uint8Array, headerLenOverride?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLenOverride ?? text.length, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fileCount = 0;
function writeTemp(bytes: Uint8Array): string {
  const path = join(tmp, `case${fileCount++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

describe('safetensors: stories260K', () => {
  it('parses all 47 tensors with the expected names, shapes and offsets', async () => {
    const header = await parseSafetensorsHeader(fileSource(STORIES));
    expect(header.dataOffset).toBe(8 + 4856);
    expect(header.tensors.size).toBe(47);
    const shape = (n: string) => header.tensors.get(n)?.shape;
    expect(shape('model.embed_tokens.weight')).toEqual([512, 64]);
    expect(shape('model.norm.weight')).toEqual([64]);
    expect(header.tensors.has('lm_head.weight')).toBe(false); // tied
    for (let l = 0; l < 5; l++) {
      const p = `model.layers.${l}`;
      expect(shape(`${p}.self_attn.q_proj.weight`)).toEqual([64, 64]);
      expect(shape(`${p}.self_attn.k_proj.weight`)).toEqual([32, 64]);
      expect(shape(`${p}.self_attn.v_proj.weight`)).toEqual([32, 64]);
      expect(shape(`${p}.self_attn.o_proj.weight`)).toEqual([64, 64]);
      expect(shape(`${p}.mlp.gate_proj.weight`)).toEqual([172, 64]);
      expect(shape(`${p}.mlp.up_proj.weight`)).toEqual([172, 64]);
      expect(shape(`${p}.mlp.down_proj.weight`)).toEqual([64, 172]);
      expect(shape(`${p}.input_layernorm.weight`)).toEqual([64]);
      expect(shape(`${p}.post_attention_layernorm.weight`)).toEqual([64]);
    }
    let params = 0;
    for (const t of header.tensors.values()) {
      expect(t.dtype).toBe('F32');
      params += t.numel;
    }
    expect(params).toBe(260_032);
  });

  it('streams a tensor in chunks that reassemble to readTensorF32 and to the raw file bytes', async () => {
    const src = fileSource(STORIES);
    const header = await parseSafetensorsHeader(src);
    const info = header.tensors.get('model.layers.2.mlp.down_proj.weight')!;
    const whole = await readTensorF32(src, header, info.name);
    expect(whole.length).toBe(64 * 172);
    const raw = new Uint8Array(readFileSync(STORIES).subarray(info.begin, info.end)); // a copy: its own aligned buffer
    expect(new Float32Array(raw.buffer)).toEqual(whole);

    const assembled = new Uint8Array(info.end - info.begin);
    const offsets: number[] = [];
    await readTensor(
      src,
      header,
      info.name,
      (bytes, offset) => {
        expect(bytes.byteLength % 4).toBe(0);
        assembled.set(bytes, offset);
        offsets.push(offset);
      },
      { chunkBytes: 1001 },
    ); // rounded down to 1000: whole f32 elements
    expect(offsets.slice(0, 3)).toEqual([0, 1000, 2000]);
    expect(offsets.length).toBe(Math.ceil(assembled.length / 1000));
    expect(assembled).toEqual(raw);
    await expect(readTensor(src, header, info.name, () => {}, { chunkBytes: 3 })).rejects.toThrow(/chunkBytes must be an integer >= 4/);
    await expect(readTensorF32(src, header, 'nope')).rejects.toThrow(/no tensor named 'nope'/);
  });
});

describe('safetensors: 16-bit and metadata', () => {
  it('converts BF16 and F16 to f32 and keeps __metadata__', async () => {
    const values = [1, -2.5, 0.1, 65504, -0.0001, 3.140625];
    const data = new Uint8Array(values.length * 4);
    const view = new DataView(data.buffer);
    values.forEach((v, i) => {
      view.setUint16(i * 2, f32ToBf16Bits(v), true);
      view.setUint16(values.length * 2 + i * 2, f32ToF16Bits(v), true);
    });
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 12] },
      h: { dtype: 'F16', shape: [6], data_offsets: [12, 24] },
    };
    const src = memorySource(safetensorsBytes(header, data), 'mem.safetensors');
    const parsed = await parseSafetensorsHeader(src);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    const b = await readTensorF32(src, parsed, 'b');
    const h = await readTensorF32(src, parsed, 'h');
    values.forEach((v, i) => {
      expect(Math.abs(b[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
      expect(Math.abs(h[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 6e-8);
    });
  });
});

describe('safetensors: broken files are rejected with the file, tensor and problem named', () => {
  const f32Tensor = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  async function expectRejected(bytes: Uint8Array, message: RegExp) {
    const path = writeTemp(bytes);
    const err = await parseSafetensorsHeader(fileSource(path)).then(
      () => null,
      (e: Error) => e,
    );
    expect(err, `expected ${message} for ${path}`).toBeInstanceOf(Error);
    expect(err!.message).toContain(path);
    expect(err!.message).toMatch(message);
  }

  it('truncated file (data section shorter than the header says)', async () => {
    const good = safetensorsBytes({ a: f32Tensor(0, 16), b: f32Tensor(16, 32) }, new Uint8Array(32));
    await expectRejected(good.subarray(0, good.length - 5), /tensor 'b'.*run past the 27-byte data section/);
  });

  it('file shorter than the length prefix', async () => {
    await expectRejected(new Uint8Array(5), /too short for the 8-byte header length/);
  });

  it('header length larger than the file', async () => {
    await expectRejected(safetensorsBytes({ a: f32Tensor(0, 4) }, new Uint8Array(4), 10_000), /header length 10000 is larger than/);
  });

  it('header length over the 100 MB limit', async () => {
    const bytes = safetensorsBytes({}, new Uint8Array(0));
    new DataView(bytes.buffer).setUint32(4, 1, true); // 2^32 + 2
    await expectRejected(bytes, /exceeds the 104857600-byte limit/);
  });

  it('header that is not JSON', async () => {
    await expectRejected(safetensorsBytes('{"a": {"dtype": "F32",', new Uint8Array(4)), /not valid UTF-8 JSON/);
  });

  it('header that is JSON but not an object', async () => {
    await expectRejected(safetensorsBytes('[1, 2]', new Uint8Array(0)), /not a JSON object/);
  });

  it('shape that disagrees with the byte length', async () => {
    await expectRejected(safetensorsBytes({ w: f32Tensor(0, 24, [2, 4]) }, new Uint8Array(24)), /tensor 'w'.*hold 24 bytes but F32 shape \[2, 4\] needs 32/);
  });

  it('overlapping offsets', async () => {
    await expectRejected(safetensorsBytes({ a: f32Tensor(0, 16), b: f32Tensor(8, 24) }, new Uint8Array(24)), /tensor 'b'.*overlap tensor 'a'/);
  });

  it('offsets out of range and reversed', async () => {
    await expectRejected(safetensorsBytes({ a: f32Tensor(0, 40) }, new Uint8Array(16)), /tensor 'a'.*\[0, 40\] run past/);
    await expectRejected(safetensorsBytes({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(16)), /tensor 'a'.*end before begin/);
    await expectRejected(
      safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)),
      /tensor 'a'.*data_offsets must be \[begin, end\]/,
    );
  });

  it('unknown dtype', async () => {
    await expectRejected(safetensorsBytes({ a: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a'.*unknown dtype "F31"/);
  });

  it('bad shape', async () => {
    await expectRejected(
      safetensorsBytes({ a: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /tensor 'a'.*non-negative integers/,
    );
    await expectRejected(safetensorsBytes({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a'.*non-negative integers/);
  });

  it('bad __metadata__', async () => {
    await expectRejected(safetensorsBytes({ __metadata__: { n: 3 } }, new Uint8Array(0)), /__metadata__\.n must be a string/);
  });

  it('a source that returns short reads or reads past the end fails loudly', async () => {
    const bytes = safetensorsBytes({ a: f32Tensor(0, 16) }, new Uint8Array(16));
    const honest = memorySource(bytes, 'short.safetensors');
    const short = { ...honest, read: async (offset: number, length: number) => (await honest.read(offset, length)).subarray(0, Math.max(0, length - 1)) };
    await expect(parseSafetensorsHeader(short)).rejects.toThrow(/short\.safetensors: short read, wanted 8 bytes at offset 0, got 7/);
    const path = writeTemp(bytes);
    await expect(fileSource(path).read(bytes.length - 4, 8)).rejects.toThrow(/unexpected end of file/);
  });

  it('scalars and empty tensors are fine', async () => {
    const src = memorySource(
      safetensorsBytes({ s: { dtype: 'I64', shape: [], data_offsets: [0, 8] }, e: { dtype: 'F16', shape: [0, 3], data_offsets: [8, 8] } }, new Uint8Array(8)),
    );
    const h = await parseSafetensorsHeader(src);
    expect(h.tensors.get('s')!.numel).toBe(1);
    expect(h.tensors.get('e')!.numel).toBe(0);
    expect(await readTensorF32(src, h, 'e')).toEqual(new Float32Array(0));
    await expect(readTensorF32(src, h, 's')).rejects.toThrow(/dtype I64; readTensorF32 reads F32, F16, BF16 and F64 only/);
  });
});
