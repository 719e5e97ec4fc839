/** SEAL: the domain-agnostic loop (self-edits, inner-loop training, scoring, ReST-EM) and its run bookkeeping. */
export * from './domain.ts';
export * from './engine.ts';
export * from './gpu-engine.ts';
export * from './loop.ts';
export * from './rest-em.ts';
export * from './run-recorder.ts';
export * from './streams.ts';
export * from './events.ts';
export * from './run-state.ts';
export * from './run-config.ts';
export * from './model-identity.ts';
export * from './report.ts';
export * from './summary.ts';
