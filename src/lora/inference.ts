/**
 * LoRA at inference time, unmerged: an adapted projection computes
 *   y = x·Wᵀ (+ bias) + s·(x·Aᵀ)·Bᵀ,   A [r, in], B [out, r]
 * as the base linear followed by two small matmuls: u = x·Aᵀ [M, r], then y += s·u·Bᵀ (accumulate, alpha = s).
 * The base weights are never touched, so adapters can be swapped between calls.
 *
 * The Transformer calls recordLoraDelta once per adapted projection with the adapters of the pass (PassAdapters).
 * Today every row of a pass uses one adapter. Giving each sequence its own adapter (a grouped LoRA matmul over the
 * rows of each adapter) changes PassAdapters and recordLoraDelta only, not the transformer.
 */
import type { DType } from '../gpu/dtype.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import { matmul, type MatmulVariant } from '../ops/matmul.ts';
import type { LoraAdapter } from './adapter.ts';
import { loraModules, type LoraTarget } from './config.ts';

/** Throws one error listing how an adapter's modules differ from what the model's projections call for. */
export function checkAdapterFits(model: ModelConfig, adapter: LoraAdapter): void {
  const want = loraModules(model, adapter.config.targets);
  const got = adapter.modules;
  const problems: string[] = [];
  if (got.length !== want.length) problems.push(`${got.length} adapted projections, the model has ${want.length} for targets ${adapter.config.targets.join(', ')}`);
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i]!, w = want[i]!;
    if (g.path !== w.path) problems.push(`module ${i} is ${g.path}, expected ${w.path}`);
    else if (g.inFeatures !== w.inFeatures || g.outFeatures !== w.outFeatures) {
      problems.push(`${g.path} is [out, in] = [${g.outFeatures}, ${g.inFeatures}] in the adapter, [${w.outFeatures}, ${w.inFeatures}] in the model`);
    }
  }
  if (problems.length) {
    throw new Error(`LoRA adapter does not fit this ${model.architecture} model (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.slice(0, 5).join('; ')}`);
  }
}

/** The adapters of one forward pass over M rows, and its scratch. */
export interface PassAdapters {
  adapter: LoraAdapter;
  /** u = x·Aᵀ, f32 [M, r]: reused by every projection of the pass. */
  u: Tensor;
  rows: number;
}

/** The adapters of a pass of `rows` rows; `allocate` provides the scratch (freed with the pass's other activations). */
export function passAdapters(adapter: LoraAdapter, rows: number, allocate: (dtype: DType, shape: readonly number[], label: string) => Tensor): PassAdapters {
  return { adapter, rows, u: allocate('f32', [rows, adapter.config.rank], 'lora u') };
}

export interface LoraDeltaArgs {
  layer: number;
  target: LoraTarget;
  /** The projection's input, f32 [M, in]. */
  x: Tensor;
  /** Its output, f32 [M, out], already holding x·Wᵀ (+ bias): the delta is added to it. */
  y: Tensor;
  /** Matmul kernel of both products: the transformer's choice for M rows ('skinny' / 'portable' keep f32 exact). */
  variant: MatmulVariant;
}

/** Records y += s·(x·Aᵀ)·Bᵀ for one projection; nothing when the pass's adapter does not adapt it. */
export function recordLoraDelta(rec: CommandRecorder, pass: PassAdapters, d: LoraDeltaArgs): void {
  const pair = pass.adapter.get(d.layer, d.target);
  if (!pair) return;
  const M = pass.rows;
  const { rank, scale } = pass.adapter.config;
  const [out, inF] = [pair.b.shape[0]!, pair.a.shape[1]!];
  matmul(rec, { a: d.x, b: pair.a, c: pass.u, M, N: rank, K: inF, transB: true, variant: d.variant });
  matmul(rec, { a: pass.u, b: pair.b, c: d.y, M, N: out, K: rank, transB: true, alpha: scale, accumulate: true, variant: d.variant });
}
