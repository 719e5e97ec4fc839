/**
 * What the worker engine's browser tests share: the bundled stories260K and examples/arc-tiny as the test's Vite server
 * serves them, a self-edit as a card writes it, and an engine started in a module Worker with tiny0001 loaded.
 */
import type { ArcTaskView, ModelSource, SelfEditJson } from '../../runtime-browser/engine/api.ts';
import { createSealWorker, type SealWorker } from '../../runtime-browser/engine/client.ts';

export const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors'];
export const served = (path: string) => new URL(path, globalThis.location.origin).href;
export const MODEL: ModelSource = { kind: 'url', url: served('/examples/models/stories260K'), files: MODEL_FILES };

/** A self-edit as a card writes it. */
export const selfEdit = (learningRate: number, epochs: number, basic = true): SelfEditJson => ({
  data_generation: { use_basic_augmentations: basic, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
  training: { strategy: 'train_using_output_tokens', learning_rate: learningRate, num_train_epochs: epochs },
});

/** Starts the engine's worker (failing with the worker's own error if its module does not load) and loads tiny0001. */
export async function startEngine(): Promise<{ worker: Worker; engine: SealWorker; task: ArcTaskView }> {
  const worker = new Worker(new URL('../../runtime-browser/engine/worker.ts', import.meta.url), { type: 'module' });
  // A worker whose module fails to load answers nothing: fail with its error instead of waiting.
  const failed = new Promise<never>((_, reject) =>
    worker.addEventListener('error', (e) => reject(new Error(`the engine's worker failed to start: ${e.message || 'module load error'}`))),
  );
  const engine = createSealWorker(worker);
  await Promise.race([engine.info(), failed]);
  const [challenges, solutions] = await Promise.all(
    ['tiny_challenges.json', 'tiny_solutions.json'].map(async (f) => (await fetch(served(`/examples/arc-tiny/${f}`))).text()),
  );
  const task = (await engine.loadTasks(challenges!, solutions!, ['tiny0001']))[0]!;
  return { worker, engine, task };
}
