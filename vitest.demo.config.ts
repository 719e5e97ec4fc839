import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { chromiumPath } from './scripts/chromium-path.mjs';

// The end-to-end test of the built demo (test/demo): Node drives the system Chromium through Playwright against
// demo/dist served on 127.0.0.1, and runs the `seal` CLI (dist/cli.mjs, rebuilt by the harness's global setup when
// stale) to compare with. `npm run test:demo`; the Node and Deno suites leave test/demo out (vitest.config.ts).
const chromium = chromiumPath();
if (!existsSync(chromium)) {
  throw new Error(`test:demo: no Chromium at ${chromium}; run scripts/install-system.sh (Debian's chromium, Ubuntu's snap) or set CHROMIUM_PATH.`);
}

export default defineConfig({
  test: {
    include: ['test/demo/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts', 'test/demo/build-demo.ts'],
    // SwiftShader runs WebGPU on the CPU: a whole SEAL loop in the page takes minutes on a 2-core machine; a test
    // waits at most 20 min for one action (demo.test.ts) and runs up to three.
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', CHROMIUM_PATH: chromium },
  },
});
