/** Node entry point: Dawn devices plus everything runtime-free. */
export * from '../src/index.ts';
export { createNodeContext, requestNodeAdapter, dawnFlags, DEFAULT_TOGGLES, type NodeDeviceOptions } from './device.ts';
export { doctor, formatDoctor, type DoctorReport } from './doctor.ts';
export { fileSource, readJsonFile } from './file-source.ts';
export { loadModelDir, loadModelTokenizer, checkModelDir, ModelDirError, modelDirFiles } from './model-dir.ts';
export { saveAdapterDir, loadAdapterDir, AdapterDirError } from './adapter-files.ts';
export { exportMergedModel, ExportError } from './export-model.ts';
export { RunDir, fingerprintModelDir } from './run-dir.ts';
export { resolveModel } from './model-dir.ts';
export { resolveHubModel, parseHubId, HubError, type HubOptions, type DownloadProgress } from './hub.ts';
export { createProgressBar } from './progress.ts';
