/**
 * LoRA adapters on the GPU: per adapted projection an f32 A [r, in] and B [out, r]. The same container
 * (LoraTensors) holds an adapter's gradients and, later, its optimizer moments, module for module.
 */
import type { GpuContext } from '../gpu/context.ts';
import { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import { deviceBindingLimit } from '../model/split-weight.ts';
import { loraModulePath, loraModules, resolveLoraConfig, type LoraConfig, type LoraModule, type LoraTarget, type ResolvedLoraConfig } from './config.ts';
import { checkLoraHostWeights, initLoraWeights, type LoraHostWeights, type LoraInit } from './host-weights.ts';

export interface LoraPair {
  a: Tensor; // [rank, inFeatures] f32
  b: Tensor; // [outFeatures, rank] f32
}

/** Tensors start on 256-byte boundaries: any device's storage binding offset alignment. */
const ALIGN_ELEMENTS = 64;
/** Largest storage chunk (further capped by the device's binding limit). */
const MAX_CHUNK_BYTES = 512 * 2 ** 20;

/**
 * An (A, B) pair of f32 tensors per module; owns its tensors until dispose(). The tensors are views into a few
 * large chunks, laid out the same way for every LoraTensors of the same modules and rank on a device (an
 * adapter's parameters, its gradients and its optimizer moments), so elementwise work over all of them (AdamW,
 * the gradient norm, clearing) is one dispatch per chunk instead of one per tensor. The gaps between views
 * are zero and nothing writes them.
 */
export class LoraTensors {
  private readonly byPath: Map<string, LoraPair>;
  private disposed = false;

  private constructor(
    private readonly ctx: GpuContext,
    readonly modules: readonly LoraModule[],
    readonly rank: number,
    pairs: LoraPair[],
    private readonly storage: Tensor[],
  ) {
    this.byPath = new Map(modules.map((m, i) => [m.path, pairs[i]!]));
  }

  /** New tensors, all zero. */
  static zeros(ctx: GpuContext, modules: readonly LoraModule[], rank: number, label: string): LoraTensors {
    const limit = Math.min(deviceBindingLimit(ctx), MAX_CHUNK_BYTES) / 4;
    // Place A then B of each module, opening a new chunk when the next tensor would not fit.
    const shapes = modules.flatMap((m) => [
      [rank, m.inFeatures],
      [m.outFeatures, rank],
    ]);
    const places: { chunk: number; offset: number }[] = [];
    const chunkSizes: number[] = [0];
    for (const [rows, cols] of shapes) {
      const n = rows! * cols!;
      let at = Math.ceil(chunkSizes[chunkSizes.length - 1]! / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;
      if (at + n > limit && at > 0) {
        chunkSizes.push(0);
        at = 0;
      }
      places.push({ chunk: chunkSizes.length - 1, offset: at });
      chunkSizes[chunkSizes.length - 1] = at + n;
    }
    const storage: Tensor[] = [];
    try {
      chunkSizes.forEach((n, i) => {
        const chunk = ctx.empty('f32', [Math.max(1, n)], `${label} chunk ${i}`);
        storage.push(chunk);
        ctx.fill(chunk, 0);
      });
    } catch (e) {
      ctx.free(...storage);
      throw e;
    }
    const view = (k: number) => {
      const { chunk, offset } = places[k]!;
      return new Tensor(storage[chunk]!.buffer, 'f32', shapes[k]!, storage[chunk]!.byteOffset + 4 * offset);
    };
    const pairs = modules.map((_, i) => ({ a: view(2 * i), b: view(2 * i + 1) }));
    return new LoraTensors(ctx, modules, rank, pairs, storage);
  }

  /**
   * The storage chunks, each a flat f32 tensor holding some of the tensors and zero gaps. Two LoraTensors of the
   * same modules and rank on one device have chunks of the same sizes with every tensor at the same place.
   */
  chunks(): readonly Tensor[] {
    this.check();
    return this.storage;
  }

  /** True when `other` has this one's layout (see chunks()). */
  sameLayout(other: LoraTensors): boolean {
    return (
      other.rank === this.rank &&
      other.modules.length === this.modules.length &&
      other.modules.every(
        (m, i) => m.path === this.modules[i]!.path && m.inFeatures === this.modules[i]!.inFeatures && m.outFeatures === this.modules[i]!.outFeatures,
      ) &&
      other.storage.length === this.storage.length &&
      other.storage.every((c, i) => c.numel === this.storage[i]!.numel)
    );
  }

  /** The pair of a projection, or undefined when it is not adapted. */
  get(layer: number, target: LoraTarget): LoraPair | undefined {
    this.check();
    return this.byPath.get(loraModulePath(layer, target));
  }

  /** Every tensor, module by module, A before B (a fixed order: gradient norms and optimizers rely on it). */
  list(): Tensor[] {
    this.check();
    return this.modules.flatMap((m) => {
      const p = this.byPath.get(m.path)!;
      return [p.a, p.b];
    });
  }

  /** Overwrites every tensor from host values (A [r, in] and B [out, r] per module, in module order). */
  write(values: readonly { a: ArrayLike<number>; b: ArrayLike<number> }[]): void {
    this.check();
    if (values.length !== this.modules.length) throw new RangeError(`LoRA tensors: ${values.length} value pairs for ${this.modules.length} modules`);
    this.modules.forEach((m, i) => {
      const p = this.byPath.get(m.path)!;
      this.ctx.write(p.a, values[i]!.a);
      this.ctx.write(p.b, values[i]!.b);
    });
  }

  /** Reads every pair back, in module order. */
  async read(): Promise<{ a: Float32Array; b: Float32Array }[]> {
    this.check();
    const out: { a: Float32Array; b: Float32Array }[] = [];
    for (const m of this.modules) {
      const p = this.byPath.get(m.path)!;
      out.push({ a: await this.ctx.readF32(p.a), b: await this.ctx.readF32(p.b) });
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.ctx.free(...this.storage);
    this.byPath.clear();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new Error('LoRA tensors used after dispose()');
  }
}

/** A LoRA adapter for one base model: its config, scale and parameters on the GPU. */
export class LoraAdapter {
  private constructor(
    private readonly ctx: GpuContext,
    readonly config: ResolvedLoraConfig,
    readonly params: LoraTensors,
  ) {}

  /** A freshly initialised adapter (PEFT's initialisation; see initLoraWeights). */
  static create(ctx: GpuContext, model: ModelConfig, config: LoraConfig | ResolvedLoraConfig, init: LoraInit): LoraAdapter {
    const resolved = resolveLoraConfig(config);
    return LoraAdapter.upload(ctx, model, initLoraWeights(model, resolved, init));
  }

  /** An adapter holding the given host weights (initialised, or parsed from PEFT files). */
  static upload(ctx: GpuContext, model: ModelConfig, weights: LoraHostWeights): LoraAdapter {
    const config = resolveLoraConfig(weights.config);
    checkLoraHostWeights(model, weights);
    const params = LoraTensors.zeros(ctx, loraModules(model, config.targets), config.rank, 'lora');
    params.write(weights.modules);
    return new LoraAdapter(ctx, config, params);
  }

  get scale(): number {
    return this.config.scale;
  }

  get modules(): readonly LoraModule[] {
    return this.params.modules;
  }

  get(layer: number, target: LoraTarget): LoraPair | undefined {
    return this.params.get(layer, target);
  }

  /** Overwrites the parameters in place (e.g. reset to the initial A and B = 0 before each inner-loop run). */
  load(weights: LoraHostWeights): void {
    const same = weights.modules.length === this.modules.length && weights.modules.every((m, i) => m.path === this.modules[i]!.path);
    if (!same || weights.config.rank !== this.config.rank) throw new Error('LoraAdapter.load: the weights are for other modules or another rank');
    this.params.write(weights.modules);
  }

  /** Zero-filled tensors shaped like the parameters: gradients, optimizer moments. The caller disposes them. */
  zerosLike(label = 'lora grad'): LoraTensors {
    return LoraTensors.zeros(this.ctx, this.modules, this.config.rank, label);
  }

  /** The parameters on the host (for saving in PEFT format). */
  async download(): Promise<LoraHostWeights> {
    const values = await this.params.read();
    return { config: this.config, modules: this.modules.map((m, i) => ({ ...m, ...values[i]! })) };
  }

  dispose(): void {
    this.params.dispose();
  }
}
