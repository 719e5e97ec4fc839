import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Under Deno, process.execPath is deno itself: the build scripts are Node programs. */
const NODE = 'Deno' in globalThis ? 'node' : process.execPath;

/** Newest modification time of the files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Regenerates src/shaders.generated.ts so tests always run the current shaders/*.wgsl, and rebuilds dist/ (the CLI
 * bundle the CLI tests spawn) when a source is newer: once per run, so test files never race to rebuild it.
 */
export default function setup(): void {
  execFileSync(NODE, ['scripts/gen-shaders.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const bundle = join(ROOT, 'dist/cli.mjs');
  const sources = Math.max(...['runtime-node', 'src', 'shaders', 'bench'].map((d) => newestMtime(join(ROOT, d))));
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < sources) execFileSync(NODE, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
}
