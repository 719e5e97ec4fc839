/**
 * The ARC domain (src/domains/arc/seal-domain.ts) in the SEAL loop, without a GPU: a fake engine whose "adapted
 * model" either solves the task (answers every augmented query with the rule applied to its test input) or writes
 * nonsense, so the domain's whole scoring path runs for real (inference plan, stop at "#", decoding, inverse
 * transforms, vote, pass@2, all test inputs of a task). Also the inner-loop plans: the reference's budget rule, the
 * small-run step cap recorded in the plan's notes, the model's context as token limit, and the oracle self-edit.
 */
import { describe, expect, it } from 'vitest';
import { ARC_ANSWER_MAX_BYTES, ARC_ORACLE_SELF_EDIT, ARC_REST_EM_DEFAULTS, ArcSealDomain, type ArcSealSettings } from '../../src/domains/arc/seal-domain.ts';
import {
  formatGrid,
  loadArcDataset,
  parseGrid,
  parseSelfEdit,
  resolveArcSettings,
  selfEditJson,
  type Grid,
  type SelfEdit,
} from '../../src/domains/arc/index.ts';
import type { GenerateOptions, ScoringModel } from '../../src/seal/domain.ts';
import { runSealLoop } from '../../src/seal/loop.ts';
import { configHash } from '../../src/seal/run-config.ts';
import type { ChatMessage } from '../../src/text/chat-template.ts';
import { FakeEngine, FakeRecorder, MemoryStore, fakeConfig } from './loop-fakes.ts';

/** Colours 1 and 2 swapped: a rule that commutes with every geometric transform, so each query's answer is the rule of its input. */
const swap = (g: Grid): Grid => g.map((row) => row.map((c) => (c === 1 ? 2 : c === 2 ? 1 : c)));
const CHALLENGES = {
  swap0001: {
    train: [
      {
        input: [
          [1, 2],
          [0, 1],
        ],
        output: [
          [2, 1],
          [0, 2],
        ],
      },
      { input: [[2, 2, 0]], output: [[1, 1, 0]] },
      {
        input: [
          [0, 1],
          [1, 3],
        ],
        output: [
          [0, 2],
          [2, 3],
        ],
      },
    ],
    test: [
      {
        input: [
          [1, 0],
          [0, 2],
        ],
      },
      { input: [[2, 1, 1]] },
    ],
  },
  swap0002: {
    train: [
      { input: [[1]], output: [[2]] },
      { input: [[2, 3]], output: [[1, 3]] },
    ],
    test: [
      {
        input: [
          [3, 1],
          [2, 2],
        ],
      },
    ],
  },
};
const SOLUTIONS = {
  swap0001: [
    swap([
      [1, 0],
      [0, 2],
    ]),
    swap([[2, 1, 1]]),
  ],
  swap0002: [
    swap([
      [3, 1],
      [2, 2],
    ]),
  ],
};

function settings(extra: Partial<ArcSealSettings> = {}): ArcSealSettings {
  return { arc: resolveArcSettings({ ttt: { stepBudget: 40 } }), tttMaxSteps: null, answerMaxNewTokens: 32, prompts: { selfEdit: {}, solve: {} }, ...extra };
}
const countTokens = (messages: readonly ChatMessage[]) => Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);

function domain(extra: Partial<ArcSealSettings> = {}, contextLength = 8192) {
  const dataset = loadArcDataset({ challenges: JSON.stringify(CHALLENGES), solutions: JSON.stringify(SOLUTIONS) });
  return new ArcSealDomain(dataset, settings(extra), { contextLength, countTokens });
}

/** A scoring model that solves (the rule applied to each query's test input, then "#" and rambling) or not. */
function model(solves: boolean, calls: GenerateOptions[] = []): ScoringModel {
  return {
    contextLength: 8192,
    countTokens,
    generate: async (prompts, options) => {
      calls.push(options);
      return prompts.map((p) => {
        const input = parseGrid(p[p.length - 1]!.content.replace(/ ->$/, ''));
        const text = solves ? formatGrid(swap(input)) : 'Once upon a time';
        // The engine cuts at the stop string; what follows "#" never reaches the domain.
        return { text, tokens: 10, finishReason: solves ? ('stop-string' as const) : ('length' as const) };
      });
    },
  };
}

const edit = (e: Partial<SelfEdit> = {}): SelfEdit => ({
  augmentations: { basic: false, size: false, chain: false, repeat: false },
  strategy: 'train_using_output_tokens',
  learningRate: 1e-4,
  epochs: 2,
  ...e,
});

describe('the ARC SEAL domain', () => {
  it('scores through inference plans, votes and pass@2: a solving model solves every task, another none', async () => {
    const d = domain();
    const [first, second] = d.contexts();
    expect(first!.tests.map((t) => t.name)).toEqual(['swap0001-0', 'swap0001-1']);
    const calls: GenerateOptions[] = [];
    const good = await d.score(first!, model(true, calls));
    expect(good).toMatchObject({ reward: 1, solved: true });
    expect(good.tests.map((t) => [t.id, t.correct])).toEqual([
      ['swap0001-0', true],
      ['swap0001-1', true],
    ]);
    const plans = d.inferencePlans(first!);
    expect(good.tests[0]!.prediction).toMatchObject({ attempts: [SOLUTIONS.swap0001[0], expect.anything()], queries: plans[0]!.queries.length, unreadable: 0 });
    // One batch for all test inputs' queries, greedy, stopping at the answer's end marker.
    expect(calls).toEqual([{ maxNewTokens: 32, temperature: 0, stopStrings: ['#'] }]);
    expect(await d.score(second!, model(true))).toMatchObject({ reward: 1, solved: true });
    const bad = await d.score(first!, model(false));
    expect(bad).toMatchObject({ reward: 0, solved: false });
    expect(bad.tests[0]!.prediction).toMatchObject({ readable: 0, reason: expect.stringMatching(/no prediction to vote on/) });
  });

  it('answers get, by default, what the token limit leaves after the longest prompt, at most the longest readable grid', async () => {
    expect(ARC_ANSWER_MAX_BYTES).toBe(2761); // "[[9, 9, ...], ...]" of 30x30 (2760 bytes) and "#"
    const [ctx] = domain().contexts();
    const longest = Math.max(
      ...domain()
        .inferencePlans(ctx!)
        .flatMap((p) => p.queries.map((q) => countTokens(q.messages))),
    );
    const budget = async (inferenceMaxTokens: number) => {
      const calls: GenerateOptions[] = [];
      const d = new ArcSealDomain(
        loadArcDataset({ challenges: JSON.stringify(CHALLENGES), solutions: JSON.stringify(SOLUTIONS) }),
        settings({ answerMaxNewTokens: null, arc: resolveArcSettings({ inference: { maxTokens: inferenceMaxTokens } }) }),
        { contextLength: 8192, countTokens },
      );
      expect(await d.score(d.contexts()[0]!, model(true, calls))).toMatchObject({ solved: true });
      return calls[0]!.maxNewTokens;
    };
    expect(await budget(8192)).toBe(ARC_ANSWER_MAX_BYTES);
    expect(await budget(longest + 100)).toBe(100);
  });

  it('plans the inner loop: rows of the TTT dataset, the loss of the strategy, the budget rule, the step cap', () => {
    const d = domain();
    const [ctx] = d.contexts();
    const plan = d.trainingPlan(ctx!, edit());
    expect(plan.skip).toBeNull();
    expect(plan.rows.length).toBe(d.tttDataset(ctx!, edit()).examples.length);
    expect(plan.rows[0]).toMatchObject({ kind: 'messages', line: 1 });
    expect(plan).toMatchObject({
      lossMode: 'output',
      lora: { rank: 128, alpha: 16 },
      hyper: { lr: 1e-4, epochs: 2, batchSize: 2, schedule: 'cosine', warmupSteps: 11 },
    });
    expect(plan.plannedSteps).toBe(2 * Math.ceil(plan.rows.length / 2));
    expect(d.trainingPlan(ctx!, edit({ strategy: 'train_using_all_tokens' })).lossMode).toBe('all');

    // Over the step budget (40 here): the reference's zero epochs, with the reason in the notes.
    const big = d.trainingPlan(ctx!, edit({ augmentations: { basic: true, size: true, chain: true, repeat: true }, epochs: 3 }));
    expect(big).toMatchObject({ skip: null, plannedSteps: 0, hyper: { epochs: 0 } });
    expect(big.notes.join(' ')).toMatch(/over the step budget \(40\): .* steps; trained for 0 epochs/);

    const capped = domain({ tttMaxSteps: 3 }).trainingPlan(ctx!, edit());
    expect(capped).toMatchObject({ plannedSteps: 3, hyper: { maxSteps: 3 } });
    // 3 steps under 11 warmup steps: the self-edit's 1e-4 is never reached; the last step (k = 2) runs at 1e-4 x 2/11.
    expect(capped.notes).toEqual([
      `${plan.plannedSteps} planned steps cut to 3 (tttMaxSteps)`,
      'warmup (11 steps) >= planned steps (3): the learning rate never reaches its peak 1e-4 (it ends at 1.82e-5)',
    ]);
  });

  it("lowers the token limits to the model's context: a tiny context leaves no TTT example (a skip) and no query", async () => {
    const d = domain({}, 20);
    const [ctx] = d.contexts();
    expect(d.trainingPlan(ctx!, edit()).skip).toMatch(/empty TTT dataset: /);
    const score = await d.score(ctx!, model(true));
    expect(score).toMatchObject({ reward: 0, solved: false });
    expect(score.tests[0]!.prediction).toMatchObject({ attempts: null, reason: expect.stringMatching(/no query fits in 20 tokens/) });
  });

  it("self-edits: the schema's limits, parsing with clamping, and the oracle's fixed configuration", () => {
    const d = domain({ arc: resolveArcSettings({ selfEdit: { limits: { epochs: { min: 1, max: 2 } } } }) });
    expect(JSON.stringify(d.selfEditSchema())).toContain('"num_train_epochs":{"type":"integer","minimum":1,"maximum":2}');
    const parsed = d.parseSelfEdit(selfEditJson(edit({ epochs: 5 })));
    expect(parsed).toMatchObject({ ok: true, edit: { epochs: 2 }, adjustments: [{ field: 'training.num_train_epochs', from: 5, to: 2 }] });
    expect(parseSelfEdit(d.oracleSelfEdit())).toMatchObject({ ok: true, edit: ARC_ORACLE_SELF_EDIT });
    expect(d.selfEditPrompt(d.contexts()[0]!)[1]!.content).toContain('Input:\n1 2\n0 1\n\nOutput:\n2 1\n0 2');
  });

  it('runs in the loop: each self-edit trains through the ARC domain and is scored by it, and the M-step trains on the winners', async () => {
    const d = domain({ tttMaxSteps: 2 });
    const config = fakeConfig({ domain: 'arc', tasks: { ids: ['swap0001', 'swap0002'] }, selfEditsPerTask: 2, rounds: 1 });
    const rec = new FakeRecorder();
    rec.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
    // The self-edits alternate between two fixed ARC texts (the fake sampler writes no ARC JSON); a candidate trained
    // with the high learning rate is given the solving model, the other the engine's own (which says "bad").
    const engine = new FakeEngine();
    const solver = model(true);
    const baseWith = engine.withScoringModels.bind(engine);
    engine.withScoringModels = (candidates, body) =>
      baseWith(candidates, (m, i) => body((candidates[i] as unknown as { lr: number }).lr >= 1e-3 ? solver : m, i));
    const texts = [selfEditJson(edit({ learningRate: 1e-2 })), selfEditJson(edit({ learningRate: 1e-5 }))];
    await runSealLoop(rec, new MemoryStore(), d, engine, {
      mode: 'train',
      sampling: { temperature: 1, topP: 1, maxNewTokens: 128, attemptsPerEdit: 1 },
      policyMode: 'adapter',
      restEm: ARC_REST_EM_DEFAULTS,
      fixedSelfEdits: () => texts,
    });
    const round = rec.state.rounds.get(0)!;
    expect([...round.candidates.values()].map((c) => [c.task, c.candidate, c.score!.solved, c.ttt.length])).toEqual([
      ['swap0001', 0, true, 2],
      ['swap0001', 1, false, 2],
      ['swap0002', 0, true, 2],
      ['swap0002', 1, false, 2],
    ]);
    expect(engine.log.policyJobs).toEqual([{ rows: 2, init: 'seed', texts: [texts[0], texts[0]] }]);
    expect(round.checkpoint).toMatchObject({ examples: 2 });
  });
});
