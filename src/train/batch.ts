/**
 * Training batches: sequences packed back to back (no padding), each token with the id it must predict and a
 * loss weight. HF causal-LM semantics: with labels = input_ids (or -100 where masked), position t is trained to
 * predict labels[t + 1] of its own sequence; the last token of a sequence predicts nothing.
 * With several adapters trained in the same pass, every sequence names its adapter; the GPU batch has the
 * sequences regrouped so each adapter's rows are one contiguous segment (grouped LoRA works per segment).
 */
import type { AdapterRun } from '../lora/grouped-lora.ts';

/** HF's ignore_index: a label or target with this value is not trained on. */
export const IGNORE_INDEX = -100;

export interface TrainBatch {
  ids: ArrayLike<number>;
  /** The token id each position must predict, or IGNORE_INDEX. */
  targets: ArrayLike<number>;
  /** Loss weight per position (>= 0; 0 masks it); default 1. The loss is sum(w·loss) / sum(w). */
  weights?: ArrayLike<number>;
  /** Each token's position within its own sequence; default t - seqStart[t]. */
  positions?: ArrayLike<number>;
  /** Index of the first token of each token's sequence (sequences back to back); default 0 (one sequence). */
  seqStart?: ArrayLike<number>;
  /** Per token: the index of the adapter its sequence trains (the same for every token of a sequence); default 0. */
  adapters?: ArrayLike<number>;
}

export interface TrainSequence {
  ids: readonly number[];
  /** HF labels: the id to learn at each position, or IGNORE_INDEX (prompt tokens, padding); default ids. */
  labels?: readonly number[];
  /** The adapter this sequence trains (several adapters in one pass); default 0. */
  adapter?: number;
}

/** A batch built on the host: every field present, as plain arrays. */
export interface PackedTrainBatch {
  ids: number[];
  targets: number[];
  weights: number[];
  positions: number[];
  seqStart: number[];
  /** Each token's adapter index (packTrainingSequences always fills it). */
  adapters?: number[];
}

/** Packs whole sequences into one batch with shifted targets (position t learns labels[t + 1]). */
export function packTrainingSequences(sequences: readonly TrainSequence[]): PackedTrainBatch {
  const ids: number[] = [],
    targets: number[] = [],
    weights: number[] = [],
    positions: number[] = [],
    seqStart: number[] = [];
  const adapters: number[] = [];
  sequences.forEach((seq, s) => {
    const labels = seq.labels ?? seq.ids;
    if (labels.length !== seq.ids.length) throw new RangeError(`packTrainingSequences: sequence ${s} has ${seq.ids.length} ids but ${labels.length} labels`);
    const start = ids.length;
    seq.ids.forEach((id, i) => {
      const next = i + 1 < labels.length ? labels[i + 1]! : IGNORE_INDEX;
      ids.push(id);
      targets.push(next);
      weights.push(next === IGNORE_INDEX ? 0 : 1);
      positions.push(i);
      seqStart.push(start);
      adapters.push(seq.adapter ?? 0);
    });
  });
  return { ids, targets, weights, positions, seqStart, adapters };
}

/** A validated batch as the GPU takes it: sequences grouped by adapter (each adapter's rows contiguous). */
export interface PreparedBatch {
  tokens: number;
  ids: Uint32Array;
  positions: Uint32Array;
  seqStart: Uint32Array;
  /** Ignored positions hold 0 (their weight is 0). */
  targets: Uint32Array;
  weights: Float32Array;
  /** sum of the (f32) weights, in f64. */
  weightSum: number;
  /** Each row's adapter index. */
  adapters: Uint32Array;
  /** One segment of rows per adapter that has any, in adapter order. */
  runs: AdapterRun[];
  /** Row r here is row sourceRow[r] of the caller's batch (whole sequences move; identity for one adapter). */
  sourceRow: Uint32Array;
  /** Per adapter: the sum of its rows' (f32) weights in f64, and its row count. */
  adapterWeightSums: number[];
  adapterTokens: number[];
}

/**
 * Checks every field (ids and targets in the vocabulary, packing, weights, adapter indices below adapterCount)
 * and fills in the defaults; then regroups whole sequences by adapter (stable: each adapter's sequences keep
 * their order). Errors name positions of the caller's batch.
 */
export function prepareBatch(batch: TrainBatch, vocab: number, adapterCount = 1): PreparedBatch {
  const fail = (what: string): never => {
    throw new RangeError(`training batch: ${what}`);
  };
  const T = batch.ids.length;
  if (T < 1) fail('no tokens');
  for (const [name, a] of [
    ['targets', batch.targets],
    ['weights', batch.weights],
    ['positions', batch.positions],
    ['seqStart', batch.seqStart],
    ['adapters', batch.adapters],
  ] as const) {
    if (a && a.length !== T) fail(`${T} ids but ${a.length} ${name}`);
  }
  if (!batch.targets) fail('targets are required');
  const ids = new Uint32Array(T),
    positions = new Uint32Array(T),
    seqStart = new Uint32Array(T),
    targets = new Uint32Array(T);
  const weights = new Float32Array(T),
    adapters = new Uint32Array(T);
  let weightSum = 0;
  for (let t = 0; t < T; t++) {
    const id = batch.ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) fail(`ids[${t}] = ${id} is outside [0, ${vocab})`);
    ids[t] = id;

    const start = batch.seqStart ? batch.seqStart[t]! : 0;
    // The attention kernels rely on back-to-back packing: a sequence starts here or continues the previous one.
    if (!(start === t || (t > 0 && start === seqStart[t - 1])))
      fail(`seqStart[${t}] = ${start}: sequences must be packed back to back (seqStart[t] is t or seqStart[t - 1])`);
    seqStart[t] = start;
    const pos = batch.positions ? batch.positions[t]! : t - start;
    if (!Number.isInteger(pos) || pos < 0 || pos > 0xffffffff) fail(`positions[${t}] = ${pos} is not a non-negative integer`);
    positions[t] = pos;

    const g = batch.adapters ? batch.adapters[t]! : 0;
    if (!Number.isInteger(g) || g < 0 || g >= adapterCount) fail(`adapters[${t}] = ${g} is outside [0, ${adapterCount}) (one index per adapter of the model)`);
    if (start !== t && g !== adapters[t - 1])
      fail(`adapters[${t}] = ${g} but the sequence starting at ${start} has adapter ${adapters[t - 1]} (one adapter per sequence)`);
    adapters[t] = g;

    const w = batch.weights ? batch.weights[t]! : 1;
    if (!(w >= 0) || !Number.isFinite(w)) fail(`weights[${t}] = ${w}; weights must be finite and >= 0`);
    const target = batch.targets[t]!;
    if (target === IGNORE_INDEX) continue; // weight 0, target 0
    if (!Number.isInteger(target) || target < 0 || target >= vocab)
      fail(`targets[${t}] = ${target} is outside [0, ${vocab}) (use ${IGNORE_INDEX} to ignore a position)`);
    targets[t] = target;
    weights[t] = w;
    weightSum += weights[t]!;
  }
  return groupByAdapter({ tokens: T, ids, positions, seqStart, targets, weights, adapters }, weightSum, adapterCount);
}

type Rows = Pick<PreparedBatch, 'tokens' | 'ids' | 'positions' | 'seqStart' | 'targets' | 'weights' | 'adapters'>;

/** Moves whole sequences so each adapter's rows are contiguous, in adapter order (stable within an adapter). */
function groupByAdapter(b: Rows, weightSum: number, adapterCount: number): PreparedBatch {
  const T = b.tokens;
  const starts: number[] = [];
  for (let t = 0; t < T; t++) if (b.seqStart[t] === t) starts.push(t);
  const order = starts.map((start, i) => ({ start, end: starts[i + 1] ?? T, adapter: b.adapters[start]! }));
  order.sort((x, y) => x.adapter - y.adapter || x.start - y.start); // Array.prototype.sort is stable; the tiebreak says so anyway
  const sourceRow = new Uint32Array(T);
  const seqStart = new Uint32Array(T);
  let r = 0;
  for (const seq of order) {
    const first = r;
    for (let t = seq.start; t < seq.end; t++, r++) {
      sourceRow[r] = t;
      seqStart[r] = first;
    }
  }
  const pick = <A extends Uint32Array | Float32Array>(src: A, dst: A): A => {
    for (let i = 0; i < T; i++) dst[i] = src[sourceRow[i]!]!;
    return dst;
  };
  const adapters = pick(b.adapters, new Uint32Array(T));
  const weights = pick(b.weights, new Float32Array(T));
  const adapterWeightSums = new Array<number>(adapterCount).fill(0);
  const adapterTokens = new Array<number>(adapterCount).fill(0);
  for (let i = 0; i < T; i++) {
    adapterWeightSums[adapters[i]!]! += weights[i]!;
    adapterTokens[adapters[i]!]!++;
  }
  const runs: AdapterRun[] = [];
  for (let g = 0, rowStart = 0; g < adapterCount; g++) {
    if (adapterTokens[g]) runs.push({ adapter: g, rowStart, rows: adapterTokens[g]! });
    rowStart += adapterTokens[g]!;
  }
  return {
    tokens: T,
    ids: pick(b.ids, new Uint32Array(T)),
    positions: pick(b.positions, new Uint32Array(T)),
    seqStart,
    targets: pick(b.targets, new Uint32Array(T)),
    weights,
    weightSum,
    adapters,
    runs,
    sourceRow,
    adapterWeightSums,
    adapterTokens,
  };
}
