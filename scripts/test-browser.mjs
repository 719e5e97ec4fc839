// Runs the kernel suite in headless Chromium (WebGPU through SwiftShader) with vitest's browser mode.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromiumPath } from './chromium-path.mjs';

const chromium = chromiumPath();
if (!existsSync(chromium)) {
  console.error(`test-browser: no Chromium at ${chromium}; run scripts/install-system.sh (Debian's chromium, Ubuntu's snap) or set CHROMIUM_PATH.`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.browser.config.ts', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, CHROMIUM_PATH: chromium },
});
process.exit(r.status ?? 1);
