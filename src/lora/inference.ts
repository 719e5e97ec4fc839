/**
 * LoRA at inference time, unmerged: an adapted projection computes
 *   y = x·Wᵀ (+ bias) + s·(x·Aᵀ)·Bᵀ,   A [r, in], B [out, r]
 * as the base linear followed by two small matmuls: u = x·Aᵀ [M, r], then y += s·u·Bᵀ (accumulate, alpha = s).
 * The base weights are never touched, so adapters can be swapped between calls.
 *
 * The Transformer calls recordLoraDelta once per adapted projection with the adapters of the pass (PassAdapters):
 * each row (a sequence's token) may use its own adapter, and each run of rows with one adapter gets its own two
 * small matmuls (grouped-lora.ts), so K adapters cost K thin products, not K passes over the base.
 */
import type { DType } from '../gpu/dtype.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import type { MatmulVariant } from '../ops/matmul.ts';
import type { LoraAdapter } from './adapter.ts';
import { loraModules, type LoraTarget } from './config.ts';
import { adapterRuns, adapterWeights, groupedLoraForward, groupedLoraScratchSize, planGroupedLora, type AdapterRun } from './grouped-lora.ts';

/** Throws one error listing how an adapter's modules differ from what the model's projections call for. */
export function checkAdapterFits(model: ModelConfig, adapter: LoraAdapter): void {
  const want = loraModules(model, adapter.config.targets);
  const got = adapter.modules;
  const problems: string[] = [];
  if (got.length !== want.length)
    problems.push(`${got.length} adapted projections, the model has ${want.length} for targets ${adapter.config.targets.join(', ')}`);
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i]!,
      w = want[i]!;
    if (g.path !== w.path) problems.push(`module ${i} is ${g.path}, expected ${w.path}`);
    else if (g.inFeatures !== w.inFeatures || g.outFeatures !== w.outFeatures) {
      problems.push(`${g.path} is [out, in] = [${g.outFeatures}, ${g.inFeatures}] in the adapter, [${w.outFeatures}, ${w.inFeatures}] in the model`);
    }
  }
  if (problems.length) {
    throw new Error(
      `LoRA adapter does not fit this ${model.architecture} model (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.slice(0, 5).join('; ')}`,
    );
  }
}

/** The adapters of one forward pass over M rows (each row one adapter, or none), and its scratch. */
export interface PassAdapters {
  adapters: readonly LoraAdapter[];
  /** Maximal runs of rows with one adapter (rows with a negative index have none). */
  runs: AdapterRun[];
  /** u = x·Aᵀ of every run, [rows, rank] each, one after another: reused by every projection of the pass. */
  u: Tensor;
  rows: number;
}

/**
 * The adapters of a pass: row r uses adapters[rowAdapters[r]] (negative: none). Rows of one adapter should be
 * contiguous (fewer, larger products). `allocate` provides the scratch (freed with the pass's other activations).
 * Null when no row has an adapter.
 */
export function passAdapters(
  adapters: readonly LoraAdapter[],
  rowAdapters: ArrayLike<number>,
  allocate: (dtype: DType, shape: readonly number[], label: string) => Tensor,
): PassAdapters | null {
  const runs = adapterRuns(rowAdapters);
  for (const run of runs) if (!adapters[run.adapter]) throw new RangeError(`LoRA: row ${run.rowStart} uses adapter ${run.adapter} of ${adapters.length}`);
  if (!runs.length) return null;
  const size = groupedLoraScratchSize(runs, (g) => adapters[g]!.config.rank);
  return { adapters, runs, rows: rowAdapters.length, u: allocate('f32', [size], 'lora u') };
}

export interface LoraDeltaArgs {
  layer: number;
  target: LoraTarget;
  /** The projection's input, f32 [M, in]. */
  x: Tensor;
  /** Its output, f32 [M, out], already holding x·Wᵀ (+ bias): the delta is added to it. */
  y: Tensor;
  /** Matmul kernel of a run's two products by its row count ('skinny' / 'portable' keep f32 exact). */
  variant: (rows: number) => MatmulVariant;
}

/** Records y[run] += s·(x[run]·Aᵀ)·Bᵀ for every run whose adapter adapts this projection (grouped-lora.ts). */
export function recordLoraDelta(rec: CommandRecorder, pass: PassAdapters, d: LoraDeltaArgs): void {
  const inF = d.x.numel / pass.rows,
    out = d.y.numel / pass.rows;
  const plan = planGroupedLora(pass.runs, inF, out, adapterWeights(pass.adapters, d.layer, d.target));
  if (plan) groupedLoraForward(rec, plan, { x: d.x, y: d.y, u: pass.u, product: (rows) => ({ variant: d.variant(rows) }) });
}
