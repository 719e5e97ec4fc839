/**
 * GpuSealEngine scores K candidates together (stories260K): the candidates' generate calls run as one batch, each
 * sequence under its own trained adapter, and every candidate gets exactly the texts it gets scored alone.
 */
import { describe, expect, it } from 'vitest';
import type { InnerTrainingPlan, ScoringModel } from '../../src/seal/domain.ts';
import { GpuSealEngine } from '../../src/seal/gpu-engine.ts';
import { chatTemplateOrPlain } from '../../src/seal/plain-chat-template.ts';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { freshSeed } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';

const STORIES = [
  'Once upon a time, there was a little dog named Max. Max liked to run in the park.',
  'Lily had a red ball. She threw the ball to her friend Tom, and Tom laughed.',
  'The sun was hot. The cat sat under a big tree and took a nap.',
];

function plan(text: string, lr: number, seed: number): InnerTrainingPlan {
  return {
    skip: null,
    rows: [{ kind: 'text', text, line: 1 }],
    lossMode: 'all',
    hyper: { lr, maxSteps: 4, seed },
    lora: { targets: ['q_proj', 'v_proj', 'up_proj'], rank: 4, alpha: 8 },
    loraInitSeed: seed,
    plannedSteps: 4,
    notes: [],
  };
}

/** What a domain's score does: two rounds of generation (a batch of prompts, then one more), returning all texts. */
async function score(model: ScoringModel, seed: number): Promise<string[]> {
  const first = await model.generate(
    [[{ role: 'user', content: 'Once upon a time' }], [{ role: 'user', content: 'Lily' }], [{ role: 'user', content: 'The cat' }]],
    { maxNewTokens: 12, temperature: 0 },
  );
  const second = await model.generate([[{ role: 'user', content: 'Tom' }]], { maxNewTokens: 9, temperature: 0.8, seed, streams: [5] });
  return [...first, ...second].map((s) => s.text);
}

describe('GpuSealEngine: K candidates scored together', () => {
  it('each candidate (and the unadapted model) gets the texts it gets alone', async () => {
    const ctx = await testContext();
    const model = await loadModelDir(ctx, sharedPath('models/stories260K'), { matmul: 'f32' });
    const seed = freshSeed();
    const engine = new GpuSealEngine(
      {
        ctx,
        config: model.config,
        weights: model.weights,
        transformer: model.transformer,
        tokenizer: model.tokenizer,
        chatTemplate: chatTemplateOrPlain(null, model.tokenizer.config).template,
      },
      { sft: {} },
    );
    try {
      const trained = await engine.trainCandidates(
        STORIES.map((s, i) => plan(s, 2e-2, seed + i)),
        () => {},
      );
      const candidates = [trained[0]!, null, trained[1]!, trained[2]!, trained[0]!];
      // Count the engine's generation batches: all five candidates' calls share them (one per round of calls).
      const batches: number[] = [];
      const generate = engine.generate.bind(engine);
      engine.generate = (t, prompts, ...rest) => {
        batches.push(prompts.length);
        return generate(t, prompts, ...rest);
      };
      const together = await engine.withScoringModels(candidates, (m) => score(m, seed));
      expect(batches).toEqual([15, 5]);
      const alone: string[][] = [];
      for (const c of candidates) alone.push((await engine.withScoringModels([c], (m) => score(m, seed)))[0]!);
      together.forEach((texts, i) => {
        expect(texts, `candidate ${i} (seed ${seed})`).toEqual(alone[i]);
      });
      // The adapters matter: some trained candidate writes something else than the unadapted model.
      expect(together.filter((t, i) => candidates[i] !== null && t.join() !== together[1]!.join()).length, `seed ${seed}`).toBeGreaterThan(0);
      engine.release(trained);
    } finally {
      engine.dispose();
      model.dispose();
    }
  });
});
