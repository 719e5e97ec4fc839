/** Per-file test fixtures for the hub tests (kept apart from fake-hub.ts, which the browser run's global setup imports too). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { FakeHub, repoFiles, type ServerOptions } from './fake-hub.ts';

/**
 * Per-file fixtures: temporary HF caches and fake hubs, stopped after each test and removed after the file
 * (registers its own afterEach/afterAll hooks; call it at the top level of a test file).
 */
export function hubFixtures(prefix: string): { tempCache: () => string; fakeHub: (options?: ServerOptions) => Promise<FakeHub> } {
  const tempDirs: string[] = [];
  const servers: FakeHub[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  afterAll(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    tempCache: () => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      tempDirs.push(dir);
      return dir;
    },
    fakeHub: async (options = {}) => {
      const hub = await new FakeHub(repoFiles(), options).start();
      servers.push(hub);
      return hub;
    },
  };
}
