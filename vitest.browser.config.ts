import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

// The same kernel tests in headless Chromium (WebGPU through SwiftShader: no shader-f16), and the browser Hub model
// source (test/browser: its globalSetup starts local fake hubs the page fetches from). Uses the system Chromium
// (Debian's `chromium`), or CHROMIUM_PATH.
export default defineConfig({
  // Lets the runtime check in test/gpu/context.test.ts prove the suite really ran in the browser.
  define: { 'import.meta.env.SEAL_EXPECT_RUNTIME': JSON.stringify('browser') },
  test: {
    include: ['test/ops/**/*.test.ts', 'test/gpu/**/*.test.ts', 'test/browser/**/*.test.ts'],
    // The worker engine's training/scoring tests take ~20 min on SwiftShader (a pipeline compile per new shape):
    // `npm run test:browser-slow` runs them with the demo's end-to-end test, outside `npm test` until that is fixed.
    exclude: process.env.SEAL_SLOW_BROWSER_TESTS ? [] : ['test/browser/engine-run.test.ts'],
    globalSetup: ['test/harness/global-setup.ts', 'test/browser/hub-server.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
          args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
        },
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
