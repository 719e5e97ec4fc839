/** WebGPU through navigator.gpu: browsers, Web Workers and Deno. */
import { GpuContext, type ContextOptions } from '../src/gpu/context.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';

export interface BrowserDeviceOptions extends ContextOptions {
  powerPreference?: GPUPowerPreference;
}

export async function createBrowserContext(opts: BrowserDeviceOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new GpuUnavailableError(
      'navigator.gpu is missing: this browser has no WebGPU. Use a current Chrome/Edge (or Firefox/Safari with WebGPU on), ' +
        'serve the page from https or localhost, and in headless Chromium pass --enable-unsafe-webgpu.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GpuUnavailableError('navigator.gpu.requestAdapter() returned null: WebGPU is blocked or no GPU is usable here.');
  return GpuContext.create(adapter, opts);
}
