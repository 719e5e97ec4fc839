/**
 * A random-access byte source: a local file, an HTTP range reader or an OPFS file. Model loaders read through
 * this so src/ stays runtime-free and never has to hold a whole multi-GB file in memory.
 */
export interface ByteSource {
  /** For error messages (a path or URL). */
  readonly name: string;
  /** Total length in bytes. */
  size(): Promise<number>;
  /** Exactly `length` bytes starting at `offset`; implementations throw rather than return fewer. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes already in memory (tests, small files, fetched blobs). */
export function memorySource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: async () => bytes.byteLength,
    read: async (offset, length) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.byteLength) {
        throw new RangeError(`${name}: cannot read ${length} bytes at offset ${offset} from ${bytes.byteLength} bytes`);
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** source.read, checked: a short read means a truncated or changing file, which must not pass silently. */
export async function readExact(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.byteLength !== length) {
    throw new Error(`${source.name}: short read, wanted ${length} bytes at offset ${offset}, got ${bytes.byteLength} (file truncated?)`);
  }
  return bytes;
}
