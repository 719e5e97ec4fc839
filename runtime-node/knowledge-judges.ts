/**
 * The knowledge judges of a spec list, made ready in Node: `model:` judges resolved (a Hub id downloads once into
 * the Hugging Face cache), checked and loaded onto the GPU; `openai:` judges given Node's fetch and the endpoint
 * from OPENAI_API_KEY / OPENAI_BASE_URL, with a missing key reported before anything else starts. Used by
 * `seal knowledge grade` and by the knowledge runs.
 */
import type { GpuContext } from '../src/gpu/context.ts';
import { type Judge, type JudgeSpec, ModelJudge, OpenAiJudge, type RetryNotice, SquadJudge, type VerdictCache } from '../src/domains/knowledge/judges/index.ts';
import { type ChatTemplateFile, chatTemplateFor } from './chat-template-flag.ts';
import { createNodeContext, type NodeDeviceOptions } from './device.ts';
import { checkModelFiles, checkModelWeights, loadModelDir, readModelDirConfig, resolveModelWithProgress, type LoadedModel } from './model-dir.ts';

export interface OpenJudgesOptions {
  /** Where model: and openai: judges cache their replies (a run's judge-verdicts.json); default none. */
  cache?: VerdictCache;
  /** The device model judges load onto; without one, one is created (with `device`) when a model judge needs it. */
  context?: GpuContext;
  device?: NodeDeviceOptions;
  /** model: judges: reply tokens at most, sequences at once, a chat template instead of the model's. */
  modelJudge?: { maxNewTokens?: number; maxBatch?: number; chatTemplate?: ChatTemplateFile };
  /** openai: judges: requests in flight at most; told of each retry. */
  openaiJudge?: { concurrency?: number; onRetry?: (judge: string, notice: RetryNotice) => void };
  /** Where OPENAI_API_KEY and OPENAI_BASE_URL are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface OpenedJudges {
  /** In the specs' order. */
  readonly judges: readonly Judge[];
  /** Frees the models loaded (and the device created) for model judges. */
  close(): void;
}

/**
 * The judges of `specs`. Everything that can fail without the GPU (a missing key, a model directory that is not
 * one) fails before any model is loaded; on failure nothing stays loaded.
 */
export async function openJudges(specs: readonly JudgeSpec[], options: OpenJudgesOptions = {}): Promise<OpenedJudges> {
  const env = options.env ?? process.env;
  const { cache } = options;
  // Cheap checks first: constructing an OpenAiJudge checks its key.
  const openai = new Map<JudgeSpec, Judge>();
  for (const spec of specs) {
    if (spec.kind !== 'openai') continue;
    const onRetry = options.openaiJudge?.onRetry;
    openai.set(
      spec,
      new OpenAiJudge({
        model: spec.model,
        apiKey: env.OPENAI_API_KEY,
        baseUrl: env.OPENAI_BASE_URL,
        fetch: (url, init) => fetch(url, init),
        concurrency: options.openaiJudge?.concurrency,
        cache,
        onRetry: onRetry && ((notice) => onRetry(spec.name, notice)),
      }),
    );
  }
  const modelDirs = new Map<JudgeSpec, string>();
  for (const spec of specs) {
    if (spec.kind !== 'model') continue;
    const dir = checkModelFiles(await resolveModelWithProgress(spec.model));
    await checkModelWeights(dir, await readModelDirConfig(dir));
    modelDirs.set(spec, dir);
  }

  const loaded: LoadedModel[] = [];
  let ownContext: GpuContext | null = null;
  const close = () => {
    for (const model of loaded) model.dispose();
    ownContext?.dispose();
  };
  try {
    const judges: Judge[] = [];
    for (const spec of specs) {
      if (spec.kind === 'squad') judges.push(new SquadJudge(spec.rule));
      else if (spec.kind === 'openai') judges.push(openai.get(spec)!);
      else {
        const dir = modelDirs.get(spec)!;
        if (!options.context && !ownContext) ownContext = await createNodeContext(options.device);
        const ctx = options.context ?? ownContext!;
        const model = await loadModelDir(ctx, dir);
        loaded.push(model);
        const chat = chatTemplateFor(model.chatTemplate, model.tokenizer.config, options.modelJudge?.chatTemplate, 'none');
        judges.push(
          new ModelJudge({
            name: spec.name,
            // The resolved directory (a Hub snapshot's names its revision): another checkpoint is another grader.
            id: `model:${dir}`,
            transformer: model.transformer,
            tokenizer: model.tokenizer,
            chatTemplate: chat?.template ?? null,
            maxNewTokens: options.modelJudge?.maxNewTokens,
            maxBatch: options.modelJudge?.maxBatch,
            cache,
          }),
        );
      }
    }
    return { judges, close };
  } catch (e) {
    close();
    throw e;
  }
}
