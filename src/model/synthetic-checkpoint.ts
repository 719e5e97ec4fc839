/**
 * A random-weight checkpoint at any model shape, generated on the fly as a safetensors ByteSource: benchmarks
 * build real-size models (Llama-3.2-1B, Qwen2.5-7B) through the normal loading path without downloading
 * anything, and the host never holds more than the chunk being read.
 *
 * Values: RMSNorm weights 1; every other tensor uniform in ±1/sqrt(fan-in) (the embedding ±1), so activations
 * stay finite through any depth. Each tensor tiles a block of seeded random values: contents only have to be
 * plausible, not independent.
 */
import type { ByteSource } from './byte-source.ts';
import { expectedWeights, type ModelConfig } from './config.ts';
import { xorshift32 } from '../util/rng.ts';
import { parseSafetensorsHeader, type SafetensorsHeader } from './safetensors.ts';

export type SyntheticDType = 'BF16' | 'F16' | 'F32';

/** Distinct random values per tensor (then repeated). */
const BLOCK = 65536 + 7;

interface Layout {
  name: string;
  shape: number[];
  start: number;
  end: number;
}

/** Seeded random bytes of one tensor, as its dtype's little-endian encoding of `BLOCK` values. */
function tensorBlock(t: Layout, index: number, dtype: SyntheticDType, seed: number): Uint8Array {
  const isNorm = t.name.endsWith('norm.weight');
  const fanIn = t.shape.length === 2 ? t.shape[1]! : t.shape[0]!;
  const bound = t.name === 'model.embed_tokens.weight' ? 1 : 1 / Math.sqrt(fanIn);
  const values = new Float32Array(BLOCK);
  const next = xorshift32(seed ^ Math.imul(index + 1, 0x9e3779b1));
  for (let i = 0; i < BLOCK; i++) values[i] = isNorm ? 1 : bound * ((next() / 4294967296) * 2 - 1);
  if (dtype === 'F32') return new Uint8Array(values.buffer);
  const bits = new Uint32Array(values.buffer);
  const out = new Uint16Array(BLOCK);
  if (dtype === 'BF16') for (let i = 0; i < BLOCK; i++) out[i] = bits[i]! >>> 16;
  else for (let i = 0; i < BLOCK; i++) out[i] = f32ToF16(values[i]!);
  return new Uint8Array(out.buffer);
}

/** Round-toward-zero f32 → f16 for the small normal values generated here. */
function f32ToF16(x: number): number {
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 6.1e-5) return sign;
  const e = Math.floor(Math.log2(a));
  const m = Math.floor((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | m;
}

/** The checkpoint of `config` with random weights: one safetensors source and its parsed header. */
export async function syntheticCheckpoint(
  config: ModelConfig,
  opts: { dtype?: SyntheticDType; seed?: number } = {},
): Promise<{ source: ByteSource; header: SafetensorsHeader }> {
  const dtype = opts.dtype ?? 'BF16';
  const seed = opts.seed ?? 0;
  const elemBytes = dtype === 'F32' ? 4 : 2;
  const layout: Layout[] = [];
  let offset = 0;
  for (const { name, shape } of expectedWeights(config)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * elemBytes;
    layout.push({ name, shape, start: offset, end: offset + bytes });
    offset += bytes;
  }
  const json: Record<string, unknown> = { __metadata__: { format: 'pt', source: 'seal-webgpu synthetic random weights' } };
  for (const t of layout) json[t.name] = { dtype, shape: t.shape, data_offsets: [t.start, t.end] };
  let headerText = JSON.stringify(json);
  headerText += ' '.repeat((8 - (headerText.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const prefix = new Uint8Array(8 + headerBytes.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  prefix.set(headerBytes, 8);
  const dataStart = prefix.byteLength;
  const total = dataStart + offset;
  const blocks = new Map<number, Uint8Array>();
  const blockOf = (i: number) => {
    let b = blocks.get(i);
    if (!b) {
      if (blocks.size > 8) blocks.clear();
      b = tensorBlock(layout[i]!, i, dtype, seed);
      blocks.set(i, b);
    }
    return b;
  };

  const source: ByteSource = {
    name: `synthetic ${config.architecture} checkpoint`,
    size: async () => total,
    read: async (at, length) => {
      if (!Number.isSafeInteger(at) || !Number.isSafeInteger(length) || at < 0 || length < 0 || at + length > total) {
        throw new RangeError(`synthetic checkpoint: cannot read ${length} bytes at offset ${at} of ${total}`);
      }
      const out = new Uint8Array(length);
      let pos = at;
      while (pos < at + length) {
        if (pos < dataStart) {
          const n = Math.min(dataStart, at + length) - pos;
          out.set(prefix.subarray(pos, pos + n), pos - at);
          pos += n;
          continue;
        }
        const rel = pos - dataStart;
        const i = layout.findIndex((t) => rel >= t.start && rel < t.end);
        const t = layout[i]!;
        const block = blockOf(i);
        const end = Math.min(t.end, at + length - dataStart);
        // Copy whole repeats of the block, starting mid-block where the read starts.
        for (let r = rel; r < end; ) {
          const inBlock = (r - t.start) % block.byteLength;
          const n = Math.min(block.byteLength - inBlock, end - r);
          out.set(block.subarray(inBlock, inBlock + n), r + dataStart - at);
          r += n;
        }
        pos = end + dataStart;
      }
      return out;
    },
  };
  return { source, header: await parseSafetensorsHeader(source) };
}
