/** LoRA adapters: configuration, PEFT initialisation and file format, GPU tensors, inference deltas, merging. */
export * from './config.ts';
export * from './host-weights.ts';
export * from './adapter.ts';
export * from './peft-format.ts';
export * from './inference.ts';
export * from './merge.ts';
export * from './merged-checkpoint.ts';
