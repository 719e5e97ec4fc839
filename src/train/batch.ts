/**
 * Training batches: sequences packed back to back (no padding), each token with the id it must predict and a
 * loss weight. HF causal-LM semantics: with labels = input_ids (or -100 where masked), position t is trained to
 * predict labels[t + 1] of its own sequence; the last token of a sequence predicts nothing.
 */

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
}

export interface TrainSequence {
  ids: readonly number[];
  /** HF labels: the id to learn at each position, or IGNORE_INDEX (prompt tokens, padding); default ids. */
  labels?: readonly number[];
}

/** A batch built on the host: every field present, as plain arrays. */
export interface PackedTrainBatch {
  ids: number[];
  targets: number[];
  weights: number[];
  positions: number[];
  seqStart: number[];
}

/** Packs whole sequences into one batch with shifted targets (position t learns labels[t + 1]). */
export function packTrainingSequences(sequences: readonly TrainSequence[]): PackedTrainBatch {
  const ids: number[] = [], targets: number[] = [], weights: number[] = [], positions: number[] = [], seqStart: number[] = [];
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
    });
  });
  return { ids, targets, weights, positions, seqStart };
}

/** A validated batch as the GPU takes it. */
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
}

/** Checks every field (ids and targets in the vocabulary, packing, weights) and fills in the defaults. */
export function prepareBatch(batch: TrainBatch, vocab: number): PreparedBatch {
  const fail = (what: string): never => {
    throw new RangeError(`training batch: ${what}`);
  };
  const T = batch.ids.length;
  if (T < 1) fail('no tokens');
  for (const [name, a] of [['targets', batch.targets], ['weights', batch.weights], ['positions', batch.positions], ['seqStart', batch.seqStart]] as const) {
    if (a && a.length !== T) fail(`${T} ids but ${a.length} ${name}`);
  }
  if (!batch.targets) fail('targets are required');
  const ids = new Uint32Array(T), positions = new Uint32Array(T), seqStart = new Uint32Array(T), targets = new Uint32Array(T);
  const weights = new Float32Array(T);
  let weightSum = 0;
  for (let t = 0; t < T; t++) {
    const id = batch.ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) fail(`ids[${t}] = ${id} is outside [0, ${vocab})`);
    ids[t] = id;

    const start = batch.seqStart ? batch.seqStart[t]! : 0;
    // The attention kernels rely on back-to-back packing: a sequence starts here or continues the previous one.
    if (!(start === t || (t > 0 && start === seqStart[t - 1]))) fail(`seqStart[${t}] = ${start}: sequences must be packed back to back (seqStart[t] is t or seqStart[t - 1])`);
    seqStart[t] = start;
    const pos = batch.positions ? batch.positions[t]! : t - start;
    if (!Number.isInteger(pos) || pos < 0 || pos > 0xffffffff) fail(`positions[${t}] = ${pos} is not a non-negative integer`);
    positions[t] = pos;

    const w = batch.weights ? batch.weights[t]! : 1;
    if (!(w >= 0) || !Number.isFinite(w)) fail(`weights[${t}] = ${w}; weights must be finite and >= 0`);
    const target = batch.targets[t]!;
    if (target === IGNORE_INDEX) continue; // weight 0, target 0
    if (!Number.isInteger(target) || target < 0 || target >= vocab) fail(`targets[${t}] = ${target} is outside [0, ${vocab}) (use ${IGNORE_INDEX} to ignore a position)`);
    targets[t] = target;
    weights[t] = w;
    weightSum += weights[t]!;
  }
  return { tokens: T, ids, positions, seqStart, targets, weights, weightSum };
}
