/**
 * Model files held as Blobs (OPFS Files, Cache Storage bodies, or memory). Every read is blob.slice(a, b), so a
 * multi-GB checkpoint is read range by range and never sits whole in JS memory.
 */
import type { ByteSource } from '../src/model/byte-source.ts';
import type { ModelFiles } from '../src/inference/load-model.ts';

/** A ByteSource over a Blob or File. */
export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: async () => blob.size,
    read: async (offset, length) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > blob.size) {
        throw new RangeError(`${name}: cannot read ${length} bytes at offset ${offset} from ${blob.size} bytes`);
      }
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.byteLength !== length)
        throw new Error(`${name}: short read, wanted ${length} bytes at offset ${offset}, got ${bytes.byteLength} (file changed?)`);
      return bytes;
    },
  };
}

/** ModelFiles over blobs keyed by repo-relative name (`where` names them in messages, e.g. the repo id). */
export function blobModelFiles(blobs: ReadonlyMap<string, Blob>, where: string): ModelFiles {
  return {
    where,
    text: async (name) => (await blobs.get(name)?.text()) ?? null,
    source: async (name) => {
      const blob = blobs.get(name);
      return blob === undefined ? null : blobSource(blob, `${where}/${name}`);
    },
  };
}
