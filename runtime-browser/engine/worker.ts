/**
 * The worker's entry: one SealWorkerEngine, exposed to the page with comlink. A page creates it with
 *   new Worker(new URL('seal-webgpu/browser/worker', import.meta.url), { type: 'module' })
 * (or this file's URL in a bundler) and talks to it through createSealWorker (client.ts).
 */
import * as Comlink from 'comlink';
import { SealWorkerEngine } from './engine.ts';

Comlink.expose(new SealWorkerEngine());
