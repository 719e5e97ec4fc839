import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The suite under Deno (scripts/test-deno.mjs). Files that run Node programs as child processes (the `seal` CLI,
 * bin/seal.mjs -> dist/cli.mjs; the bench, dist/bench.mjs) are left out: under Deno they would spawn the same Node
 * programs again and check nothing new, and the Node run keeps them. Such a file is one that imports the child-process
 * harness test/harness/cli.ts; files that test CLI modules in-process (doctor, the tasks flag parser) still run here.
 */
function nodeProcessOnly(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return nodeProcessOnly(path);
    return e.name.endsWith('.test.ts') && /from '(\.\.\/)+harness\/cli\.ts'/.test(readFileSync(path, 'utf8')) ? [path] : [];
  });
}

export const NODE_PROCESS_ONLY = nodeProcessOnly('test');

export default mergeConfig(base, defineConfig({ test: { exclude: [...configDefaults.exclude, ...NODE_PROCESS_ONLY] } }));
