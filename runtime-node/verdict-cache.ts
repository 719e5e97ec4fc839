/**
 * The verdict cache as a file (in a run directory: judge-verdicts.json; or `seal knowledge grade --cache FILE`):
 * one JSON document, {"version": 1, "entries": [{judge, question, gold, prediction, reply}, ...]}, rewritten whole
 * through durable-write.ts, so a crash leaves the previous complete file, never a torn one. Stored replies are
 * written in the background as they arrive, one rewrite at a time (replies that arrive during a rewrite go into the
 * next); flush() waits for the last. Two processes sharing one file would each keep only their own entries: a run
 * directory's lock prevents that for runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { JudgeError } from '../src/domains/knowledge/judges/judge.ts';
import { type VerdictCache, type VerdictKey, verdictKeyString } from '../src/domains/knowledge/judges/verdict-cache.ts';
import { writeFileAtomic } from './durable-write.ts';

const VERSION = 1;

/** The cache's name in a run directory. */
export const VERDICT_CACHE_FILE = 'judge-verdicts.json';

interface Entry extends VerdictKey {
  reply: string;
}

export class FileVerdictCache implements VerdictCache {
  private readonly entries = new Map<string, Entry>();
  private dirty = false;
  private writing: Promise<void> | null = null;
  private failure: unknown = null;

  private constructor(readonly file: string) {}

  /** The cache kept in `file`: its entries when it exists (a malformed file is a JudgeError saying what to do), else empty. */
  static open(file: string): FileVerdictCache {
    const cache = new FileVerdictCache(file);
    if (existsSync(file)) {
      for (const entry of parseCacheFile(file, readFileSync(file, 'utf8'))) cache.entries.set(verdictKeyString(entry), entry);
    }
    return cache;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: VerdictKey): string | undefined {
    return this.entries.get(verdictKeyString(key))?.reply;
  }

  set(key: VerdictKey, reply: string): void {
    const { judge, question, gold, prediction } = key;
    this.entries.set(verdictKeyString(key), { judge, question, gold, prediction, reply });
    this.dirty = true;
    this.writing ??= this.writeWhileDirty();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure !== null) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
  }

  private async writeWhileDirty(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await writeFileAtomic(this.file, `${JSON.stringify({ version: VERSION, entries: [...this.entries.values()] })}\n`);
      }
    } catch (e) {
      this.failure = new JudgeError(`cannot write the verdict cache ${this.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      this.writing = null;
    }
  }
}

/** The entries of a cache file's text; anything else is a JudgeError naming the file. */
function parseCacheFile(file: string, text: string): Entry[] {
  const broken = (why: string) =>
    new JudgeError(`the verdict cache ${file} is not one seal wrote (${why}): move it away, or delete it to ask the graders again`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw broken(`not JSON: ${(e as Error).message}`);
  }
  const { version, entries } = (doc ?? {}) as { version?: unknown; entries?: unknown };
  if (version !== VERSION) throw broken(`version ${JSON.stringify(version)}, expected ${VERSION}`);
  if (!Array.isArray(entries)) throw broken('no entries list');
  entries.forEach((e, i) => {
    const fields = ['judge', 'question', 'gold', 'prediction', 'reply'] as const;
    const bad = fields.find((f) => typeof (e as Record<string, unknown> | null)?.[f] !== 'string');
    if (bad !== undefined) throw broken(`entry ${i} has no string ${bad}`);
  });
  return entries as Entry[];
}
