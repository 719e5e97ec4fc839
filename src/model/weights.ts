/**
 * Checkpoint weights on the GPU: every tensor the config expects, streamed chunk by chunk from a safetensors
 * source straight into its GPU buffer (the host never holds a whole tensor), in the checkpoint's own dtype
 * (F32 stays f32, BF16 bf16, F16 f16: the kernels read 16-bit weights directly). A tensor larger than one
 * storage binding is stored as row blocks (split-weight.ts) for the split-aware ops in weight-ops.ts.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { DType } from '../gpu/dtype.ts';
import { shapeString, type Tensor } from '../gpu/tensor.ts';
import type { ByteSource } from './byte-source.ts';
import { checkWeights, expectedWeights, type ModelConfig } from './config.ts';
import { readTensor, type SafetensorsDType, type SafetensorsHeader } from './safetensors.ts';
import { allocateBlocks, BlockUploader, deviceBindingLimit, elementBytes, planRowBlocks, SplitTensor, weightBlocks, type WeightRef } from './split-weight.ts';

/** Bytes per streamed chunk by default. */
const CHUNK_BYTES = 8 * 1024 * 1024;

const GPU_DTYPE: Partial<Record<SafetensorsDType, DType>> = { F32: 'f32', BF16: 'bf16', F16: 'f16' };

export class ModelWeights {
  constructor(
    private readonly ctx: GpuContext,
    /** GPU weights keyed by HF name: a tensor, or row blocks for one over the binding limit. */
    readonly tensors: Map<string, WeightRef>,
    private readonly tiedEmbeddings: boolean,
  ) {}

  /** A weight stored whole; throws for one stored as row blocks (use ref() and the ops in weight-ops.ts). */
  get(name: string): Tensor {
    const t = this.ref(name);
    if (t instanceof SplitTensor) {
      throw new Error(
        `model weights: '${name}' ${shapeString(t.shape)} ${t.dtype} is stored as ${t.blocks.length} row blocks ` +
          `(over the ${t.limitBytes}-byte storage binding limit); use ref('${name}') with the split-aware ops of weight-ops.ts`,
      );
    }
    return t;
  }

  /** A weight whole or as row blocks, for the split-aware ops (weight-ops.ts: linear, embed). */
  ref(name: string): WeightRef {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`model weights: no tensor named '${name}'`);
    return t;
  }

  /** HF name of the LM head [vocab, hidden]: model.embed_tokens.weight itself when the embeddings are tied. */
  get lmHeadName(): string {
    return this.tiedEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }

  /** The LM head stored whole (throws when it is split: use lmHeadRef). */
  get lmHead(): Tensor {
    return this.get(this.lmHeadName);
  }

  /** The LM head, whole or as row blocks. */
  get lmHeadRef(): WeightRef {
    return this.ref(this.lmHeadName);
  }

  dispose(): void {
    for (const t of this.tensors.values()) this.ctx.free(...weightBlocks(t).map((b) => b.tensor));
    this.tensors.clear();
  }
}

/** A (sharded) checkpoint: one source and its parsed header per .safetensors file. */
export interface CheckpointShard {
  source: ByteSource;
  header: SafetensorsHeader;
}

export interface LoadWeightsOptions {
  /**
   * A tensor over this many bytes is stored as row blocks of at most this many bytes each. Default (and upper
   * bound): the device's min(maxStorageBufferBindingSize, maxBufferSize); tests set it small to split tiny models.
   */
  maxBindingBytes?: number;
  /** Bytes read from the source per chunk (default 8 MiB); any size works, chunks may straddle row blocks. */
  chunkBytes?: number;
}

/**
 * Loads every weight the config expects (extra tensors in the file are ignored) after checking names, shapes and
 * dtypes. Pass one source and header, or the shards of a sharded checkpoint (and no header).
 */
export async function loadWeights(
  ctx: GpuContext,
  config: ModelConfig,
  source: ByteSource | CheckpointShard[],
  header?: SafetensorsHeader,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const shards: CheckpointShard[] = Array.isArray(source) ? source : [{ source, header: header! }];
  if (!Array.isArray(source) && !header) throw new TypeError('loadWeights: pass the parsed safetensors header with a single source');
  const limit = Math.min(options.maxBindingBytes ?? Infinity, deviceBindingLimit(ctx));
  checkWeights(
    config,
    shards.map((s) => s.header),
  );
  const tensors = new Map<string, WeightRef>();
  try {
    for (const { name, shape } of expectedWeights(config)) {
      const shard = shards.find((s) => s.header.tensors.has(name))!;
      const dtype = GPU_DTYPE[shard.header.tensors.get(name)!.dtype]!;
      const plan = planRowBlocks(name, dtype, shape, limit);
      const blocks = allocateBlocks(ctx, name, dtype, shape, plan);
      tensors.set(name, plan.length === 1 ? blocks[0]!.tensor : new SplitTensor(name, dtype, shape, blocks, limit));
      const uploader = new BlockUploader(ctx, blocks, shape.slice(1).reduce((a, b) => a * b, 1) * elementBytes(dtype));
      await readTensor(shard.source, shard.header, name, (bytes, offset) => uploader.write(bytes, offset), { chunkBytes: options.chunkBytes ?? CHUNK_BYTES });
      uploader.finish();
    }
  } catch (e) {
    for (const t of tensors.values()) ctx.free(...weightBlocks(t).map((b) => b.tensor));
    throw e;
  }
  return new ModelWeights(ctx, tensors, config.tieWordEmbeddings);
}
