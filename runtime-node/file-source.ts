/** node:fs implementations of the model-file inputs. */
import { open, readFile, stat } from 'node:fs/promises';
import type { ByteSource } from '../src/model/byte-source.ts';

/** A ByteSource reading a local file with positioned reads (one open handle per read: no handle to leak). */
export function fileSource(path: string): ByteSource {
  return {
    name: path,
    size: async () => (await stat(path)).size,
    read: async (offset, length) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`${path}: bad read range offset=${offset} length=${length}`);
      }
      const handle = await open(path, 'r');
      try {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new Error(`${path}: unexpected end of file reading ${length} bytes at offset ${offset} (got ${done})`);
          done += bytesRead;
        }
        return out;
      } finally {
        await handle.close();
      }
    },
  };
}

/** Reads and parses a JSON file, naming the file when it is not valid JSON. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}
