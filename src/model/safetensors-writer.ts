/**
 * Safetensors writer (https://github.com/huggingface/safetensors#format): an 8-byte little-endian header length,
 * the JSON header padded with spaces to a multiple of 8 bytes, then the tensors' bytes back to back with no
 * holes. Like the Python writer, tensors are laid out by descending element size (stable otherwise), so with the
 * 8-byte-aligned header every tensor starts aligned to its element size. Runtime-free: returns the file's bytes.
 */
import { f32ToBf16Bits, f32ToF16Bits } from '../gpu/dtype.ts';
import { SAFETENSORS_DTYPE_BYTES, type SafetensorsDType } from './safetensors.ts';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /**
   * Float values (F64, F32, F16, BF16; 16-bit values are rounded to nearest even), or the raw little-endian
   * bytes for any dtype.
   */
  data: ArrayLike<number> | Uint8Array;
}

/** Encodes float values as little-endian bytes of a float dtype. */
export function encodeFloats(values: ArrayLike<number>, dtype: SafetensorsDType): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * SAFETENSORS_DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, values[i]!, true);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, values[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToF16Bits(values[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToBf16Bits(values[i]!), true);
      break;
    default:
      throw new TypeError(`safetensors writer: cannot encode float values as ${dtype}; pass raw bytes (a Uint8Array) instead`);
  }
  return out;
}

/** The complete .safetensors file. `metadata` goes to __metadata__ (default {"format": "pt"}, what PyTorch loaders expect). */
export function writeSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const fail = (what: string): never => {
    throw new Error(`safetensors writer: ${what}`);
  };
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${typeof v}`);
  const names = new Set<string>();
  const encoded = entries.map((e, index) => {
    if (typeof e.name !== 'string' || e.name === '' || e.name === '__metadata__') fail(`invalid tensor name ${JSON.stringify(e.name)}`);
    if (names.has(e.name)) fail(`duplicate tensor name '${e.name}'`);
    names.add(e.name);
    if (!Object.hasOwn(SAFETENSORS_DTYPE_BYTES, e.dtype)) fail(`tensor '${e.name}': unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${e.name}': shape must be non-negative integers, got [${e.shape.join(', ')}]`);
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const elem = SAFETENSORS_DTYPE_BYTES[e.dtype];
    let bytes: Uint8Array;
    if (e.data instanceof Uint8Array) {
      bytes = e.data;
      if (bytes.byteLength !== numel * elem)
        fail(`tensor '${e.name}': ${bytes.byteLength} raw bytes, but ${e.dtype} [${e.shape.join(', ')}] needs ${numel * elem}`);
    } else {
      if (e.data.length !== numel) fail(`tensor '${e.name}': ${e.data.length} values for shape [${e.shape.join(', ')}] (${numel} elements)`);
      bytes = encodeFloats(e.data, e.dtype);
    }
    return { entry: e, bytes, elem, index };
  });
  encoded.sort((x, y) => y.elem - x.elem || x.index - y.index);

  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const { entry, bytes } of encoded) {
    header[entry.name] = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let at = 8 + headerLen;
  for (const { bytes } of encoded) {
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return out;
}
