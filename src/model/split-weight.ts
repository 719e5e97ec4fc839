/**
 * Weights too big for one storage binding. A device binds at most maxStorageBufferBindingSize bytes per binding
 * (and holds at most maxBufferSize per buffer), often 128 MiB, less than a 7B model's embedding or MLP weights.
 * Such a weight is stored as blocks of whole rows along dim 0 (a Linear weight's output rows, an embedding's
 * vocab rows), each block its own buffer within the limit; the split-aware ops (weight-ops.ts) run one
 * dispatch per block.
 */
import type { GpuContext } from '../gpu/context.ts';
import { bytesFor, type DType } from '../gpu/dtype.ts';
import { shapeString, type Tensor } from '../gpu/tensor.ts';

/** Rows [rowStart, rowStart + rows) of a weight. */
export interface RowRange {
  rowStart: number;
  rows: number;
}

/** One stored block: its row range and its tensor [rows, ...the weight's other dims]. */
export interface WeightBlock extends RowRange {
  tensor: Tensor;
}

/** A weight stored as row blocks, in row order, covering all its rows. */
export class SplitTensor {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly blocks: readonly WeightBlock[],
    /** The per-block byte limit it was split for (for error messages). */
    readonly limitBytes: number,
  ) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A weight as the ops take it: one tensor, or its row blocks. */
export type WeightRef = Tensor | SplitTensor;

/** The blocks of a weight: a whole tensor is one block of all its rows. */
export function weightBlocks(ref: WeightRef): readonly WeightBlock[] {
  if (ref instanceof SplitTensor) return ref.blocks;
  return [{ rowStart: 0, rows: ref.shape[0] ?? 1, tensor: ref }];
}

/** The largest binding a weight block may take on this device: min(maxStorageBufferBindingSize, maxBufferSize). */
export function deviceBindingLimit(ctx: GpuContext): number {
  const binding = ctx.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
  const buffer = ctx.limits.maxBufferSize ?? 256 * 2 ** 20;
  return Math.min(binding, buffer);
}

/**
 * Splits the rows of a tensor into as few blocks as fit `limitBytes` each, balanced (block sizes differ by at
 * most one row). A block's storage is rounded up to 4 bytes (a 16-bit block with an odd element count is
 * padded, as every 16-bit tensor is), and the limit is taken down to a multiple of 4, so every block's
 * binding, padding included, stays within it. One range when the whole tensor fits.
 */
export function planRowBlocks(name: string, dtype: DType, shape: readonly number[], limitBytes: number): RowRange[] {
  if (!Number.isFinite(limitBytes) || limitBytes < 4) throw new RangeError(`weight '${name}': the binding limit must be at least 4 bytes, got ${limitBytes}`);
  const rows = shape[0] ?? 1;
  const rowElems = shape.slice(1).reduce((a, b) => a * b, 1);
  const limit = Math.floor(limitBytes / 4) * 4;
  if (bytesFor(dtype, rows * rowElems) <= limit || rows === 0) return [{ rowStart: 0, rows }];
  const rowBytes = rowElems * elementBytes(dtype);
  const maxRows = Math.floor(limit / rowBytes);
  if (maxRows < 1) {
    throw new RangeError(
      `weight '${name}' ${shapeString(shape)} ${dtype}: one row takes ${Math.ceil(rowBytes / 4) * 4} bytes of storage, over the ` +
        `${limitBytes}-byte storage binding limit, so it cannot be split into row blocks`,
    );
  }
  const count = Math.ceil(rows / maxRows);
  const base = Math.floor(rows / count),
    extra = rows % count;
  const out: RowRange[] = [];
  for (let i = 0, rowStart = 0; i < count; i++) {
    const n = base + (i < extra ? 1 : 0);
    out.push({ rowStart, rows: n });
    rowStart += n;
  }
  return out;
}

/** Bytes per element as stored (16-bit types two per word, so a row's bytes are unpadded). */
export function elementBytes(dtype: DType): number {
  return dtype === 'f16' || dtype === 'bf16' ? 2 : 4;
}

/** Allocates the blocks of a plan: one tensor per range, shape [rows, ...shape.slice(1)] (the shape itself when whole). */
export function allocateBlocks(ctx: GpuContext, name: string, dtype: DType, shape: readonly number[], plan: readonly RowRange[]): WeightBlock[] {
  const blocks: WeightBlock[] = [];
  try {
    for (const { rowStart, rows } of plan) {
      if (plan.length === 1) blocks.push({ rowStart, rows, tensor: ctx.empty(dtype, shape, name) });
      else blocks.push({ rowStart, rows, tensor: ctx.empty(dtype, [rows, ...shape.slice(1)], `${name}[${rowStart}:${rowStart + rows}]`) });
    }
  } catch (e) {
    ctx.free(...blocks.map((b) => b.tensor));
    throw e;
  }
  return blocks;
}

/**
 * Streams a tensor's raw bytes, arriving in order in chunks of any size, into its row blocks. A chunk may
 * straddle blocks, and a block may start mid-word (16-bit rows of odd length): queue.writeBuffer needs 4-byte
 * offsets and sizes, so up to 3 bytes per block wait for the next chunk, and finish() writes the last
 * partial word with zero padding.
 */
export class BlockUploader {
  private readonly byteStarts: number[];
  private readonly carry = new Uint8Array(4);
  private carryLen = 0;
  /** Index of the block being written, and the bytes of it already on the GPU (a multiple of 4). */
  private block = 0;
  private written = 0;
  private received = 0;

  constructor(
    private readonly ctx: GpuContext,
    private readonly blocks: readonly WeightBlock[],
    /** Bytes per row in the source (unpadded). */
    private readonly rowBytes: number,
  ) {
    this.byteStarts = blocks.map((b) => b.rowStart * rowBytes);
  }

  /** Takes the next chunk: `offset` must be where the previous chunk ended. */
  write(bytes: Uint8Array, offset: number): void {
    if (offset !== this.received) throw new Error(`BlockUploader: chunk at byte ${offset}, expected ${this.received} (chunks must arrive in order)`);
    this.received += bytes.byteLength;
    let rest = bytes;
    while (rest.byteLength > 0) {
      const b = this.blocks[this.block];
      if (!b) throw new Error(`BlockUploader: ${this.received - this.totalBytes()} bytes past the end of the tensor`);
      const at = this.byteStarts[this.block]! + this.written + this.carryLen;
      const blockEnd = this.byteStarts[this.block]! + b.rows * this.rowBytes;
      const take = Math.min(rest.byteLength, blockEnd - at);
      this.append(b.tensor, rest.subarray(0, take));
      rest = rest.subarray(take);
      if (at + take === blockEnd) {
        this.flushCarry(b.tensor);
        this.block++;
        this.written = 0;
      }
    }
  }

  /** Checks every byte arrived (and writes the padding of a final partial word). */
  finish(): void {
    if (this.received !== this.totalBytes()) throw new Error(`BlockUploader: received ${this.received} of ${this.totalBytes()} bytes`);
    const b = this.blocks[this.block];
    if (b) this.flushCarry(b.tensor);
  }

  private totalBytes(): number {
    return this.blocks.reduce((s, b) => s + b.rows, 0) * this.rowBytes;
  }

  /** Appends bytes to the current block: whole words go straight to the GPU, a tail of < 4 bytes waits. */
  private append(t: Tensor, data: Uint8Array): void {
    let src = data;
    if (this.carryLen) {
      const k = Math.min(4 - this.carryLen, src.byteLength);
      this.carry.set(src.subarray(0, k), this.carryLen);
      this.carryLen += k;
      src = src.subarray(k);
      if (this.carryLen < 4) return;
      this.put(t, this.carry);
      this.carryLen = 0;
    }
    const whole = src.byteLength - (src.byteLength % 4);
    if (whole) this.put(t, src.subarray(0, whole));
    this.carry.set(src.subarray(whole));
    this.carryLen = src.byteLength - whole;
  }

  private flushCarry(t: Tensor): void {
    if (!this.carryLen) return;
    this.carry.fill(0, this.carryLen);
    this.put(t, this.carry);
    this.carryLen = 0;
  }

  /** writeBuffer copies the data at once, so the carry can be reused right after. */
  private put(t: Tensor, data: Uint8Array): void {
    this.ctx.device.queue.writeBuffer(t.buffer, t.byteOffset + this.written, data.buffer, data.byteOffset, data.byteLength);
    this.ctx.counters.bytesUploaded += data.byteLength;
    this.written += data.byteLength;
  }
}
