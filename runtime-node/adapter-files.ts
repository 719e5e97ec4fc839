/**
 * PEFT adapter directories on disk (adapter_config.json + adapter_model.safetensors). Saving writes the directory as
 * a whole (durable-write.ts): a reader sees the old adapter or the new one, config and weights always from the same
 * save, and a crash or an error never leaves a half-written adapter. The format work is src/lora/peft-format.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelConfig } from '../src/model/config.ts';
import type { LoraHostWeights } from '../src/lora/host-weights.ts';
import {
  parsePeftAdapter,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
  serializePeftAdapter,
  type ParsedPeftAdapter,
  type PeftParseOptions,
  type PeftSaveOptions,
} from '../src/lora/peft-format.ts';
import { writeDirAtomic } from './durable-write.ts';

/** An adapter directory could not be read or written; the message names the path and the problem. */
export class AdapterDirError extends Error {}

/** What `seal sft` writes into an adapter directory besides the two PEFT files. */
export const ADAPTER_DIR_EXTRAS: readonly string[] = ['loss.jsonl', 'init', 'README.md'];

/**
 * Throws unless `dir` may receive an adapter: it does not exist, is empty, already holds an adapter
 * (adapter_config.json), or holds only what a training run puts there. Anything else is someone's data.
 */
export async function checkAdapterOutputDir(dir: string): Promise<string> {
  const abs = resolve(dir);
  if (!existsSync(abs)) return abs;
  if (!statSync(abs).isDirectory()) throw new AdapterDirError(`${abs} exists and is not a directory: choose another adapter output path`);
  const entries = await readdir(abs);
  const known = new Set([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, ...ADAPTER_DIR_EXTRAS]);
  if (!entries.includes(PEFT_CONFIG_FILE) && entries.some((e) => !known.has(e))) {
    throw new AdapterDirError(
      `${abs} is not empty and is not an adapter directory (no ${PEFT_CONFIG_FILE}): refusing to overwrite it; choose another output path`,
    );
  }
  return abs;
}

/**
 * Writes the two PEFT files of `weights` into the directory `dir` (which exists), with plain writes: for a directory
 * being staged (StagedDir), whose commit syncs them. Anything else saves with saveAdapterDir.
 */
export async function writeAdapterFiles(dir: string, weights: LoraHostWeights, options: PeftSaveOptions): Promise<void> {
  const files = serializePeftAdapter(weights, options);
  await writeFile(join(dir, PEFT_WEIGHTS_FILE), files.weights);
  await writeFile(join(dir, PEFT_CONFIG_FILE), files.config);
}

/**
 * Writes `weights` as the PEFT adapter directory `dir`, as a whole: a new `dir` appears complete; an existing one
 * (see checkAdapterOutputDir) is replaced entirely, so no file of an earlier adapter survives beside the new ones.
 */
export async function saveAdapterDir(dir: string, weights: LoraHostWeights, options: PeftSaveOptions): Promise<string> {
  const abs = await checkAdapterOutputDir(dir);
  try {
    await writeDirAtomic(abs, (staged) => writeAdapterFiles(staged, weights, options));
  } catch (e) {
    throw new AdapterDirError(`could not write the adapter to ${abs}: ${(e as Error).message}`, { cause: e });
  }
  return abs;
}

/**
 * Reads and validates the PEFT adapter in `dir` against the model's config: host weights (A, B per module, f32),
 * the LoRA config and the base model it was trained on.
 */
export async function loadAdapterDir(dir: string, model: ModelConfig, options: PeftParseOptions = {}): Promise<ParsedPeftAdapter> {
  const abs = resolve(dir);
  if (!existsSync(abs))
    throw new AdapterDirError(`adapter directory ${abs} does not exist: pass a PEFT adapter directory (${PEFT_CONFIG_FILE} + ${PEFT_WEIGHTS_FILE})`);
  if (!statSync(abs).isDirectory())
    throw new AdapterDirError(`${abs} is not a directory: pass the folder that holds ${PEFT_CONFIG_FILE} and ${PEFT_WEIGHTS_FILE}`);
  const read = async <T>(name: string, how: (p: string) => Promise<T>): Promise<T> => {
    const path = join(abs, name);
    if (!existsSync(path)) throw new AdapterDirError(`${path} is missing: ${abs} is not a complete PEFT adapter directory`);
    return how(path);
  };
  const config = await read(PEFT_CONFIG_FILE, (p) => readFile(p, 'utf8'));
  const bytes = await read(PEFT_WEIGHTS_FILE, (p) => readFile(p));
  try {
    return await parsePeftAdapter(model, { config, weights: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) }, options);
  } catch (e) {
    throw new AdapterDirError(`adapter ${abs}: ${(e as Error).message}`, { cause: e });
  }
}
