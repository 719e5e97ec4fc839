/**
 * Paths into ../shared (models, tokenizers, data beside the checkout; never committed). Node-only. SEAL_SHARED overrides
 * the location; a missing folder is an error that says where it was looked for, never a skip.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.env.SEAL_SHARED ?? fileURLToPath(new URL('../../../shared/', import.meta.url));
/** Always ends with a slash. */
export const SHARED_DIR = dir.endsWith('/') ? dir : `${dir}/`;

export function sharedPath(relative: string): string {
  const p = join(SHARED_DIR, relative);
  if (!existsSync(p)) {
    throw new Error(`test data missing: ${p}. The tests read models and tokenizers from ../shared beside the checkout (or set SEAL_SHARED).`);
  }
  return p;
}
