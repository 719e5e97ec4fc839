/**
 * The model: judge's mechanics on stories260K (a real 260K-parameter model on the GPU; too small to grade, so its
 * replies are whatever it continues): the grading prompts built and encoded with BOS once, graded in one batch,
 * each verdict the rule applied to that prompt's own greedy reply, the cache, and a prompt over the context.
 * The rule itself is tested on constructed replies in yes-no-grading.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from '../../../src/generate/generate.ts';
import { JudgeError } from '../../../src/domains/knowledge/judges/judge.ts';
import { ModelJudge } from '../../../src/domains/knowledge/judges/model-judge.ts';
import { MemoryVerdictCache } from '../../../src/domains/knowledge/judges/verdict-cache.ts';
import { gradingPrompt, yesNoVerdict } from '../../../src/domains/knowledge/judges/yes-no-grading.ts';
import { PLAIN_CHAT_TEMPLATE } from '../../../src/seal/plain-chat-template.ts';
import { ChatTemplate } from '../../../src/text/chat-template.ts';
import { loadModelDir, type LoadedModel } from '../../../runtime-node/model-dir.ts';
import { testContext } from '../../harness/context.ts';
import { sharedPath } from '../../harness/shared.ts';

const ITEMS = [
  { question: 'Who had a dog?', gold: 'Lily', prediction: 'Lily had a dog.' },
  { question: 'Where did Tom go?', gold: 'the park', prediction: 'to school' },
  { question: 'What was hot?', gold: 'the sun', prediction: '   ' }, // empty: no prompt
  { question: 'What did they play with?', gold: 'a ball', prediction: 'a red ball' },
];
const REPLY_TOKENS = 6;

describe('model: judge (stories260K)', () => {
  let model: LoadedModel;
  /** The number of sequences of every step the model ran. */
  let steps: number[] = [];
  beforeAll(async () => {
    model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32' });
    const original = model.transformer.launchStep.bind(model.transformer);
    model.transformer.launchStep = (cache, entries, choose, deviceIds) => {
      steps.push(entries.length);
      return original(cache, entries, choose, deviceIds);
    };
  });
  afterAll(() => model?.dispose());

  const judgeWith = (options: Partial<ConstructorParameters<typeof ModelJudge>[0]> = {}) =>
    new ModelJudge({
      name: 'model:stories260K',
      transformer: model.transformer,
      tokenizer: model.tokenizer,
      chatTemplate: null,
      maxNewTokens: REPLY_TOKENS,
      ...options,
    });

  it("grades every prompt in one batch; each verdict is the rule on that prompt's own greedy reply; a cached reply runs nothing", async () => {
    const { transformer, tokenizer } = model;
    steps = [];
    const cache = new MemoryVerdictCache();
    const verdicts = await judgeWith({ cache }).grade(ITEMS);
    // Three prompts (the empty prediction has none) ran together.
    expect(Math.max(...steps)).toBe(3);
    expect(verdicts[2]).toEqual({ correct: false, reply: '' });
    for (const i of [0, 1, 3]) {
      const { question, gold, prediction } = ITEMS[i]!;
      const promptIds = tokenizer.encode(gradingPrompt(question, gold, prediction), { addSpecialTokens: true });
      expect(promptIds.filter((id) => id === tokenizer.bosId)).toHaveLength(1);
      const alone = await generateText(transformer, tokenizer, { promptIds, maxNewTokens: REPLY_TOKENS });
      expect(verdicts[i]!.reply, `item ${i}`).toBe(alone.text);
      expect(verdicts[i]!.correct).toBe(yesNoVerdict(alone.text));
    }

    // Graded again through the same cache: nothing runs on the GPU, the replies are the stored ones.
    expect(cache.size).toBe(3);
    steps = [];
    const again = await judgeWith({ cache }).grade(ITEMS);
    expect(steps).toEqual([]);
    expect(again).toEqual(verdicts.map((v, i) => (i === 2 ? v : { ...v, cached: true })));
  });

  it("renders the prompt as the user message of the model's chat template when it has one", () => {
    const { tokenizer } = model;
    const template = new ChatTemplate(tokenizer.config, { template: PLAIN_CHAT_TEMPLATE });
    const prompt = gradingPrompt('q', 'g', 'p');
    // The plain template writes the user message and a newline.
    expect(judgeWith({ chatTemplate: template }).promptIds(prompt)).toEqual(tokenizer.encode(`${prompt}\n`, { addSpecialTokens: true }));
    expect(judgeWith().promptIds(prompt)).toEqual(tokenizer.encode(prompt, { addSpecialTokens: true }));
  });

  it("a prompt longer than the grader's context is a JudgeError, before anything runs", async () => {
    steps = [];
    const long = { question: 'Who?', gold: 'Lily', prediction: 'Lily and her mom went to the park. '.repeat(30) };
    await expect(judgeWith().grade([ITEMS[0]!, long])).rejects.toThrow(JudgeError);
    await expect(judgeWith().grade([long])).rejects.toThrow(/with 6 reply tokens exceeds the grader's 512-token context/);
    expect(steps).toEqual([]);
  });
});
