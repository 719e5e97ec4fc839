/**
 * The GPU context for kernel tests, whatever runtime runs them: Node (Dawn on lavapipe), Deno (wgpu) or a
 * browser (Chromium/SwiftShader). One device per test file; features can be disabled to test portable twins.
 * No adapter is a test failure, never a skip.
 */
import type { GpuContext, ContextOptions } from '../../src/gpu/context.ts';

const cache = new Map<string, Promise<GpuContext>>();

export function runtimeName(): 'node' | 'deno' | 'browser' {
  if ('Deno' in globalThis) return 'deno';
  if (typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string' && !('window' in globalThis)) return 'node';
  return 'browser';
}

/** A new device of this runtime (not shared): for tests that break or destroy their device. */
export async function freshContext(opts: ContextOptions = {}): Promise<GpuContext> {
  if (runtimeName() === 'node') {
    // A computed specifier keeps browser bundlers from following the Node-only import.
    const path = '../../runtime-node/device.ts';
    const m = (await import(/* @vite-ignore */ path)) as typeof import('../../runtime-node/device.ts');
    return m.createNodeContext(opts);
  }
  const m = await import('../../runtime-browser/device.ts');
  return m.createBrowserContext(opts);
}

/** The shared device of this test worker for the given options. */
export function testContext(opts: ContextOptions = {}): Promise<GpuContext> {
  const key = JSON.stringify(opts);
  let p = cache.get(key);
  if (!p) {
    p = freshContext(opts);
    cache.set(key, p);
  }
  return p;
}

/** The runtime the test command expects (SEAL_EXPECT_RUNTIME), so a run cannot silently fall back to another one. */
export function expectedRuntime(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.SEAL_EXPECT_RUNTIME ?? (import.meta as unknown as { env?: Record<string, string | undefined> }).env?.SEAL_EXPECT_RUNTIME;
}
