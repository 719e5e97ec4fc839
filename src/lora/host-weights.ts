/**
 * An adapter's weights on the host: for each adapted projection A [r, in] and B [out, r], row-major f32 (PEFT's
 * lora_A.weight / lora_B.weight layouts). This is what initialisation produces, what the PEFT files hold, and
 * what is uploaded to or downloaded from the GPU.
 */
import type { ModelConfig } from '../model/config.ts';
import { LORA_TARGETS, loraModules, type LoraModule, type ResolvedLoraConfig } from './config.ts';
import { fillUniform, streamState } from '../util/rng.ts';

export interface LoraHostModule extends LoraModule {
  /** [rank, inFeatures] */
  a: Float32Array;
  /** [outFeatures, rank] */
  b: Float32Array;
}

export interface LoraHostWeights {
  config: ResolvedLoraConfig;
  /** Layer by layer, targets in canonical order (as loraModules lists them). */
  modules: LoraHostModule[];
}

export interface LoraInit {
  /** Seed of the A (and random B) values; see rng.ts for the generator and its guarantees. */
  seed: number;
  /**
   * 'zeros' (PEFT's default: the adapter starts as the identity) or 'random': B ~ U(-1/sqrt(r), 1/sqrt(r)), so
   * every gradient is non-trivial (tests).
   */
  b?: 'zeros' | 'random';
}

/**
 * PEFT's default initialisation (init_lora_weights=True): A ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in),
 * 1/sqrt(in)) with gain sqrt(2 / (1 + 5)) and bound gain * sqrt(3 / in); B = 0. Values come from our seeded
 * generator, not torch's (see rng.ts).
 */
export function initLoraWeights(model: ModelConfig, config: ResolvedLoraConfig, init: LoraInit): LoraHostWeights {
  const r = config.rank;
  const bInit = init.b ?? 'zeros';
  if (bInit !== 'zeros' && bInit !== 'random') throw new Error(`LoRA init: b must be 'zeros' or 'random', got ${JSON.stringify(bInit)}`);
  const modules = loraModules(model, config.targets).map((m): LoraHostModule => {
    const stream = m.layer * 64 + LORA_TARGETS.indexOf(m.target) * 2;
    const a = fillUniform(new Float32Array(r * m.inFeatures), 1 / Math.sqrt(m.inFeatures), streamState(init.seed, stream));
    const b = new Float32Array(m.outFeatures * r);
    if (bInit === 'random') fillUniform(b, 1 / Math.sqrt(r), streamState(init.seed, stream + 1));
    return { ...m, a, b };
  });
  return { config, modules };
}

/** Checks that host weights have exactly the modules and shapes the model and config call for. */
export function checkLoraHostWeights(model: ModelConfig, weights: LoraHostWeights): void {
  const want = loraModules(model, weights.config.targets);
  const r = weights.config.rank;
  const problems: string[] = [];
  if (weights.modules.length !== want.length) problems.push(`${weights.modules.length} modules, expected ${want.length}`);
  want.forEach((m, i) => {
    const got = weights.modules[i];
    if (!got || got.path !== m.path) {
      problems.push(`module ${i} is ${got?.path ?? 'missing'}, expected ${m.path}`);
      return;
    }
    if (got.inFeatures !== m.inFeatures || got.outFeatures !== m.outFeatures) {
      problems.push(`${m.path}: [out, in] = [${got.outFeatures}, ${got.inFeatures}], model has [${m.outFeatures}, ${m.inFeatures}]`);
    }
    if (got.a.length !== r * m.inFeatures) problems.push(`${m.path}: A has ${got.a.length} values, expected ${r} x ${m.inFeatures}`);
    if (got.b.length !== m.outFeatures * r) problems.push(`${m.path}: B has ${got.b.length} values, expected ${m.outFeatures} x ${r}`);
  });
  if (problems.length)
    throw new Error(
      `LoRA weights do not match the model (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.slice(0, 20).join('\n  ')}`,
    );
}
