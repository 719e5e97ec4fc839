/**
 * A Hugging Face model loaded from its files, wherever they live: a ModelFiles hands out each file as text or as a
 * ByteSource (a local directory in Node; OPFS or Cache Storage blobs in the browser). This parses config.json and
 * generation_config.json, loads the tokenizer and chat template, parses the safetensors header of model.safetensors
 * or of every shard the index names, streams the weights to the GPU and builds the Transformer.
 */
import type { GpuContext } from '../gpu/context.ts';
import { DeviceLostError, GpuUnavailableError, GpuValidationError } from '../gpu/errors.ts';
import { ChatTemplate } from '../text/chat-template.ts';
import { oneLine } from '../util/one-line.ts';
import { loadTextTokenizer, TokenizerLoadError, type TextTokenizer } from '../text/tokenizer.ts';
import type { ByteSource } from '../model/byte-source.ts';
import { checkWeights, parseModelConfig, type ModelConfig } from '../model/config.ts';
import { SAFETENSORS_INDEX, shardNames } from '../model/hub-protocol.ts';
import { parseSafetensorsHeader } from '../model/safetensors.ts';
import { Transformer, type TransformerOptions } from './transformer.ts';
import { loadWeights, type CheckpointShard, type ModelWeights } from '../model/weights.ts';

/** The files of one model. Names are repo-relative ("config.json", "model-00001-of-00002.safetensors"). */
export interface ModelFiles {
  /** Where the files are, for messages: a directory, or a repo id. */
  readonly where: string;
  /** The file's text, or null when the model has no such file. */
  text(name: string): Promise<string | null>;
  /** The file as a ByteSource (read in ranges, never held whole), or null when the model has no such file. */
  source(name: string): Promise<ByteSource | null>;
}

/** A model's files are missing or malformed; the message names the file and says what to do about it. */
export class ModelLoadError extends Error {}

/** What to do about a file that is there but wrong (cut short by a download, edited, from another model). */
const REDOWNLOAD = 'download the model again (all of its files, from one revision)';

/**
 * Runs one parsing step of the loader; a failure that is not the GPU's (those keep their class) becomes a
 * ModelLoadError naming `file` and ending with `fix`.
 */
async function fileStep<T>(file: string, fix: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof ModelLoadError || e instanceof GpuUnavailableError || e instanceof DeviceLostError || e instanceof GpuValidationError) throw e;
    const message = oneLine((e as Error).message.replace(/^model config: /, ''));
    throw new ModelLoadError(`${message.includes(file) ? message : `${file}: ${message}`}; ${fix}`, { cause: e });
  }
}

export interface LoadedModel {
  config: ModelConfig;
  tokenizer: TextTokenizer;
  /** chat_template.jinja, else tokenizer_config.json's chat_template; null for a model without one (a base model). */
  chatTemplate: ChatTemplate | null;
  weights: ModelWeights;
  transformer: Transformer;
  /** Frees the GPU side (transformer and weights). */
  dispose(): void;
}

function path(files: ModelFiles, name: string): string {
  return `${files.where}/${name}`;
}

async function readJson(files: ModelFiles, name: string): Promise<unknown> {
  const text = await files.text(name);
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${path(files, name)}: not valid JSON (${(e as Error).message}); ${REDOWNLOAD}`);
  }
}

/** config.json (required) with the EOS ids of generation_config.json (optional). */
export async function readModelConfig(files: ModelFiles): Promise<ModelConfig> {
  const config = await readJson(files, 'config.json');
  if (config === undefined) throw new ModelLoadError(`${path(files, 'config.json')} is missing: a Hugging Face model needs its config.json`);
  const generation = await readJson(files, 'generation_config.json');
  return fileStep(path(files, 'config.json'), `use a model of a supported architecture, or ${REDOWNLOAD}`, async () => parseModelConfig(config, generation));
}

/** tokenizer.json with tokenizer_config.json and generation_config.json. */
export async function readTokenizer(files: ModelFiles): Promise<TextTokenizer> {
  try {
    return await loadTextTokenizer((name) => files.text(name), files.where);
  } catch (e) {
    if (e instanceof TokenizerLoadError) throw new TokenizerLoadError(`${e.message}; ${REDOWNLOAD}`);
    throw e;
  }
}

/** chat_template.jinja (how newer checkpoints ship it), else tokenizer_config.json's chat_template, else null. */
export async function readChatTemplate(files: ModelFiles, tokenizer: TextTokenizer): Promise<ChatTemplate | null> {
  const jinja = await files.text('chat_template.jinja');
  if (jinja !== null) return new ChatTemplate(tokenizer.config, { template: jinja });
  return ChatTemplate.has(tokenizer.config) ? new ChatTemplate(tokenizer.config) : null;
}

/**
 * The checkpoint's safetensors files with parsed headers: model.safetensors, else every shard the index names. With
 * `config`, the headers are also checked to hold every weight it expects, in its shape (no GPU needed).
 */
export async function checkpointShards(files: ModelFiles, config?: ModelConfig): Promise<CheckpointShard[]> {
  const single = await files.source('model.safetensors');
  let sources: ByteSource[];
  if (single !== null) sources = [single];
  else {
    const indexText = await files.text(SAFETENSORS_INDEX);
    if (indexText === null) {
      throw new ModelLoadError(
        `no weights in ${files.where}: expected model.safetensors or ${SAFETENSORS_INDEX} (only safetensors checkpoints are supported; convert .bin/.pth files first)`,
      );
    }
    let names: string[];
    try {
      names = shardNames(JSON.parse(indexText), path(files, SAFETENSORS_INDEX));
    } catch (e) {
      throw new ModelLoadError(e instanceof SyntaxError ? `${path(files, SAFETENSORS_INDEX)}: not valid JSON (${e.message})` : (e as Error).message);
    }
    sources = await Promise.all(
      names.map(async (name) => {
        const source = await files.source(name);
        if (source === null)
          throw new ModelLoadError(`${path(files, name)} is missing: ${path(files, SAFETENSORS_INDEX)} lists it as a shard of the checkpoint`);
        return source;
      }),
    );
  }
  const shards = await Promise.all(
    sources.map(async (source) => ({ source, header: await fileStep(source.name, REDOWNLOAD, () => parseSafetensorsHeader(source)) })),
  );
  if (config) {
    const headers = shards.map((s) => s.header);
    await fileStep(sources.map((s) => s.name).join(', '), REDOWNLOAD, async () => checkWeights(config, headers));
  }
  return shards;
}

/** Loads config, tokenizer, chat template and weights and builds the Transformer; dispose() frees the GPU side. */
export async function loadModel(ctx: GpuContext, files: ModelFiles, options: TransformerOptions = {}): Promise<LoadedModel> {
  const config = await readModelConfig(files);
  const tokenizer = await readTokenizer(files);
  const chatTemplate = await readChatTemplate(files, tokenizer);
  const shards = await checkpointShards(files, config);
  // A short read: the file changed since its header was read.
  const weights = await fileStep(shards.map((s) => s.source.name).join(', '), REDOWNLOAD, () => loadWeights(ctx, config, shards));
  let transformer: Transformer;
  try {
    transformer = new Transformer(ctx, config, weights, options);
  } catch (e) {
    weights.dispose();
    throw e;
  }
  return {
    config,
    tokenizer,
    chatTemplate,
    weights,
    transformer,
    dispose() {
      transformer.dispose();
      weights.dispose();
    },
  };
}
