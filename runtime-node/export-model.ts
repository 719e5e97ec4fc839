/**
 * Writes a base model with a LoRA adapter merged in as a Hugging Face model directory: the merged safetensors
 * (sharded with model.safetensors.index.json when over the shard size), config.json (torch_dtype set to the export
 * dtype) and the base's tokenizer and other support files. Tensors stream to disk chunk by chunk (one merged block
 * in memory at a time). Atomic: the directory is written as a whole (durable-write.ts's StagedDir: a temporary
 * sibling, every file synced, renamed into place only when complete), so a crash or an error never leaves a
 * half-written model at `outDir`.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { GpuContext } from '../src/gpu/context.ts';
import type { LoraAdapter } from '../src/lora/adapter.ts';
import {
  DEFAULT_MAX_SHARD_BYTES,
  mergedCheckpointTensors,
  mergedConfigJson,
  planCheckpoint,
  type CheckpointFile,
  type MergedCheckpointOptions,
} from '../src/lora/merged-checkpoint.ts';
import { SAFETENSORS_INDEX } from '../src/model/hub-protocol.ts';
import { checkpointShards, readModelConfig } from '../src/inference/load-model.ts';
import { StagedDir } from './durable-write.ts';
import { checkModelDir, modelDirFiles } from './model-dir.ts';

/** The output directory cannot be used; the message says why. */
export class ExportError extends Error {}

export interface ExportMergedOptions extends MergedCheckpointOptions {
  /** Largest shard file in bytes (default 5e9, transformers' "5GB"). */
  maxShardBytes?: number;
  /** Called after each chunk with the bytes written so far and the total. */
  onProgress?: (written: number, total: number) => void;
}

export interface ExportedModel {
  dir: string;
  /** Files written, by name. */
  files: string[];
  /** Bytes of weights written (headers included). */
  weightBytes: number;
}

/** Weight files of the base that the merged checkpoint replaces (and large formats never copied). */
function isWeightFile(name: string): boolean {
  return /\.(safetensors|bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/.test(name) || name === SAFETENSORS_INDEX || name.endsWith('.index.json');
}

/** Throws unless `out` can be created: it must not exist, or be an empty directory. */
async function checkOutDir(out: string): Promise<void> {
  if (!existsSync(out)) return;
  const s = await stat(out);
  if (!s.isDirectory()) throw new ExportError(`${out} exists and is not a directory: choose a new output directory`);
  if ((await readdir(out)).length > 0) throw new ExportError(`${out} already exists and is not empty: choose a new output directory or remove it`);
}

/**
 * Merges `adapter` into the model in `modelDir` (a local HF directory) and writes the result to `outDir`. The
 * adapter must have been loaded for this model (same config); it stays owned by the caller.
 */
export async function exportMergedModel(
  ctx: GpuContext,
  modelDir: string,
  adapter: LoraAdapter,
  outDir: string,
  options: ExportMergedOptions = {},
): Promise<ExportedModel> {
  const src = checkModelDir(modelDir);
  const out = resolve(outDir);
  if (out === src) throw new ExportError(`the output directory ${out} is the model directory: choose a new one`);
  await checkOutDir(out);
  const files = modelDirFiles(src);
  const config = await readModelConfig(files);
  const plan = planCheckpoint(
    mergedCheckpointTensors(ctx, config, await checkpointShards(files), adapter, options),
    options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
  );

  const staged = await StagedDir.create(out);
  const tmp = staged.path;
  try {
    const written: string[] = [];
    const total = plan.files.reduce((s, f) => s + f.byteLength, 0);
    let done = 0;
    const onBytes = (n: number) => {
      done += n;
      options.onProgress?.(done, total);
    };
    for (const file of plan.files) {
      await writeCheckpointFile(join(tmp, file.name), file, onBytes);
      written.push(file.name);
    }
    if (plan.index !== null) {
      await writeFile(join(tmp, SAFETENSORS_INDEX), plan.index);
      written.push(SAFETENSORS_INDEX);
    }
    for (const entry of await readdir(src)) {
      if (entry.startsWith('.') || isWeightFile(entry) || !(await stat(join(src, entry))).isFile()) continue; // stat follows HF-cache symlinks
      if (entry === 'config.json') await writeFile(join(tmp, entry), mergedConfigJson(await readFile(join(src, entry), 'utf8'), options.dtype));
      else {
        await copyFile(join(src, entry), join(tmp, entry));
        await chmod(join(tmp, entry), 0o644); // not the read-only mode of HF-cache blobs
      }
      written.push(entry);
    }
    await staged.commit(); // replaces `out` only when it is an empty directory (checked above)
    return { dir: out, files: written.sort(), weightBytes: total };
  } finally {
    await staged.discard();
  }
}

/** One safetensors file: its header, then each tensor's chunks in order; checks every tensor's length (synced by the commit). */
async function writeCheckpointFile(path: string, file: CheckpointFile, onBytes: (n: number) => void): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await writeAll(handle, file.header);
    onBytes(file.header.byteLength);
    for (const tensor of file.tensors) {
      let got = 0;
      for await (const chunk of tensor.chunks()) {
        await writeAll(handle, chunk);
        got += chunk.byteLength;
        onBytes(chunk.byteLength);
      }
      if (got !== tensor.byteLength) throw new Error(`${path}: tensor '${tensor.name}' produced ${got} bytes, expected ${tensor.byteLength}`);
    }
  } finally {
    await handle.close();
  }
}

/** handle.write may write fewer bytes than asked: loop until all are written. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength; ) at += (await handle.write(bytes, at, bytes.byteLength - at)).bytesWritten;
}
