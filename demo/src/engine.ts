/**
 * The engine the page talks to: runtime-browser's SealWorkerEngine in a dedicated module worker, through comlink.
 * Vite bundles the worker from the `new Worker(new URL(...))` expression.
 */
import { createSealWorker, type SealWorker } from '../../runtime-browser/engine/client.ts';

export type Engine = SealWorker;

export function startEngine(): Engine {
  const worker = new Worker(new URL('../../runtime-browser/engine/worker.ts', import.meta.url), { type: 'module', name: 'seal-engine' });
  return createSealWorker(worker);
}
