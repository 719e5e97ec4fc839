/**
 * The knowledge domain (src/domains/knowledge/seal-domain.ts) in the SEAL loop on the GPU: stories260K, which cannot
 * answer questions, so this checks mechanics only: one eval round over 2 short passages with K = 2 sampled free-text
 * self-edits each, prompts rendered as plain text (no chat template), each self-edit trained with the reference's
 * inner-loop settings (10 epochs over its sequences, batch 1), every question answered and graded by the squad judge,
 * and the un-adapted model scored once per passage.
 */
import { describe, expect, it } from 'vitest';
import { SquadJudge, squadVerdict } from '../../src/domains/knowledge/judges/index.ts';
import { KNOWLEDGE_DEFAULTS, parseSquadDataset, questionText, selfEditPromptText, trainingSequences } from '../../src/domains/knowledge/index.ts';
import { type KnowledgeSelfEdit, KnowledgeSealDomain } from '../../src/domains/knowledge/seal-domain.ts';
import type { RunEvent } from '../../src/seal/events.ts';
import { GpuSealEngine } from '../../src/seal/gpu-engine.ts';
import { runInContextBaseline, runSealLoop } from '../../src/seal/loop.ts';
import { promptTemplate } from '../../src/seal/plain-chat-template.ts';
import { configHash } from '../../src/seal/run-config.ts';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';
import { FakeRecorder, fakeConfig, MemoryStore } from '../seal/loop-fakes.ts';

const DATA = parseSquadDataset(
  [
    {
      title: 'Max',
      context: 'Max is a little dog. Max likes to run in the park.',
      questions: [
        { question: 'What is Max?', answer: 'a little dog' },
        { question: 'Where does Max run?', answer: 'in the park' },
      ],
    },
    { title: 'Lily', context: 'Lily has a red ball. She gives the ball to Tom.', questions: [{ question: 'What color is the ball?', answer: 'red' }] },
  ],
  'two passages',
);

describe('the knowledge domain in the SEAL loop (stories260K)', () => {
  it('one eval round: plain prompts, free-text self-edits trained 10 epochs each, every question answered and graded', async () => {
    const ctx = await testContext();
    const model = await loadModelDir(ctx, sharedPath('models/stories260K'), { matmul: 'f32' });
    const domain = new KnowledgeSealDomain(DATA, [0, 1], { knowledge: KNOWLEDGE_DEFAULTS, prompt: 'implications', compat: false, judges: [new SquadJudge()] });
    const template = promptTemplate(domain.promptFormat, model.chatTemplate, model.tokenizer.config);
    expect(template.kind).toBe('verbatim');
    const { config, weights, transformer, tokenizer } = model;
    const engine = new GpuSealEngine({ ctx, config, weights, transformer, tokenizer, chatTemplate: template.template }, { sft: {} });
    try {
      // Plain text: the prompt the model continues is the reference's text, tokenized as it is.
      const [first] = domain.contexts();
      expect(engine.encode(domain.selfEditPrompt(first!))).toEqual(
        model.tokenizer.encode(selfEditPromptText('implications', DATA.passages[0]!), { addSpecialTokens: true }),
      );

      const rec = new FakeRecorder();
      const config = fakeConfig({ domain: 'knowledge', command: 'eval', tasks: { ids: ['0', '1'] }, selfEditsPerTask: 2, rounds: 1, seed: 3 });
      rec.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
      await runInContextBaseline(rec, domain, engine, 'base');
      await runSealLoop(rec, new MemoryStore(), domain, engine, {
        mode: 'eval',
        sampling: { temperature: 1, topP: 0.95, maxNewTokens: 24, attemptsPerEdit: 3 },
        policyMode: 'adapter',
      });
      const events = rec.log.events as RunEvent[];

      // The un-adapted model: once per passage, every question answered and graded.
      const baselines = events.filter((e) => e.type === 'baseline-scored');
      expect(baselines.map((e) => [e.task, e.tests.length])).toEqual([
        ['0', 2],
        ['1', 1],
      ]);

      const scored = events.filter((e): e is Extract<RunEvent, { type: 'candidate-scored' }> => e.type === 'candidate-scored');
      expect(scored.map((e) => `${e.task}/${e.candidate}`).sort()).toEqual(['0/0', '0/1', '1/0', '1/1']);
      for (const e of scored) {
        const passage = DATA.passages[Number(e.task)]!;
        const sampled = events.filter(
          (s): s is Extract<RunEvent, { type: 'self-edit-sampled' }> =>
            s.type === 'self-edit-sampled' && s.task === e.task && s.candidate === e.candidate && s.edit !== null,
        );
        if (e.skipped !== undefined) {
          // No valid self-edit in its attempts (stories260K may write only whitespace): scored 0 without training.
          expect(sampled).toEqual([]);
          expect(e.reward).toBe(0);
          continue;
        }
        const edit = sampled.at(-1)!.edit as KnowledgeSelfEdit;
        // The inner loop: 10 epochs over the self-edit's sequences (the passage last), one sequence per step.
        const sequences = trainingSequences(passage, edit.completion);
        expect(sequences.at(-1)).toBe(`${passage.title}\n${passage.context}`);
        const steps = events.filter((s) => s.type === 'ttt-step' && s.task === e.task && s.candidate === e.candidate);
        expect(steps.length).toBe(10 * sequences.length);
        // Scoring: one outcome per question, graded by the squad rule on the answer the adapted model wrote.
        expect(e.tests.map((t) => t.id)).toEqual(passage.questions.map((_, j) => `${e.task}-q${j}`));
        e.tests.forEach((t, j) => {
          const { answer } = t.prediction as { answer: string };
          const q = passage.questions[j]!;
          expect(t.correct).toBe(squadVerdict({ question: questionText(passage, q), gold: q.answer, prediction: answer.trim() }).correct);
          expect(t.prediction).toMatchObject({ gold: q.answer, verdicts: { squad: t.correct } });
        });
        expect(e.reward).toBe(e.tests.filter((t) => t.correct).length / e.tests.length);
      }
      // At least one candidate trained and was scored (the mechanics ran, not only skips).
      expect(scored.filter((e) => e.skipped === undefined).length).toBeGreaterThan(0);
    } finally {
      engine.dispose();
      model.dispose();
    }
    // Lavapipe with a cold shader cache: about 2 minutes here (about 100 s warm), most of it the 10-epoch inner loops.
  }, 900_000);
});
