/**
 * What the demo ships from examples/ (copied into the site by demo/vite.config.ts, fetched at run time): the
 * stories260K model and the ARC task files. Paths are relative to examples/.
 */
export const BUNDLED_MODEL_DIR = 'models/stories260K/';

/** The stories260K files that loading reads. */
export const BUNDLED_MODEL_LOADED_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'model.safetensors',
] as const;

/** Everything of its directory the site ships (with its licence and provenance). */
export const BUNDLED_MODEL_FILES = [...BUNDLED_MODEL_LOADED_FILES, 'tokenizer.model', 'LICENSE', 'PROVENANCE.md'] as const;

/** A bundled ARC challenges file with its solutions. */
export interface BundledTaskSet {
  key: string;
  label: string;
  challenges: string;
  solutions: string;
}

export const BUNDLED_TASK_SETS: readonly BundledTaskSet[] = [
  {
    key: 'tiny',
    label: 'Tiny 2x2 tasks (fit stories260K)',
    challenges: 'arc-tiny/tiny_challenges.json',
    solutions: 'arc-tiny/tiny_solutions.json',
  },
  {
    key: 'seal-1b-training',
    label: 'SEAL 1B training set',
    challenges: 'data/arc/arc-agi_training_challenges_filtered_1B_training_set.json',
    solutions: 'data/arc/arc-agi_training_solutions_filtered_1B_training_set.json',
  },
  {
    key: 'seal-1b-evaluation',
    label: 'SEAL 1B evaluation set',
    challenges: 'data/arc/arc-agi_evaluation_challenges_filtered_1B_eval_set.json',
    solutions: 'data/arc/arc-agi_evaluation_solutions_filtered_1B_eval_set.json',
  },
];

export const BUNDLED_FILES: readonly string[] = [
  ...BUNDLED_MODEL_FILES.map((f) => BUNDLED_MODEL_DIR + f),
  ...BUNDLED_TASK_SETS.flatMap((s) => [s.challenges, s.solutions]),
  'data/arc/LICENSE',
];

/** The URL of a bundled file, relative to the page (works under any base path). */
export function bundledUrl(file: string): string {
  return new URL(`examples/${file}`, document.baseURI).href;
}
