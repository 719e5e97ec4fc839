// Runs the whole test suite under Deno (its own WebGPU: wgpu/naga, not Dawn) with vitest itself running in Deno.
// Extra arguments are passed to vitest (e.g. a test file). vitest.deno.config.ts leaves out the files that only run
// Node child processes (the CLI, the bench): the Node run covers them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// Deno comes from npm as its platform binary package (an optional dependency: Linux x64 is what CI and the GPU machine run).
const deno = process.env.DENO_PATH ?? 'node_modules/@deno/linux-x64-glibc/deno';
if (!existsSync(deno)) {
  console.error(`test-deno: no Deno binary at ${deno}. On Linux x64 run \`npm ci\`; elsewhere install Deno and set DENO_PATH.`);
  process.exit(1);
}
const files = process.argv.slice(2);
const r = spawnSync(deno, ['run', '-A', 'node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.deno.config.ts', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SEAL_EXPECT_RUNTIME: 'deno', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', DENO_NO_UPDATE_CHECK: '1' },
});
process.exit(r.status ?? 1);
