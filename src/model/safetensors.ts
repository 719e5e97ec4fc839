/**
 * Safetensors reader: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
 * The header is validated completely before any tensor is read, so a corrupt or lying file fails with an
 * error naming the file, the tensor and the problem instead of producing garbage weights.
 * Format: https://github.com/huggingface/safetensors#format
 */
import { bf16BitsToF32, f16BitsToF32 } from '../gpu/dtype.ts';
import { readExact, type ByteSource } from './byte-source.ts';

/** Bytes per element of every dtype the safetensors format defines. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** Headers above this are refused: real ones are a few hundred KB even for sharded 70B models. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  numel: number;
  /** Absolute byte range in the file, [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** The source's name, for error messages. */
  file: string;
  /** Absolute file offset of the data section (8 + JSON header length). */
  dataOffset: number;
  /** In header order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string> | null;
}

function isDType(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, d);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads and validates the header of a .safetensors file. */
export async function parseSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  const fail = (what: string): never => {
    throw new Error(`safetensors ${file}: ${what}`);
  };
  const fileSize = await source.size();
  if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);

  const lenBytes = await readExact(source, 0, 8);
  const view = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen > fileSize - 8) fail(`header length ${headerLen} is larger than the ${fileSize - 8} bytes after it (file truncated?)`);
  if (headerLen < 2) fail(`header length ${headerLen} is too small for a JSON object`);

  const headerBytes = await readExact(source, 8, headerLen);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('header is not a JSON object');

  const dataOffset = 8 + headerLen;
  const dataSize = fileSize - dataOffset;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | null = null;

  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as object)) if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${typeof v}`);
      metadata = entry as Record<string, string>;
      continue;
    }
    const bad = (what: string): never => fail(`tensor '${name}': ${what}`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) bad(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      bad(`data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) bad(`data_offsets [${begin}, ${end}] end before begin`);
    if (end > dataSize) bad(`data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data section (file truncated?)`);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = numel * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(expected)) bad(`shape ${JSON.stringify(shape)} is too large`);
    if (end - begin !== expected) {
      bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} shape [${(shape as number[]).join(', ')}] needs ${expected}`);
    }
    tensors.set(name, { name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], numel, begin: dataOffset + begin, end: dataOffset + end });
  }

  // Byte ranges must not overlap (zero-length tensors occupy nothing).
  const byStart = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!,
      cur = byStart[i]!;
    if (cur.begin < prev.end) {
      fail(
        `tensor '${cur.name}' data_offsets [${cur.begin - dataOffset}, ${cur.end - dataOffset}] overlap tensor '${prev.name}' [${prev.begin - dataOffset}, ${prev.end - dataOffset}]`,
      );
    }
  }
  return { file, dataOffset, tensors, metadata };
}

function tensorOf(header: SafetensorsHeader, name: string): TensorInfo {
  const info = header.tensors.get(name);
  if (!info) throw new Error(`safetensors ${header.file}: no tensor named '${name}'`);
  return info;
}

export interface ReadTensorOptions {
  /** Bytes per chunk (rounded down to whole elements); default 16 MiB. */
  chunkBytes?: number;
}

/**
 * Streams one tensor's raw little-endian bytes in chunks: `onChunk(bytes, offset)` gets each chunk and its byte
 * offset within the tensor, and is awaited before the next read, so a caller can copy chunks straight into a
 * GPU buffer without ever holding the whole tensor. Chunks hold whole elements only.
 */
export async function readTensor(
  source: ByteSource,
  header: SafetensorsHeader,
  name: string,
  onChunk: (bytes: Uint8Array, offset: number) => void | Promise<void>,
  options: ReadTensorOptions = {},
): Promise<void> {
  const info = tensorOf(header, name);
  const elemBytes = SAFETENSORS_DTYPE_BYTES[info.dtype];
  const chunkBytes = options.chunkBytes ?? 16 * 1024 * 1024;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < elemBytes) {
    throw new RangeError(`readTensor '${name}': chunkBytes must be an integer >= ${elemBytes} (one ${info.dtype} element), got ${chunkBytes}`);
  }
  const step = chunkBytes - (chunkBytes % elemBytes);
  const total = info.end - info.begin;
  for (let offset = 0; offset < total; offset += step) {
    const length = Math.min(step, total - offset);
    await onChunk(await readExact(source, info.begin + offset, length), offset);
  }
}

/** Reads a float tensor (F32, F16, BF16 or F64) into a Float32Array, for tests and the CPU reference. */
export async function readTensorF32(source: ByteSource, header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const info = tensorOf(header, name);
  const out = new Float32Array(info.numel);
  const elemBytes = SAFETENSORS_DTYPE_BYTES[info.dtype];
  const decode = elementDecoder(info.dtype, header.file, name);
  await readTensor(source, header, name, (bytes, offset) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const first = offset / elemBytes;
    for (let i = 0; i < bytes.byteLength / elemBytes; i++) out[first + i] = decode(view, i * elemBytes);
  });
  return out;
}

function elementDecoder(dtype: SafetensorsDType, file: string, name: string): (view: DataView, at: number) => number {
  switch (dtype) {
    case 'F32':
      return (v, at) => v.getFloat32(at, true);
    case 'F64':
      return (v, at) => v.getFloat64(at, true);
    case 'F16':
      return (v, at) => f16BitsToF32(v.getUint16(at, true));
    case 'BF16':
      return (v, at) => bf16BitsToF32(v.getUint16(at, true));
    default:
      throw new Error(`safetensors ${file}: tensor '${name}' has dtype ${dtype}; readTensorF32 reads F32, F16, BF16 and F64 only`);
  }
}
