/**
 * The data shipped in the package's `examples/` folder (a model, ARC subsets, a SQuAD slice): the fallback of every
 * lookup, so a fresh clone or an installed package runs with nothing beside it. Found from this module's own
 * location, not the working directory, so `seal` works from anywhere after `npm link` or a global install (the
 * sources live in runtime-node/, the CLI bundle in dist/, the library bundles in dist/lib/: the root is walked up to).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'seal-webgpu';

let cachedRoot: string | null | undefined;

/** The package's root directory (its package.json names it seal-webgpu), or null when this module is not inside it. */
export function packageRoot(): string | null {
  if (cachedRoot !== undefined) return cachedRoot;
  cachedRoot = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && isThisPackage(manifest)) {
      cachedRoot = dir;
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return cachedRoot;
}

function isThisPackage(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** The package's examples/ folder, or null when it is missing (a bundle copied out of the package). */
export function examplesDir(): string | null {
  const root = packageRoot();
  const dir = root === null ? null : join(root, 'examples');
  return dir !== null && existsSync(dir) ? dir : null;
}

/** The embedded SEAL 1B ARC subsets (examples/data/arc), or null when they are not there. */
export function embeddedArcDir(): string | null {
  const dir = examplesDir();
  return dir === null ? null : join(dir, 'data', 'arc');
}

/** The challenges files of the SEAL paper's 1B subsets, by split (their solutions files lie beside them). */
export const ARC_1B_SUBSET_FILES = {
  evaluation: 'arc-agi_evaluation_challenges_filtered_1B_eval_set.json',
  training: 'arc-agi_training_challenges_filtered_1B_training_set.json',
} as const;

/** The embedded challenges file of a 1B subset, or null when examples/ is not there. */
export function embeddedArcSubset(split: keyof typeof ARC_1B_SUBSET_FILES): string | null {
  const dir = embeddedArcDir();
  return dir === null ? null : join(dir, ARC_1B_SUBSET_FILES[split]);
}

/** The embedded SQuAD slice (the first 20 of the SEAL paper's 200 evaluation passages, with GPT-4.1's completions), or null. */
export function embeddedSquadSlice(): string | null {
  const dir = examplesDir();
  return dir === null ? null : join(dir, 'data', 'squad', 'gpt4_1_synthetic_val_first20.json');
}
