/** WebGPU in Node through Dawn (the `webgpu` npm package). */
import { create, globals } from 'webgpu';
import { GpuContext, type ContextOptions } from '../src/gpu/context.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';

export interface NodeDeviceOptions extends ContextOptions {
  /** Dawn adapter name (see `seal doctor`; Dawn matches it case-sensitively); default: the first high-performance adapter. */
  adapter?: string;
  /** Dawn backend: vulkan, metal, d3d12, ... */
  backend?: string;
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn toggles to enable. */
  toggles?: string[];
}

/** Dawn toggles we always want: experimental features (subgroup matrices), f16 on NVIDIA/Vulkan, exact timestamps. */
export const DEFAULT_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];

// Dawn tears down every device of a GPU instance when the instance is garbage-collected, so instances are
// kept here for the life of the process (one per flag set).
const instances = new Map<string, GPU>();

let installed = false;
function installGlobals(): void {
  if (installed) return;
  Object.assign(globalThis, globals);
  installed = true;
}

export function dawnFlags(opts: NodeDeviceOptions = {}): string[] {
  const flags = [`enable-dawn-features=${[...DEFAULT_TOGGLES, ...(opts.toggles ?? [])].join(',')}`, 'disable-dawn-features=timestamp_quantization'];
  if (opts.backend) flags.push(`backend=${opts.backend}`);
  if (opts.adapter) flags.push(`adapter=${opts.adapter}`);
  return flags;
}

export const NO_ADAPTER_HELP =
  "No WebGPU adapter found. Install a GPU driver with Vulkan support, or for a CPU fallback Mesa's lavapipe " +
  '(Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`, version >= 24; on Debian 12 from bookworm-backports), ' +
  'and make sure XDG_RUNTIME_DIR is set. `seal doctor` shows what was found.';

/**
 * Why no adapter came back: none at all (how to install one), or none that --gpu-adapter / --backend name (with the
 * adapters Dawn lists: `dawn` is its error, which lists them as " * backend: 'vulkan', name: '...'" lines).
 */
function noAdapterMessage(opts: NodeDeviceOptions, dawn: string | null): string {
  const asked = [opts.adapter !== undefined && `--gpu-adapter '${opts.adapter}'`, opts.backend !== undefined && `--backend ${opts.backend}`].filter(Boolean);
  if (asked.length === 0) return dawn === null ? NO_ADAPTER_HELP : `${NO_ADAPTER_HELP} Dawn said: ${dawn}`;
  const available = [...(dawn ?? '').matchAll(/backend: '([^']+)', name: '([^']+)'/g)].map((m) => `'${m[2]}' (${m[1]})`);
  return (
    `no WebGPU adapter matches ${asked.join(' and ')}` +
    (available.length > 0 ? `; this machine has ${available.join(', ')}: pass one of those names` : ': drop the flag to use the default adapter') +
    ' (seal doctor shows the default)'
  );
}

export async function requestNodeAdapter(opts: NodeDeviceOptions = {}): Promise<GPUAdapter> {
  installGlobals();
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  let adapter: GPUAdapter | null = null;
  try {
    const flags = dawnFlags(opts);
    const key = flags.join(' ');
    const gpu = instances.get(key) ?? (create(flags) as GPU);
    instances.set(key, gpu);
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new GpuUnavailableError(noAdapterMessage(opts, (e as Error).message));
  }
  if (!adapter) throw new GpuUnavailableError(noAdapterMessage(opts, null));
  return adapter;
}

export async function createNodeContext(opts: NodeDeviceOptions = {}): Promise<GpuContext> {
  return GpuContext.create(await requestNodeAdapter(opts), opts);
}
