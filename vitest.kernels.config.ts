import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The runtime-independent kernel suite: what Deno and the browser run too.
export default mergeConfig(base, defineConfig({ test: { include: ['test/ops/**/*.test.ts', 'test/gpu/**/*.test.ts'] } }));
