/**
 * A local Hugging Face model directory (config.json, model.safetensors or a sharded index, tokenizer files) loaded
 * onto the GPU. Every missing piece fails up front with a message naming the path and what to do about it.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { GpuContext } from '../src/gpu/context.ts';
import {
  checkpointShards,
  loadModel,
  ModelLoadError,
  readModelConfig,
  readTokenizer,
  type LoadedModel as LoadedFiles,
  type ModelFiles,
} from '../src/inference/load-model.ts';
import type { ModelConfig } from '../src/model/config.ts';
import type { TransformerOptions } from '../src/inference/transformer.ts';
import type { TextTokenizer } from '../src/text/tokenizer.ts';
import { fileSource } from './file-source.ts';
import { isHubId, resolveHubModel, type HubOptions } from './hub.ts';
import { createProgressBar } from './progress.ts';

/** A model directory could not be used; the message says which file and what to do. */
export class ModelDirError extends Error {}

export interface LoadedModel extends LoadedFiles {
  /** The absolute model directory. */
  dir: string;
}

/** Throws a ModelDirError unless `dir` is an existing directory (hub ids get their own message). */
export function checkModelDir(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) {
    if (isHubId(dir)) {
      throw new ModelDirError(
        `'${dir}' is not a local directory but looks like a Hugging Face Hub id: resolve it first with resolveModel() (the seal CLI does this for --model)`,
      );
    }
    throw new ModelDirError(`model directory ${abs} does not exist: pass --model with a local Hugging Face model directory or a Hub id org/name[@revision]`);
  }
  if (!statSync(abs).isDirectory())
    throw new ModelDirError(`${abs} is not a directory: pass the folder that holds config.json, model.safetensors and tokenizer.json`);
  return abs;
}

/**
 * A --model argument as a local directory: an existing path is used as is; otherwise an id org/name[@revision] is
 * resolved through the Hugging Face Hub cache (downloading what is missing). Anything else fails like checkModelDir.
 */
export async function resolveModel(model: string, hub: HubOptions = {}): Promise<string> {
  if (existsSync(resolve(model)) || !isHubId(model)) return checkModelDir(model);
  return resolveHubModel(model, hub);
}

/** resolveModel for the CLI: a Hub id downloads with a byte progress bar on stderr. */
export async function resolveModelWithProgress(model: string): Promise<string> {
  const bar = createProgressBar({ label: model });
  try {
    return await resolveModel(model, { onProgress: (p) => bar.update(p) });
  } finally {
    bar.finish();
  }
}

/** The files of a local directory: text via readFile, bytes via positioned reads; null for a file that does not exist. */
export function modelDirFiles(dir: string): ModelFiles {
  return {
    where: dir,
    text: async (name) => {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    source: async (name) => (existsSync(join(dir, name)) ? fileSource(join(dir, name)) : null),
  };
}

/** The model's config.json (with generation_config.json's EOS ids), checked; a broken one is a ModelLoadError. */
export function readModelDirConfig(dir: string): Promise<ModelConfig> {
  return readModelConfig(modelDirFiles(checkModelDir(dir)));
}

/**
 * Checks the safetensors headers of the directory's checkpoint against `config` (every weight there, in its shape)
 * without reading the weights: a broken checkpoint fails before a device starts or an output is touched.
 */
export async function checkModelWeights(dir: string, config: ModelConfig): Promise<void> {
  await checkpointShards(modelDirFiles(checkModelFiles(dir)), config);
}

/** Only the tokenizer (tokenizer.json + tokenizer_config.json + generation_config.json): no GPU needed. */
export async function loadModelTokenizer(dir: string): Promise<TextTokenizer> {
  const abs = checkModelDir(dir);
  if (!existsSync(join(abs, 'tokenizer.json'))) {
    throw new ModelDirError(
      `${join(abs, 'tokenizer.json')} is missing: the model directory needs the Hugging Face tokenizer.json (download it with the model)`,
    );
  }
  return readTokenizer(modelDirFiles(abs));
}

/** Checks (without reading them) that the directory has config.json, tokenizer.json and safetensors weights; returns its absolute path. */
export function checkModelFiles(dir: string): string {
  const abs = checkModelDir(dir);
  const configPath = join(abs, 'config.json');
  if (!existsSync(configPath))
    throw new ModelDirError(`${configPath} is missing: pass a Hugging Face model directory (it holds config.json, model.safetensors, tokenizer.json)`);
  if (!existsSync(join(abs, 'tokenizer.json'))) {
    throw new ModelDirError(
      `${join(abs, 'tokenizer.json')} is missing: the model directory needs the Hugging Face tokenizer.json (download it with the model)`,
    );
  }
  if (!existsSync(join(abs, 'model.safetensors')) && !existsSync(join(abs, 'model.safetensors.index.json'))) {
    throw new ModelDirError(
      `no weights in ${abs}: expected model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; convert .bin/.pth files first)`,
    );
  }
  return abs;
}

/** Loads config, tokenizer, chat template and weights of a local model directory and builds its Transformer; dispose() frees the GPU side. */
export async function loadModelDir(ctx: GpuContext, dir: string, options: TransformerOptions = {}): Promise<LoadedModel> {
  const abs = checkModelFiles(dir);
  try {
    return { dir: abs, ...(await loadModel(ctx, modelDirFiles(abs), options)) };
  } catch (e) {
    // Missing or malformed files keep the error class callers (the CLI) know; the message already names the path.
    if (e instanceof ModelLoadError) throw new ModelDirError(e.message, { cause: e });
    throw e;
  }
}
