/** Compiles each (shader, defines, entry point, override constants) once. */
import type { GpuCounters } from './counters.ts';
import { GpuValidationError } from './errors.ts';
import { preprocess, shaderSource, type Defines } from './wgsl.ts';

export interface KernelKey {
  /** File name in shaders/ without `.wgsl`. */
  shader: string;
  entryPoint?: string;
  defines?: Defines;
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
}

function stableKey(k: KernelKey): string {
  const sort = (o?: object) => (o ? Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)) : []);
  return JSON.stringify([k.shader, k.entryPoint ?? 'main', sort(k.defines), sort(k.constants)]);
}

export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  private modules = new Map<string, GPUShaderModule>();

  constructor(
    private readonly device: GPUDevice,
    private readonly counters: GpuCounters,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(key: KernelKey): GPUComputePipeline {
    const id = stableKey(key);
    let p = this.pipelines.get(id);
    if (!p) {
      p = this.device.createComputePipeline({
        label: `${key.shader}:${key.entryPoint ?? 'main'}`,
        layout: 'auto',
        compute: { module: this.module(key), entryPoint: key.entryPoint ?? 'main', constants: key.constants },
      });
      this.pipelines.set(id, p);
      this.counters.pipelinesCreated++;
    }
    return p;
  }

  /** The WGSL text a key compiles to (for errors, `seal doctor`, and debugging). */
  code(key: KernelKey): string {
    return preprocess(shaderSource(key.shader), key.defines ?? {}, key.shader);
  }

  private module(key: KernelKey): GPUShaderModule {
    const id = JSON.stringify([key.shader, Object.entries(key.defines ?? {}).sort()]);
    let m = this.modules.get(id);
    if (!m) {
      m = this.device.createShaderModule({ code: this.code(key), label: key.shader });
      this.modules.set(id, m);
    }
    return m;
  }

  /** Compiles a key and reports WGSL errors with line numbers, for tests and capability probes. */
  async check(key: KernelKey): Promise<void> {
    const m = this.module(key);
    const info = await m.getCompilationInfo();
    const errors = info.messages.filter((x) => x.type === 'error');
    if (errors.length) {
      throw new GpuValidationError(`${key.shader}: WGSL compilation failed:\n${errors.map((e) => `  line ${e.lineNum}:${e.linePos} ${e.message}`).join('\n')}`);
    }
  }
}
