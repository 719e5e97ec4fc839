/** One typed wrapper per kernel family. */
export * from './rmsnorm.ts';
export * from './rope.ts';
export * from './bias.ts';
export * from './swiglu.ts';
export * from './residual.ts';
export * from './embedding.ts';
export * from './cross-entropy.ts';
export * from './grad-norm.ts';
export * from './adamw.ts';
export * from './sampling.ts';
export * from './attention.ts';
export * from './kernel-paths.ts';
export * from './matmul.ts';
export * from './attention-decode.ts';
export * from './scatter-rows.ts';
