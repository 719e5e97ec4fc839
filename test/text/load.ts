/** Node-only helpers for the text tests: read a model directory from ../shared. */
import { readFile } from 'node:fs/promises';
import { loadTextTokenizer, type TextTokenizer } from '../../src/text/tokenizer.ts';
import { SHARED_DIR } from '../harness/shared.ts';

export const SHARED = SHARED_DIR;
export const LLAMA_DIR = `${SHARED}tokenizers/Llama-3.2-1B-Instruct`;
export const QWEN_DIR = `${SHARED}tokenizers/Qwen2.5-0.5B-Instruct`;
export const STORIES_DIR = `${SHARED}models/stories260K`;

/** Reads `dir/fileName`, null when it does not exist. */
export function dirReader(dir: string): (fileName: string) => Promise<string | null> {
  return async (fileName) => {
    try {
      return await readFile(`${dir}/${fileName}`, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
}

export function loadDir(dir: string): Promise<TextTokenizer> {
  return loadTextTokenizer(dirReader(dir), dir);
}

export async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}
