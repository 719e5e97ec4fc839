/**
 * Keys (after RoPE) and values of every layer for the positions [0, maxT) of ONE sequence, so decoding a token
 * costs one row of projections instead of the whole prefix. Layout per layer: [maxT, Hkv, D] f32.
 */
import type { GpuContext } from '../gpu/context.ts';
import { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';

export class KvCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** Positions filled so far: the next token goes at this position. */
  length = 0;
  private readonly rowElems: number;

  constructor(
    private readonly ctx: GpuContext,
    config: ModelConfig,
    readonly maxT: number,
  ) {
    if (!Number.isInteger(maxT) || maxT < 1) throw new RangeError(`KvCache: maxT must be a positive integer, got ${maxT}`);
    const shape = [maxT, config.numKvHeads, config.headDim];
    this.rowElems = config.numKvHeads * config.headDim;
    this.keys = Array.from({ length: config.numLayers }, (_, l) => ctx.empty('f32', shape, `kv.k${l}`));
    this.values = Array.from({ length: config.numLayers }, (_, l) => ctx.empty('f32', shape, `kv.v${l}`));
  }

  /** Rows [0, rows) of a layer's keys or values, as a tensor that binds only them. */
  view(kind: 'keys' | 'values', layer: number, rows: number): Tensor {
    const t = this[kind][layer]!;
    return new Tensor(t.buffer, 'f32', [rows, ...t.shape.slice(1)], t.byteOffset);
  }

  /** Rows [start, start + rows) of a layer's keys or values: where new tokens' k/v are copied to. */
  slice(kind: 'keys' | 'values', layer: number, start: number, rows: number): Tensor {
    const t = this[kind][layer]!;
    return new Tensor(t.buffer, 'f32', [rows, ...t.shape.slice(1)], t.byteOffset + start * this.rowElems * 4);
  }

  /** Throws unless `tokens` more positions fit. */
  ensureRoom(tokens: number): void {
    if (this.length + tokens > this.maxT) {
      throw new RangeError(`KvCache: ${tokens} more token(s) after ${this.length} exceed the cache's ${this.maxT} positions`);
    }
  }

  /** Forgets the sequence (the buffers are kept for the next one). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    this.ctx.free(...this.keys, ...this.values);
    this.keys.length = 0;
    this.values.length = 0;
  }
}
