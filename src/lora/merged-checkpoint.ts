/**
 * A base model with a LoRA adapter merged in, as the bytes of a Hugging Face checkpoint: safetensors files (one
 * model.safetensors, or shards model-0000i-of-0000n.safetensors with model.safetensors.index.json) that transformers,
 * vLLM and this engine load as a plain model. Runtime-free: every tensor is an async stream of byte chunks
 * (adapted projections merged on the GPU block by block, the rest copied from the base checkpoint), so a writer
 * (runtime-node/export-model.ts) holds one block at a time, never the model.
 */
import type { GpuContext } from '../gpu/context.ts';
import { bf16BitsToF32, f16BitsToF32 } from '../gpu/dtype.ts';
import { readExact, type ByteSource } from '../model/byte-source.ts';
import { checkWeights, expectedWeights, type ModelConfig } from '../model/config.ts';
import { readTensor, SAFETENSORS_DTYPE_BYTES, type SafetensorsDType, type TensorInfo } from '../model/safetensors.ts';
import { encodeFloats } from '../model/safetensors-writer.ts';
import {
  allocateBlocks,
  BlockUploader,
  deviceBindingLimit,
  elementBytes,
  planRowBlocks,
  SplitTensor,
  weightBlocks,
  type WeightRef,
} from '../model/split-weight.ts';
import type { CheckpointShard } from '../model/weights.ts';
import type { LoraAdapter } from './adapter.ts';
import { checkAdapterFits } from './inference.ts';
import { recordMergedRows } from './merge.ts';

/** Float dtypes a merged checkpoint can be written in. */
export type CheckpointDType = 'F32' | 'BF16' | 'F16';

/** One tensor of a checkpoint being written: its header entry and its bytes, streamed. */
export interface CheckpointTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
  /** The tensor's little-endian bytes in order, in chunks; call once. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** The on-disk layout of one safetensors file: the header bytes and the order its tensors' data follows in. */
export interface SafetensorsLayout {
  /** 8-byte little-endian JSON length, then the JSON header padded with spaces to a multiple of 8 bytes. */
  header: Uint8Array;
  /** Indices into the entries, in data order (descending element size, stable: as writeSafetensors lays them out). */
  order: number[];
  /** Bytes after the header. */
  dataBytes: number;
}

/** The header of a safetensors file whose data is written afterwards; byte-identical to writeSafetensors' layout. */
export function safetensorsLayout(
  entries: readonly { name: string; dtype: SafetensorsDType; shape: readonly number[] }[],
  metadata: Record<string, string> = { format: 'pt' },
): SafetensorsLayout {
  const elem = (i: number) => SAFETENSORS_DTYPE_BYTES[entries[i]!.dtype];
  const order = entries.map((_, i) => i).sort((x, y) => elem(y) - elem(x) || x - y);
  const json: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const i of order) {
    const e = entries[i]!;
    const bytes = e.shape.reduce((a, b) => a * b, 1) * elem(i);
    json[e.name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.byteLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  header.set(text, 8);
  return { header, order, dataBytes: offset };
}

/** One file of a checkpoint: its name, header and tensors in data order. */
export interface CheckpointFile {
  name: string;
  header: Uint8Array;
  tensors: CheckpointTensor[];
  /** Total file size. */
  byteLength: number;
}

export interface CheckpointPlan {
  files: CheckpointFile[];
  /** model.safetensors.index.json text when the checkpoint is sharded, else null. */
  index: string | null;
}

/** transformers' default max_shard_size ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

/**
 * Splits tensors into shard files as transformers' save_pretrained does: in order, a new shard when the next
 * tensor would take the current one over maxShardBytes (a tensor larger than that gets a shard of its own). One
 * shard is model.safetensors with no index; several are model-0000i-of-0000n.safetensors plus the index.
 */
export function planCheckpoint(tensors: readonly CheckpointTensor[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): CheckpointPlan {
  if (!(maxShardBytes > 0)) throw new RangeError(`checkpoint: the shard size must be positive, got ${maxShardBytes}`);
  const groups: CheckpointTensor[][] = [];
  let size = Infinity;
  for (const t of tensors) {
    if (size + t.byteLength > maxShardBytes) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1]!.push(t);
    size += t.byteLength;
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const files = groups.map((group, i): CheckpointFile => {
    const layout = safetensorsLayout(group);
    return {
      name: n === 1 ? 'model.safetensors' : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`,
      header: layout.header,
      tensors: layout.order.map((j) => group[j]!),
      byteLength: layout.header.byteLength + layout.dataBytes,
    };
  });
  if (n <= 1) return { files, index: null };
  const weightMap: Record<string, string> = {};
  for (const f of files) for (const t of f.tensors) weightMap[t.name] = f.name;
  const sorted = Object.fromEntries(
    Object.keys(weightMap)
      .sort()
      .map((k) => [k, weightMap[k]!]),
  );
  const totalSize = tensors.reduce((s, t) => s + t.byteLength, 0);
  return { files, index: `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2)}\n` };
}

const TORCH_DTYPE: Record<CheckpointDType, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

/** config.json for the merged model: unchanged, or with torch_dtype (and dtype, where present) set to the export dtype. */
export function mergedConfigJson(configText: string, dtype?: CheckpointDType): string {
  if (!dtype) return configText;
  const config = JSON.parse(configText) as Record<string, unknown>;
  config.torch_dtype = TORCH_DTYPE[dtype];
  if ('dtype' in config) config.dtype = TORCH_DTYPE[dtype];
  return `${JSON.stringify(config, null, 2)}\n`;
}

export interface MergedCheckpointOptions {
  /** Dtype of every tensor; default: each tensor keeps its dtype in the base checkpoint. */
  dtype?: CheckpointDType;
  /** Merged rows per GPU readback, in f32 bytes (default 64 MiB, at most the device's binding limit). */
  blockBytes?: number;
  /** Bytes per read from the base checkpoint (default 16 MiB). */
  chunkBytes?: number;
}

const GPU_DTYPE = { F32: 'f32', BF16: 'bf16', F16: 'f16' } as const;

/**
 * The tensors of the merged model, in the base's config order (expectedWeights): adapted projections are
 * W + s·B·A, computed on the GPU in f32 (one base weight uploaded at a time, merged rows read back block by
 * block) and rounded once to the output dtype (nearest even); every other tensor is copied from the base
 * checkpoint (converted when a dtype is asked for). The adapter must stay alive until every stream is consumed.
 */
export function mergedCheckpointTensors(
  ctx: GpuContext,
  config: ModelConfig,
  shards: readonly CheckpointShard[],
  adapter: LoraAdapter,
  options: MergedCheckpointOptions = {},
): CheckpointTensor[] {
  checkAdapterFits(config, adapter);
  checkWeights(
    config,
    shards.map((s) => s.header),
  );
  if (options.dtype !== undefined && !(options.dtype in GPU_DTYPE))
    throw new Error(`merged checkpoint: dtype must be F32, BF16 or F16, got ${JSON.stringify(options.dtype)}`);
  const limit = deviceBindingLimit(ctx);
  const blockBytes = Math.min(options.blockBytes ?? 64 * 2 ** 20, limit);
  const chunkBytes = options.chunkBytes ?? 16 * 2 ** 20;
  const adapted = new Map(adapter.modules.map((m) => [`${m.path}.weight`, m]));
  return expectedWeights(config).map(({ name, shape }) => {
    const shard = shards.find((s) => s.header.tensors.has(name))!;
    const info = shard.header.tensors.get(name)!;
    const dtype = options.dtype ?? (info.dtype as CheckpointDType);
    const byteLength = info.numel * SAFETENSORS_DTYPE_BYTES[dtype];
    const module = adapted.get(name);
    if (!module) return { name, dtype, shape, byteLength, chunks: () => copiedChunks(shard.source, info, dtype, chunkBytes) };
    const merge = async function* (): AsyncGenerator<Uint8Array> {
      const base = await uploadWeight(ctx, shard, info, limit, chunkBytes);
      const pair = adapter.get(module.layer, module.target)!;
      const rec = ctx.recorder();
      try {
        for (const range of planRowBlocks(name, 'f32', shape, blockBytes)) {
          const out = ctx.empty('f32', [range.rows, module.inFeatures], `${name} merged rows`);
          const scratch = [out];
          try {
            scratch.push(...recordMergedRows(rec, base, pair, adapter.scale, range, out));
            rec.submit();
            const values = await ctx.readF32(out);
            yield encodeFloats(values, dtype);
          } finally {
            ctx.free(...scratch);
          }
        }
      } finally {
        rec.dispose();
        ctx.free(...weightBlocks(base).map((b) => b.tensor));
      }
    };
    return { name, dtype, shape, byteLength, chunks: merge };
  });
}

/** A base tensor onto the GPU in its own dtype (row blocks when over the binding limit). */
async function uploadWeight(ctx: GpuContext, shard: CheckpointShard, info: TensorInfo, limit: number, chunkBytes: number): Promise<WeightRef> {
  const dtype = GPU_DTYPE[info.dtype as CheckpointDType];
  const plan = planRowBlocks(info.name, dtype, info.shape, limit);
  const blocks = allocateBlocks(ctx, info.name, dtype, info.shape, plan);
  try {
    const uploader = new BlockUploader(ctx, blocks, info.shape.slice(1).reduce((a, b) => a * b, 1) * elementBytes(dtype));
    await readTensor(shard.source, shard.header, info.name, (bytes, offset) => uploader.write(bytes, offset), { chunkBytes });
    uploader.finish();
  } catch (e) {
    ctx.free(...blocks.map((b) => b.tensor));
    throw e;
  }
  return plan.length === 1 ? blocks[0]!.tensor : new SplitTensor(info.name, dtype, info.shape, blocks, limit);
}

/** A base tensor's bytes as they are in the checkpoint, or converted to `dtype` (16-bit values rounded to nearest even). */
async function* copiedChunks(source: ByteSource, info: TensorInfo, dtype: CheckpointDType, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const elem = SAFETENSORS_DTYPE_BYTES[info.dtype];
  const step = Math.max(elem, chunkBytes - (chunkBytes % elem));
  for (let at = info.begin; at < info.end; at += step) {
    const bytes = await readExact(source, at, Math.min(step, info.end - at));
    yield info.dtype === dtype ? bytes : encodeFloats(decodeFloats(bytes, info.dtype as CheckpointDType), dtype);
  }
}

function decodeFloats(bytes: Uint8Array, dtype: CheckpointDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / SAFETENSORS_DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] =
      dtype === 'F32'
        ? view.getFloat32(4 * i, true)
        : dtype === 'BF16'
          ? bf16BitsToF32(view.getUint16(2 * i, true))
          : f16BitsToF32(view.getUint16(2 * i, true));
  }
  return out;
}
