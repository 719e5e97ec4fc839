// Builds dist/: self-contained Node bundles of the CLI and the benchmark (only `webgpu` left external, so they
// run where just Node and the webgpu package exist, e.g. the GPU machine), the library entry points, and types.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

execFileSync(process.execPath, ['scripts/gen-shaders.mjs'], { stdio: 'inherit' });

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
  if (dirty) commit += '-dirty';
} catch {
  // Not a git checkout (e.g. an npm tarball): keep 'unknown'.
}

rmSync('dist', { recursive: true, force: true });
const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
  define: { __SEAL_COMMIT__: JSON.stringify(commit) },
};
const nodeBanner = { js: "import { createRequire as __sealRequire } from 'node:module'; const require = __sealRequire(import.meta.url);" };

await Promise.all([
  build({
    ...common,
    platform: 'node',
    entryPoints: { cli: 'runtime-node/cli.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    external: ['webgpu'],
    banner: nodeBanner,
  }),
  build({
    ...common,
    platform: 'node',
    entryPoints: { bench: 'bench/main.ts', 'measure-report': 'bench/gpu/report-main.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    external: ['webgpu'],
    banner: nodeBanner,
  }),
  build({
    ...common,
    platform: 'neutral',
    entryPoints: { index: 'src/index.ts', browser: 'runtime-browser/index.ts', 'browser-worker': 'runtime-browser/engine/worker.ts' },
    outdir: 'dist/lib',
    outExtension: { '.js': '.mjs' },
    external: ['@huggingface/jinja', '@huggingface/tokenizers', 'comlink'],
  }),
  build({
    ...common,
    platform: 'node',
    entryPoints: { node: 'runtime-node/index.ts' },
    outdir: 'dist/lib',
    outExtension: { '.js': '.mjs' },
    packages: 'external',
  }),
]);

execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log(`built dist/ (commit ${commit})`);
