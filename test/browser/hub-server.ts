/**
 * The Node side of the browser Hub test: local fake hubs on 127.0.0.1 with CORS (plain, gated, throttled) serving
 * ../shared/models/stories260K, and what the page compares against, computed here in Node: each file's size and
 * sha256, the prompt's token ids and the f64 reference's greedy continuation. vitest.browser.config.ts runs this as a
 * globalSetup and hands the result to the page with provide('hubTest'); under Node or Deno the test starts it itself.
 */
import { createHash } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { parseModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { fileSource, readJsonFile } from '../../runtime-node/file-source.ts';
import { loadModelTokenizer } from '../../runtime-node/model-dir.ts';
import { sharedPath } from '../harness/shared.ts';
import { FakeHub, REPO, repoFiles, SHA, shardedRepoFiles, TOKEN } from '../hub/fake-hub.ts';
import { referenceGreedy, referenceLogits, type Weights } from '../ref/transformer.ts';

export interface HubTestInfo {
  /**
   * Plain hub; gated: 401 without the token; slow: the weights trickle out (so a download can be aborted midway);
   * flaky: lists no sizes (HEAD tells them) and drops the first download of the weights midway; sharded: the model
   * as two shards with an index (and a consolidated copy never to fetch).
   */
  endpoint: string;
  gatedEndpoint: string;
  slowEndpoint: string;
  flakyEndpoint: string;
  shardedEndpoint: string;
  repo: string;
  commit: string;
  token: string;
  /** The files a load needs, with their sizes and sha256. */
  files: Record<string, { size: number; sha256: string }>;
  prompt: string;
  /** The prompt's ids (BOS first), the f64 reference's logits at each prompt position and its greedy continuation, from Node. */
  promptIds: number[];
  promptLogits: number[][];
  greedy: number[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    hubTest: HubTestInfo;
  }
}

const NEEDED = ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
export const GREEDY_TOKENS = 20;

export async function startHubTestEnv(): Promise<{ info: HubTestInfo; stop: () => Promise<void> }> {
  const files = repoFiles();
  // Every answer carries CORS headers: the page (vitest's origin) fetches from another port.
  const servers = await Promise.all([
    new FakeHub(files, { cors: true, maxRequests: 5000 }).start(),
    new FakeHub(files, { cors: true, maxRequests: 5000, requireToken: true }).start(),
    new FakeHub(files, { cors: true, maxRequests: 5000, throttle: { chunkBytes: 16 * 1024, intervalMs: 20 } }).start(),
    new FakeHub(files, { cors: true, maxRequests: 5000, noSizes: true, dropModelAfter: 300_000 }).start(),
    new FakeHub(shardedRepoFiles(), { cors: true, maxRequests: 5000 }).start(),
  ]);

  const dir = sharedPath('models/stories260K');
  const prompt = 'Once upon a time';
  const promptIds = (await loadModelTokenizer(dir)).encode(prompt);
  const config = parseModelConfig(await readJsonFile(`${dir}/config.json`));
  const source = fileSource(`${dir}/model.safetensors`);
  const header = await parseSafetensorsHeader(source);
  const weights: Weights = new Map();
  for (const name of header.tensors.keys()) weights.set(name, await readTensorF32(source, header, name));

  const info: HubTestInfo = {
    endpoint: servers[0].endpoint,
    gatedEndpoint: servers[1].endpoint,
    slowEndpoint: servers[2].endpoint,
    flakyEndpoint: servers[3].endpoint,
    shardedEndpoint: servers[4].endpoint,
    repo: REPO,
    commit: SHA,
    token: TOKEN,
    files: Object.fromEntries(NEEDED.map((n) => [n, { size: files.get(n)!.length, sha256: createHash('sha256').update(files.get(n)!).digest('hex') }])),
    prompt,
    promptIds,
    promptLogits: referenceLogits(config, weights, promptIds).map((row) => Array.from(row)),
    greedy: referenceGreedy(config, weights, promptIds, GREEDY_TOKENS),
  };
  return { info, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
}

/** globalSetup of vitest.browser.config.ts. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = await startHubTestEnv();
  project.provide('hubTest', env.info);
  return env.stop;
}
