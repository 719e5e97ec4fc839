/** Browser / Deno / worker entry point: navigator.gpu devices plus everything runtime-free. */
export * from '../src/index.ts';
export { createBrowserContext, type BrowserDeviceOptions } from './device.ts';
