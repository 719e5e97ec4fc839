/** A knowledge data file (SQuAD passages) for the knowledge commands: --data, or the package's embedded slice. */
import { readFileSync } from 'node:fs';
import { parseSquadDataset, type SquadDataset } from '../src/domains/knowledge/index.ts';
import { embeddedSquadSlice } from './examples.ts';
import { UsageError } from './flags.ts';

/**
 * The data file of `flag` (--data, or another flag naming a file in that format), or for --data without a file the
 * embedded slice; read and validated (KnowledgeDataError names what is wrong).
 */
export function loadKnowledgeData(file: string | undefined, flag = '--data'): SquadDataset {
  const path = file ?? embeddedSquadSlice();
  if (path === null) throw new UsageError(`no ${flag} given and the package's examples/data/squad is missing: pass ${flag} FILE`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSquadDataset(text, path);
}
