/** seal-webgpu: runtime-free core. Give it a GPUAdapter (see runtime-node / runtime-browser). */
export { GpuContext, type ContextOptions, type EnabledFeatures, type HostArray } from './gpu/context.ts';
export { Tensor } from './gpu/tensor.ts';
export { CommandRecorder, fold1d, type Dispatch, type Param, type Timing } from './gpu/recorder.ts';
export { probeCapabilities, type Capabilities, type SubgroupMatrixConfig } from './gpu/capabilities.ts';
export { DeviceLostError, GpuUnavailableError, GpuValidationError } from './gpu/errors.ts';
export * from './gpu/dtype.ts';
export * as ops from './ops/index.ts';
export * from './text/tokenizer.ts';
export * from './text/chat-template.ts';
export { TokenizerLoadError } from './text/special-tokens.ts';
export * from './model/byte-source.ts';
export * from './model/safetensors.ts';
export * from './model/config.ts';
export * from './model/weights.ts';
export * from './model/kv-cache.ts';
export * from './model/transformer.ts';
export * from './generate/generate.ts';
