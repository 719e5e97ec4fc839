/**
 * The demo's Vite build: `npm run demo` serves it for development, `npm run demo:build` writes a static site to
 * demo/dist/ that works from any static file server and any path (relative base, no COOP/COEP headers needed: the
 * engine uses no SharedArrayBuffer). The bundled model and ARC tasks (examples/) are copied into the site under
 * examples/ and fetched at run time, so the page itself stays small.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { BUNDLED_FILES } from './src/bundled-files.ts';

const demoDir = fileURLToPath(new URL('.', import.meta.url));
const repoDir = fileURLToPath(new URL('..', import.meta.url));
const examplesDir = fileURLToPath(new URL('../examples/', import.meta.url));

/** Serves examples/<file> in development and emits it into the build, for exactly the files BUNDLED_FILES lists. */
function bundledExamples(): Plugin {
  const allowed = new Set<string>(BUNDLED_FILES);
  return {
    name: 'seal-bundled-examples',
    configureServer(server) {
      server.middlewares.use('/examples/', (req, res, next) => {
        const file = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(/^\//, ''));
        if (!allowed.has(file)) return next();
        res.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        res.end(readFileSync(examplesDir + file));
      });
    },
    generateBundle() {
      for (const file of BUNDLED_FILES) this.emitFile({ type: 'asset', fileName: `examples/${file}`, source: readFileSync(examplesDir + file) });
    },
  };
}

export default defineConfig({
  root: demoDir,
  base: './',
  plugins: [bundledExamples()],
  worker: { format: 'es' },
  server: { fs: { allow: [repoDir] } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
});
