/**
 * Checkpoint weights on the GPU: every tensor the config expects, streamed chunk by chunk from a safetensors
 * source straight into its GPU buffer (the host never holds a whole tensor), in the checkpoint's own dtype
 * (F32 stays f32, BF16 bf16, F16 f16: the kernels read 16-bit weights directly).
 */
import type { GpuContext } from '../gpu/context.ts';
import type { DType } from '../gpu/dtype.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ByteSource } from './byte-source.ts';
import { checkWeights, expectedWeights, type ModelConfig } from './config.ts';
import { readTensor, type SafetensorsDType, type SafetensorsHeader } from './safetensors.ts';

/** Bytes per streamed chunk: a multiple of 4, as queue.writeBuffer requires for offsets and sizes. */
const CHUNK_BYTES = 8 * 1024 * 1024;

const GPU_DTYPE: Partial<Record<SafetensorsDType, DType>> = { F32: 'f32', BF16: 'bf16', F16: 'f16' };

export class ModelWeights {
  constructor(
    private readonly ctx: GpuContext,
    /** GPU tensors keyed by HF name. */
    readonly tensors: Map<string, Tensor>,
    private readonly tiedEmbeddings: boolean,
  ) {}

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`model weights: no tensor named '${name}'`);
    return t;
  }

  /** The LM head [vocab, hidden]: model.embed_tokens.weight itself when the embeddings are tied. */
  get lmHead(): Tensor {
    return this.get(this.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  }

  dispose(): void {
    this.ctx.free(...this.tensors.values());
    this.tensors.clear();
  }
}

/** A (sharded) checkpoint: one source and its parsed header per .safetensors file. */
export interface CheckpointShard {
  source: ByteSource;
  header: SafetensorsHeader;
}

/**
 * Loads every weight the config expects (extra tensors in the file are ignored) after checking names, shapes and
 * dtypes. Pass one source and header, or the shards of a sharded checkpoint.
 */
export async function loadWeights(
  ctx: GpuContext,
  config: ModelConfig,
  source: ByteSource | CheckpointShard[],
  header?: SafetensorsHeader,
): Promise<ModelWeights> {
  const shards: CheckpointShard[] = Array.isArray(source) ? source : [{ source, header: header! }];
  if (!Array.isArray(source) && !header) throw new TypeError('loadWeights: pass the parsed safetensors header with a single source');
  checkWeights(config, shards.map((s) => s.header));
  const tensors = new Map<string, Tensor>();
  try {
    for (const { name, shape } of expectedWeights(config)) {
      const shard = shards.find((s) => s.header.tensors.has(name))!;
      const info = shard.header.tensors.get(name)!;
      const tensor = ctx.empty(GPU_DTYPE[info.dtype]!, shape, name);
      tensors.set(name, tensor);
      await readTensor(shard.source, shard.header, name, (bytes, offset) => writeChunk(ctx, tensor, bytes, offset), { chunkBytes: CHUNK_BYTES });
    }
  } catch (e) {
    ctx.free(...tensors.values());
    throw e;
  }
  return new ModelWeights(ctx, tensors, config.tieWordEmbeddings);
}

/** Copies one chunk of raw little-endian bytes to its place in the tensor; a 16-bit tensor's odd tail is padded to 4 bytes. */
function writeChunk(ctx: GpuContext, tensor: Tensor, bytes: Uint8Array, offset: number): void {
  let data = bytes;
  if (data.byteLength % 4 !== 0) {
    data = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    data.set(bytes);
  }
  ctx.device.queue.writeBuffer(tensor.buffer, tensor.byteOffset + offset, data.buffer, data.byteOffset, data.byteLength);
}
