/** Browser / Deno / worker entry point: navigator.gpu devices, Hub models in OPFS / Cache Storage, and everything runtime-free. */
export * from '../src/index.ts';
export { createBrowserContext, type BrowserDeviceOptions } from './device.ts';
export {
  fetchHubFiles,
  loadHubModel,
  deleteCachedModel,
  HubError,
  type BrowserHubOptions,
  type HubFiles,
  type HubModel,
  type HubProgress,
  type HubCacheMode,
} from './hub.ts';
export { blobSource, blobModelFiles } from './blob-source.ts';
export {
  loadModel,
  readModelConfig,
  readTokenizer,
  readChatTemplate,
  checkpointShards,
  ModelLoadError,
  type ModelFiles,
  type LoadedModel,
} from '../src/inference/load-model.ts';
export { parseHubId, isHubId, type HubId } from '../src/model/hub-protocol.ts';
export { SealWorkerEngine, ModelFitError } from './engine/engine.ts';
export { createSealWorker, callback, type SealWorker } from './engine/client.ts';
export type * from './engine/api.ts';
