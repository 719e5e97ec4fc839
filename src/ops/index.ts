/** One typed wrapper per kernel family. */
export * from './rmsnorm.ts';
