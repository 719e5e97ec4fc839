/**
 * A local Hugging Face model directory (config.json, model.safetensors or a sharded index, tokenizer files) loaded
 * onto the GPU. Every missing piece fails up front with a message naming the path and what to do about it.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { GpuContext } from '../src/gpu/context.ts';
import { parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import { parseSafetensorsHeader } from '../src/model/safetensors.ts';
import { Transformer, type TransformerOptions } from '../src/model/transformer.ts';
import { loadWeights, type CheckpointShard, type ModelWeights } from '../src/model/weights.ts';
import { loadTextTokenizer, type TextTokenizer } from '../src/text/tokenizer.ts';
import { fileSource, readJsonFile } from './file-source.ts';
import { isHubId, resolveHubModel, type HubOptions } from './hub.ts';

/** A model directory could not be used; the message says which file and what to do. */
export class ModelDirError extends Error {}

export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  tokenizer: TextTokenizer;
  weights: ModelWeights;
  transformer: Transformer;
  dispose(): void;
}

/** Throws a ModelDirError unless `dir` is an existing directory (hub ids get their own message). */
export function checkModelDir(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) {
    if (isHubId(dir)) {
      throw new ModelDirError(`'${dir}' is not a local directory but looks like a Hugging Face Hub id: resolve it first with resolveModel() (the seal CLI does this for --model)`);
    }
    throw new ModelDirError(`model directory ${abs} does not exist: pass --model with a local Hugging Face model directory or a Hub id org/name[@revision]`);
  }
  if (!statSync(abs).isDirectory()) throw new ModelDirError(`${abs} is not a directory: pass the folder that holds config.json, model.safetensors and tokenizer.json`);
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

/** Reads `dir/fileName` as text, null when it does not exist. */
function dirReader(dir: string): (fileName: string) => Promise<string | null> {
  return async (fileName) => {
    try {
      return await readFile(join(dir, fileName), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
}

/** Only the tokenizer (tokenizer.json + tokenizer_config.json + generation_config.json): no GPU needed. */
export async function loadModelTokenizer(dir: string): Promise<TextTokenizer> {
  const abs = checkModelDir(dir);
  if (!existsSync(join(abs, 'tokenizer.json'))) {
    throw new ModelDirError(`${join(abs, 'tokenizer.json')} is missing: the model directory needs the Hugging Face tokenizer.json (download it with the model)`);
  }
  return loadTextTokenizer(dirReader(abs), abs);
}

/** The checkpoint's safetensors files: model.safetensors, else the shards named by model.safetensors.index.json. */
async function checkpointShards(dir: string): Promise<CheckpointShard[]> {
  const single = join(dir, 'model.safetensors');
  let files: string[];
  if (existsSync(single)) files = [single];
  else {
    const indexPath = join(dir, 'model.safetensors.index.json');
    if (!existsSync(indexPath)) {
      throw new ModelDirError(`no weights in ${dir}: expected model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; convert .bin/.pth files first)`);
    }
    const index = (await readJsonFile(indexPath)) as { weight_map?: unknown };
    const map = index.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new ModelDirError(`${indexPath} has no "weight_map" object`);
    files = [...new Set(Object.values(map as Record<string, unknown>))].map((f) => {
      if (typeof f !== 'string') throw new ModelDirError(`${indexPath}: weight_map values must be file names, got ${JSON.stringify(f)}`);
      const p = join(dir, f);
      if (!existsSync(p)) throw new ModelDirError(`${p} is missing: ${indexPath} lists it as a shard of the checkpoint`);
      return p;
    });
  }
  return Promise.all(files.map(async (path) => {
    const source = fileSource(path);
    return { source, header: await parseSafetensorsHeader(source) };
  }));
}

/** Checks (without reading them) that the directory has config.json, tokenizer.json and safetensors weights; returns its absolute path. */
export function checkModelFiles(dir: string): string {
  const abs = checkModelDir(dir);
  const configPath = join(abs, 'config.json');
  if (!existsSync(configPath)) throw new ModelDirError(`${configPath} is missing: pass a Hugging Face model directory (it holds config.json, model.safetensors, tokenizer.json)`);
  if (!existsSync(join(abs, 'tokenizer.json'))) {
    throw new ModelDirError(`${join(abs, 'tokenizer.json')} is missing: the model directory needs the Hugging Face tokenizer.json (download it with the model)`);
  }
  if (!existsSync(join(abs, 'model.safetensors')) && !existsSync(join(abs, 'model.safetensors.index.json'))) {
    throw new ModelDirError(`no weights in ${abs}: expected model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; convert .bin/.pth files first)`);
  }
  return abs;
}

/** Loads config, tokenizer and weights of a local model directory and builds its Transformer; dispose() frees the GPU side. */
export async function loadModelDir(ctx: GpuContext, dir: string, options: TransformerOptions = {}): Promise<LoadedModel> {
  const abs = checkModelFiles(dir);
  const configPath = join(abs, 'config.json');
  const genPath = join(abs, 'generation_config.json');
  const config = parseModelConfig(await readJsonFile(configPath), existsSync(genPath) ? await readJsonFile(genPath) : undefined);
  const tokenizer = await loadModelTokenizer(abs);
  const shards = await checkpointShards(abs);
  const weights = await loadWeights(ctx, config, shards);
  const transformer = new Transformer(ctx, config, weights, options);
  return {
    dir: abs,
    config,
    tokenizer,
    weights,
    transformer,
    dispose() {
      transformer.dispose();
      weights.dispose();
    },
  };
}
