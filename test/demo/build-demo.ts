/**
 * The demo test's global setup: builds the static demo once per run (`npm run demo:build` -> demo/dist/), so the test
 * always serves what a user would build from this checkout, and no test file rebuilds it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEMO_DIST = join(ROOT, 'demo/dist');

export default function setup(): void {
  const started = performance.now();
  execFileSync('npm', ['run', '--silent', 'demo:build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  if (!existsSync(join(DEMO_DIST, 'index.html'))) throw new Error(`npm run demo:build wrote no ${join(DEMO_DIST, 'index.html')}`);
  console.log(`demo test: npm run demo:build took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
