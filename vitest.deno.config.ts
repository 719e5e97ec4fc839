import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The suite under Deno (scripts/test-deno.mjs). Files whose every check runs the `seal` CLI or the bench as a Node
 * child process (bin/seal.mjs, dist/*.mjs) are left out: under Deno they would spawn the same Node programs again
 * and check nothing new. The Node run keeps them; files that also test the library in-process (doctor, the tasks
 * flag parser, the run directory and Hub locks) still run here.
 */
export const NODE_PROCESS_ONLY = [
  'test/cli/adapter.test.ts',
  'test/cli/arc.test.ts',
  'test/cli/arc-run.test.ts',
  'test/cli/cli.test.ts',
  'test/cli/doctor-cli.test.ts',
  'test/cli/fresh-clone.test.ts',
  'test/cli/sft.test.ts',
  'test/bench/bench-report.test.ts',
];

export default mergeConfig(base, defineConfig({ test: { exclude: [...configDefaults.exclude, ...NODE_PROCESS_ONLY] } }));
