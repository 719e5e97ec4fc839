/**
 * One process resolving the test repo through the Hub cache, for the download-lock test: `node --import tsx
 * test/hub/resolve-child.ts <endpoint> <cacheDir> <lockStaleMs>`. Prints one JSON line: the snapshot, whether it
 * waited for another process (a progress note), and the warnings it got.
 */
import { resolveHubModel } from '../../runtime-node/hub.ts';
import { REPO } from './fake-hub.ts';

const [endpoint, cacheDir, staleMs] = process.argv.slice(2);
const notes = new Set<string>();
const warnings: string[] = [];
let last = { bytes: 0, total: 0 };
const snapshot = await resolveHubModel(REPO, {
  endpoint,
  cacheDir,
  token: '',
  offline: false,
  lockStaleMs: Number(staleMs),
  onProgress: (p) => {
    const note = p.file.match(/\((.*)\)$/)?.[1];
    if (note) notes.add(note);
    last = p;
  },
  onWarning: (message) => warnings.push(message),
});
console.log(JSON.stringify({ pid: process.pid, snapshot, notes: [...notes], warnings, bytes: last.bytes, total: last.total }));
