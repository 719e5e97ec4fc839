/**
 * A sharded checkpoint through the Hub cache: the index is fetched first and names the shards; only those are
 * downloaded (never a consolidated copy beside them), and the snapshot loads to the same logits as the single file.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveHubModel, type DownloadProgress } from '../../runtime-node/hub.ts';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';
import { FakeHub, REPO, shardedRepoFiles } from './fake-hub.ts';

const INDEX = 'model.safetensors.index.json';
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('Hub cache, sharded checkpoint', () => {
  it('downloads the index, then exactly the shards it names, and loads like the single-file model', async () => {
    const hub = await new FakeHub(shardedRepoFiles()).start();
    const cache = mkdtempSync(join(tmpdir(), 'seal-sharded-'));
    dirs.push(cache);
    try {
      const progress: DownloadProgress[] = [];
      const snapshot = await resolveHubModel(REPO, {
        endpoint: hub.endpoint,
        cacheDir: cache,
        token: '',
        offline: false,
        onProgress: (p) => progress.push({ ...p }),
      });
      expect(readdirSync(snapshot).sort()).toEqual(
        ['config.json', 'generation_config.json', INDEX, ...SHARDS, 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
      );
      expect(
        hub.log.some((r) => r.url.includes('consolidated')),
        'a consolidated copy is never fetched',
      ).toBe(false);
      // The index was read before the progress started: it counts as done from the first event on.
      const total = readdirSync(snapshot).reduce((sum, name) => sum + hub.files.get(name)!.length, 0);
      expect(progress.every((p) => p.total === total)).toBe(true);
      expect(progress[0]!.bytes).toBe(hub.files.get(INDEX)!.length);
      expect(progress.at(-1)!.bytes).toBe(total);

      const ctx = await testContext();
      const sharded = await loadModelDir(ctx, snapshot, { matmul: 'f32' });
      const single = await loadModelDir(ctx, sharedPath('models/stories260K'), { matmul: 'f32' });
      try {
        expect(sharded.weights.tensors.size).toBe(single.weights.tensors.size);
        const ids = [1, 403, 407, 261, 378];
        const [got, want] = [await sharded.transformer.logits({ ids }), await single.transformer.logits({ ids })];
        got.forEach((row, i) => {
          expect(Array.from(row)).toEqual(Array.from(want[i]!));
        });
      } finally {
        sharded.dispose();
        single.dispose();
      }
    } finally {
      await hub.stop();
    }
  });
});
