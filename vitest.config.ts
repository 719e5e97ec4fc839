import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The built demo in Chromium runs on its own (npm run test:demo, vitest.demo.config.ts); the Deno run inherits this.
    // test/demo drives a browser itself; test/browser/engine* need a page's Web Worker (vitest.browser.config.ts runs them).
    exclude: [...configDefaults.exclude, 'test/demo/**', 'test/browser/engine*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One Dawn device per worker; lavapipe already uses every core, so run files one or two at a time.
    maxWorkers: 2,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
