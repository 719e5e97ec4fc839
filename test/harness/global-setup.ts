import { execFileSync } from 'node:child_process';

/** Regenerates src/shaders.generated.ts so tests always run the current shaders/*.wgsl. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/gen-shaders.mjs'], { stdio: 'inherit' });
}
