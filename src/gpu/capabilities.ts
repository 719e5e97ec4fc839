/** What an adapter offers. Which kernel each op picks from it lives in src/ops/kernel-paths.ts. */

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface Capabilities {
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallback: boolean };
  shaderF16: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  timestampQuery: boolean;
  /** The adapter's maximum limits; the device is requested with all of them. */
  limits: Record<string, number>;
}

/** Features we request when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] as const;

function readLimits(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its members as prototype getters, so walk the prototype chain.
  for (let o: object | null = limits; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      const v = (limits as unknown as Record<string, unknown>)[key];
      if (typeof v === 'number' && !(key in out)) out[key] = v;
    }
  }
  return out;
}

export function probeCapabilities(adapter: GPUAdapter): Capabilities {
  const info = (adapter.info ?? {}) as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: SubgroupMatrixConfig[];
    isFallbackAdapter?: boolean;
  };
  const has = (f: string) => adapter.features.has(f);
  const configs = (info.subgroupMatrixConfigs ?? []).map((c) => ({
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
    M: c.M,
    N: c.N,
    K: c.K,
  }));
  return {
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      isFallback: Boolean(info.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    },
    shaderF16: has('shader-f16'),
    subgroups: has('subgroups'),
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    subgroupMatrix: has('chromium-experimental-subgroup-matrix') && configs.length > 0,
    subgroupMatrixConfigs: configs,
    timestampQuery: has('timestamp-query'),
    limits: readLimits(adapter.limits),
  };
}

/** The device request for an adapter: every optional feature it has, and its maximum limits. */
export function deviceDescriptor(adapter: GPUAdapter, caps: Capabilities, exclude: readonly string[] = []): GPUDeviceDescriptor {
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !exclude.includes(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const [k, v] of Object.entries(caps.limits)) {
    // Only request limits the adapter reports as numbers that the device descriptor can take.
    if (k === 'maxImmediateSize' || k === 'maxInterStageShaderComponents') continue;
    requiredLimits[k] = v;
  }
  return { requiredFeatures, requiredLimits, label: 'seal-webgpu' };
}
