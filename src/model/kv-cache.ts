/**
 * Keys (after RoPE) and values of every layer for one or more sequences, so decoding a token costs one row of
 * projections instead of the whole prefix. Each sequence owns a slot of `slotRows` rows (>= maxT); a layer's
 * keys are one buffer [slots * slotRows, Hkv, D] f32 (values likewise), so one decode step can attend every
 * sequence from the same binding (see attentionDecode). Slot starts are aligned to the storage-offset alignment
 * so a slot can also be bound on its own (chunked prefill).
 */
import type { GpuContext } from '../gpu/context.ts';
import { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Floats and bytes per cache row, rows per slot (maxT rounded up to the offset alignment), and the byte limit of a layer's buffer. */
function cacheLayout(ctx: GpuContext, config: ModelConfig, maxT: number) {
  const rowElems = config.numKvHeads * config.headDim;
  const rowBytes = rowElems * 4;
  const align = ctx.limits.minStorageBufferOffsetAlignment ?? 256;
  const rowsPerAlign = align / gcd(align, rowBytes);
  const slotRows = Math.ceil(maxT / rowsPerAlign) * rowsPerAlign;
  const limit = Math.min(ctx.limits.maxStorageBufferBindingSize ?? Infinity, ctx.limits.maxBufferSize ?? Infinity);
  return { rowElems, rowBytes, slotRows, limit };
}

export class KvCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** Positions filled so far in each slot: a slot's next token goes at lengths[slot]. */
  readonly lengths: number[];
  /** Rows reserved per slot: maxT rounded up so every slot starts on an aligned byte offset. */
  readonly slotRows: number;
  /** Floats per cache row (Hkv * D). */
  readonly rowElems: number;

  constructor(
    private readonly ctx: GpuContext,
    config: ModelConfig,
    /** Positions per sequence. */
    readonly maxT: number,
    /** Sequences held at once. */
    readonly slots = 1,
  ) {
    if (!Number.isInteger(maxT) || maxT < 1) throw new RangeError(`KvCache: maxT must be a positive integer, got ${maxT}`);
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`KvCache: slots must be a positive integer, got ${slots}`);
    const { rowElems, rowBytes, slotRows, limit } = cacheLayout(ctx, config, maxT);
    this.rowElems = rowElems;
    this.slotRows = slotRows;
    const bytes = slots * slotRows * rowBytes;
    if (bytes > limit) {
      throw new RangeError(
        `KvCache: ${slots} sequence(s) of ${maxT} positions need ${bytes} bytes per layer, over this device's binding limit of ${limit} bytes; ` +
          `generate fewer sequences at once or fewer tokens`,
      );
    }
    const shape = [slots * this.slotRows, config.numKvHeads, config.headDim];
    this.lengths = new Array<number>(slots).fill(0);
    this.keys = [];
    this.values = [];
    try {
      for (let l = 0; l < config.numLayers; l++) {
        this.keys.push(ctx.empty('f32', shape, `kv.k${l}`));
        this.values.push(ctx.empty('f32', shape, `kv.v${l}`));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** How many slots of maxT positions one layer's buffer can hold within the device's limits (0: not even one). */
  static slotsThatFit(ctx: GpuContext, config: ModelConfig, maxT: number): number {
    const { rowBytes, slotRows, limit } = cacheLayout(ctx, config, maxT);
    return Math.floor(limit / (slotRows * rowBytes));
  }

  /** Rows in a layer's buffer (all slots). */
  get rows(): number {
    return this.slots * this.slotRows;
  }

  /** Positions filled in slot 0 (the single-sequence view). */
  get length(): number {
    return this.lengths[0]!;
  }

  set length(n: number) {
    this.lengths[0] = n;
  }

  /** The buffer row of position `pos` of a slot. */
  row(slot: number, pos: number): number {
    return slot * this.slotRows + pos;
  }

  /** Positions [0, rows) of one slot of a layer's keys or values, as a tensor that binds only them. */
  view(kind: 'keys' | 'values', layer: number, slot: number, rows: number): Tensor {
    const t = this[kind][layer]!;
    return new Tensor(t.buffer, 'f32', [rows, ...t.shape.slice(1)], t.byteOffset + this.row(slot, 0) * this.rowElems * 4);
  }

  /** Throws unless `tokens` more positions fit in the slot. */
  ensureRoom(tokens: number, slot = 0): void {
    this.checkSlot(slot);
    if (this.lengths[slot]! + tokens > this.maxT) {
      throw new RangeError(`KvCache: ${tokens} more token(s) after ${this.lengths[slot]} exceed the cache's ${this.maxT} positions`);
    }
  }

  checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) throw new RangeError(`KvCache: slot ${slot} outside [0, ${this.slots})`);
  }

  /** Forgets a slot's sequence, or every slot's (the buffers are kept for the next ones). */
  reset(slot?: number): void {
    if (slot === undefined) this.lengths.fill(0);
    else {
      this.checkSlot(slot);
      this.lengths[slot] = 0;
    }
  }

  dispose(): void {
    this.ctx.free(...this.keys, ...this.values);
    this.keys.length = 0;
    this.values.length = 0;
  }
}
