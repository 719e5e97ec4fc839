/**
 * The page's side of the worker engine: the engine in `worker` (a module Worker running worker.ts) as a comlink
 * proxy. Every method returns a promise; callbacks go across wrapped in Comlink.proxy (e.g. onToken, onStep).
 *
 *   const engine = createSealWorker(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
 *   await engine.loadModel({ kind: 'url', url }, Comlink.proxy({}), 'load-1');
 */
import * as Comlink from 'comlink';
import type { SealWorkerEngine } from './engine.ts';

export type SealWorker = Comlink.Remote<SealWorkerEngine>;

export function createSealWorker(worker: Worker): SealWorker {
  return Comlink.wrap<SealWorkerEngine>(worker);
}

/** A callback the engine may call from the worker (streamed tokens, steps, progress, events). */
export const callback = Comlink.proxy;
