#!/usr/bin/env node
// The `seal` CLI. The bundle is built by `npm run build`, which `npm ci`/`npm install` run through `prepare`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
if (!existsSync(bundle)) {
  console.error('seal: dist/cli.mjs is missing; run `npm run build` in the seal-webgpu package first.');
  process.exit(1);
}
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const { main } = await import(bundle);
const code = await main(process.argv.slice(2));
// Dawn keeps native handles alive, so exit explicitly once the command is done, but only after stdout has drained:
// exiting at once cuts a large output (seal logits) written to a pipe.
process.stdout.write('', () => process.exit(code));
