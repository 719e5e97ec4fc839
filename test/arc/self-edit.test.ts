import { describe, expect, it } from 'vitest';
import { compileJsonSchema } from '../../src/constrain/json-schema.ts';
import { Recognizer } from '../../src/constrain/recognizer.ts';
import {
  ARC_DEFAULTS,
  augmentationsFor,
  collectSelfEdits,
  lossModeOf,
  parseSelfEdit,
  planTttRun,
  requireSelfEdit,
  resolveArcSettings,
  SelfEditError,
  selfEditJson,
  selfEditSchema,
  validateSelfEdit,
  type SelfEdit,
} from '../../src/domains/arc/index.ts';
import { resolveLoraConfig } from '../../src/lora/config.ts';
import type { SftHyperparameters } from '../../src/train/sft.ts';

const EDIT: SelfEdit = {
  augmentations: { basic: true, size: false, chain: true, repeat: false },
  strategy: 'train_using_output_tokens',
  learningRate: 0.0001,
  epochs: 3,
};
const doc = (training: Record<string, unknown>, gen: Record<string, unknown> = {}) =>
  JSON.stringify({
    data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: true, use_repeat_augmentations: false, ...gen },
    training: { strategy: 'train_using_output_tokens', learning_rate: 0.0001, num_train_epochs: 3, ...training },
  });
const reasonOf = (text: string) => {
  const r = parseSelfEdit(text);
  return r.ok ? 'ok' : r.reason;
};

describe('self-edit schema and parsing', () => {
  it('the schema compiles for constrained decoding and admits exactly the valid, in-range documents', () => {
    const recognizer = new Recognizer(compileJsonSchema(selfEditSchema()));
    expect(selfEditJson(EDIT)).toBe(doc({}));
    expect(recognizer.accepts(doc({}))).toBe(true);
    expect(recognizer.accepts(doc({ learning_rate: 0.01, num_train_epochs: 100 }))).toBe(true);
    expect(recognizer.accepts(doc({ learning_rate: 0.000001, num_train_epochs: 1 }))).toBe(true);
    expect(recognizer.accepts(doc({ learning_rate: 0.5 }))).toBe(false);
    expect(recognizer.accepts(doc({ learning_rate: 0.0000001 }))).toBe(false);
    expect(recognizer.accepts(doc({ num_train_epochs: 0 }))).toBe(false);
    expect(recognizer.accepts(doc({ num_train_epochs: 2.5 }))).toBe(false);
    expect(recognizer.accepts(doc({ strategy: 'train_on_everything' }))).toBe(false);
    expect(recognizer.accepts(doc({}, { use_size_augmentations: 'false' }))).toBe(false);
    expect(recognizer.accepts(JSON.stringify({ training: JSON.parse(doc({})).training }))).toBe(false);
  });

  it('parses a valid self-edit (pretty-printed too)', () => {
    expect(parseSelfEdit(doc({}))).toEqual({ ok: true, edit: EDIT, adjustments: [] });
    expect(parseSelfEdit(`\n${JSON.stringify(JSON.parse(doc({})), null, 2)}\n`)).toEqual({ ok: true, edit: EDIT, adjustments: [] });
    expect(requireSelfEdit(doc({ strategy: 'train_using_all_tokens' })).edit.strategy).toBe('train_using_all_tokens');
  });

  it('clamps out-of-range values and records why', () => {
    const r = parseSelfEdit(doc({ learning_rate: 0.5, num_train_epochs: 0 }));
    expect(r).toEqual({
      ok: true,
      edit: { ...EDIT, learningRate: 0.01, epochs: 1 },
      adjustments: [
        {
          field: 'training.learning_rate',
          from: 0.5,
          to: 0.01,
          reason: '0.5 is outside the allowed range [0.000001, 0.01]; clamped to 0.01'.replace('0.000001', String(1e-6)),
        },
        { field: 'training.num_train_epochs', from: 0, to: 1, reason: '0 is outside the allowed range [1, 100]; clamped to 1' },
      ],
    });
    const low = parseSelfEdit(doc({ learning_rate: -1, num_train_epochs: 1000 }));
    expect(low.ok && [low.edit.learningRate, low.edit.epochs]).toEqual([1e-6, 100]);
    const custom = validateSelfEdit(JSON.parse(doc({ num_train_epochs: 9 })), { learningRate: { min: 1e-5, max: 1e-3 }, epochs: { min: 1, max: 5 } });
    expect(custom.ok && custom.edit.epochs).toBe(5);
    const extra = parseSelfEdit(JSON.stringify({ ...JSON.parse(doc({})), note: 'hi' }));
    expect(extra.ok && extra.adjustments).toEqual([{ field: 'note', from: 'hi', to: undefined, reason: 'unknown field, ignored' }]);
  });

  it('reports invalid self-edits with a clear reason (never a silent zero-epoch adapter)', () => {
    expect(reasonOf('{"data_generation": ')).toMatch(/^not valid JSON/);
    expect(reasonOf('[]')).toBe('expected a JSON object with "data_generation" and "training", got []');
    expect(reasonOf(JSON.stringify({ training: {} }))).toBe('"data_generation" must be an object of four booleans, got nothing');
    expect(reasonOf(doc({}, { use_repeat_augmentations: 'yes' }))).toBe('data_generation.use_repeat_augmentations must be true or false, got "yes"');
    expect(reasonOf(doc({}, { use_basic_augmentations: undefined }))).toBe('data_generation.use_basic_augmentations must be true or false, got nothing');
    expect(reasonOf(doc({ strategy: 'all' }))).toBe('training.strategy must be "train_using_all_tokens" or "train_using_output_tokens", got "all"');
    expect(reasonOf(doc({ learning_rate: '1e-4' }))).toBe('training.learning_rate must be a number, got "1e-4"');
    expect(reasonOf(doc({ num_train_epochs: 2.5 }))).toBe('training.num_train_epochs must be a whole number, got 2.5');
    expect(() => requireSelfEdit('nope')).toThrow(SelfEditError);
  });

  it('collects self-edits with a bounded number of attempts, keeping every rejection', async () => {
    const texts = ['garbage', doc({}), doc({ strategy: 'x' }), doc({}), doc({ num_train_epochs: 2 })];
    let next = 0;
    const asked: number[] = [];
    const sample = (n: number) => {
      asked.push(n);
      return Array.from({ length: n }, () => texts[next++ % texts.length]!);
    };
    const got = await collectSelfEdits({ count: 2, maxAttempts: 10, sample, skipDuplicates: true });
    expect(got.accepted.map((a) => [a.attempt, a.edit.epochs])).toEqual([
      [1, 3],
      [4, 2],
    ]);
    expect(got.rejected.map((r) => [r.attempt, r.reason.slice(0, 20)])).toEqual([
      [0, 'not valid JSON (Unex'],
      [2, 'training.strategy mu'],
      [3, 'repeats an accepted '],
    ]);
    expect(got.complete).toBe(true);
    expect(asked).toEqual([2, 1, 1, 1]);

    const never = await collectSelfEdits({ count: 3, maxAttempts: 7, sample: (n) => Array(n).fill('{}') });
    expect([never.accepted.length, never.rejected.length, never.attempts, never.complete]).toEqual([0, 7, 7, false]);
    await expect(collectSelfEdits({ count: 3, maxAttempts: 2, sample })).rejects.toThrow(/maxAttempts must be an integer >= count/);
    await expect(collectSelfEdits({ count: 1, maxAttempts: 2, sample: () => [] })).rejects.toThrow(/returned 0 texts/);
  });
});

describe('TTT run plan', () => {
  it('maps a self-edit to the trainer with the reference defaults (r=128, alpha=16, q/v/gate/up/down, batch 2, cosine, 11 warmup)', () => {
    const plan = planTttRun(EDIT, 250);
    const hyper: SftHyperparameters = plan.hyper;
    expect(hyper).toEqual({
      lr: 0.0001,
      epochs: 3,
      batchSize: 2,
      gradAccum: 1,
      schedule: 'cosine',
      warmupSteps: 11,
      weightDecay: 0,
      gradClip: 1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      seed: 42,
      shuffle: true,
    });
    expect(resolveLoraConfig(plan.lora)).toMatchObject({
      rank: 128,
      alpha: 16,
      scale: 0.125,
      targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    expect([plan.skip, plan.train, plan.lossMode, plan.steps, plan.budgetSteps, plan.reasons]).toEqual([false, true, 'output', 375, 375, []]);
    expect(lossModeOf('train_using_all_tokens')).toBe('all');
    expect(augmentationsFor(EDIT.augmentations)).toHaveLength(17);
  });

  it('applies the step budget: floor(epochs * examples / 2) > 375 trains no epochs, or skips', () => {
    const over = planTttRun({ ...EDIT, epochs: 4 }, 250);
    expect([over.skip, over.train, over.epochs, over.requestedEpochs, over.budgetSteps, over.steps]).toEqual([false, false, 0, 4, 500, 0]);
    expect(over.reasons).toEqual([
      'over the step budget (375): 4 epochs x 250 examples / batch 2 = 500 steps; trained for 0 epochs (the adapter stays untrained)',
    ]);
    // Small datasets allow many epochs: 4 examples x 187 epochs / 2 = 374 steps; 188 epochs = 376.
    expect(planTttRun({ ...EDIT, epochs: 187 }, 4).train).toBe(true);
    expect(planTttRun({ ...EDIT, epochs: 188 }, 4).train).toBe(false);
    expect(planTttRun({ ...EDIT, epochs: 3 }, 5).steps).toBe(9);
    const skip = planTttRun({ ...EDIT, epochs: 4 }, 250, { ...ARC_DEFAULTS.ttt, overBudget: 'skip' });
    expect([skip.skip, skip.train, skip.reasons[0]!.endsWith('; skipped')]).toEqual([true, false, true]);
    const empty = planTttRun(EDIT, 0);
    expect([empty.skip, empty.reasons]).toEqual([true, ['empty TTT dataset: every example was over the token limit']]);
  });

  it('settings are overridable in one place and validated', () => {
    const s = resolveArcSettings({ ttt: { batchSize: 4, lora: { rank: 16 } }, data: { maxExamples: 100 } });
    expect([s.ttt.batchSize, s.ttt.lora.rank, s.ttt.lora.alpha, s.data.maxExamples, s.data.leaveN]).toEqual([4, 16, 16, 100, [1, 2]]);
    expect(planTttRun(EDIT, 250, s.ttt).budgetSteps).toBe(187);
    expect(() => resolveArcSettings({ ttt: { batchSize: 0 } })).toThrow('ARC settings: ttt.batchSize is 0; expected an integer >= 1');
    expect(() => resolveArcSettings({ selfEdit: { limits: { epochs: { min: 5, max: 2 } } } })).toThrow(/selfEdit\.limits\.epochs/);
    expect(() => resolveArcSettings({ inference: { transforms: [{ kind: 'repeat', axis: 0, n: 2 }] } })).toThrow(/rotations, flips and transpose only/);
    expect(() => planTttRun(EDIT, -1)).toThrow(/exampleCount/);
    expect(Object.isFrozen(ARC_DEFAULTS.ttt.lora.targets)).toBe(true);
  });
});
