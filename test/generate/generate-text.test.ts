import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from '../../src/generate/generate.ts';
import { loadModelDir, type LoadedModel } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';

const PROMPT_TEXT = 'Once upon a time, there was a dog named';

describe('generateText (stories260K)', () => {
  let model: LoadedModel;
  let promptIds: number[];
  beforeAll(async () => {
    model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32' });
    promptIds = model.tokenizer.encode(PROMPT_TEXT);
  });
  afterAll(() => model?.dispose());

  it('greedy continues the story and equals Transformer.generate', async () => {
    const streamed: string[] = [];
    const out = await generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 12, onText: (p) => streamed.push(p) });
    expect(out.text.startsWith(' Max. Max loved to play'), JSON.stringify(out.text)).toBe(true);
    expect(out.ids).toEqual(await model.transformer.generate(promptIds, 12, { stopIds: model.tokenizer.eosIds }));
    expect(out.finishReason).toBe('length');
    expect(out.ids.length).toBe(12);
    expect(streamed.join('')).toBe(out.text);
    expect(out.text).toBe(model.tokenizer.decode([...promptIds, ...out.ids]).slice(model.tokenizer.decode(promptIds).length));
  });

  it('sampling: same seed same ids, other seeds differ, top-k 1 equals greedy', async () => {
    const run = (seed: number, extra: { topK?: number; topP?: number } = {}) =>
      generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 16, temperature: 1.5, seed, stopIds: [], ...extra });
    const a = await run(11);
    const b = await run(11);
    expect(b.ids).toEqual(a.ids);
    const others = [await run(12), await run(13)];
    expect(
      others.some((o) => o.ids.join() !== a.ids.join()),
      'two other seeds both gave the same ids as seed 11',
    ).toBe(true);
    const greedy = await generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 16, stopIds: [] });
    expect((await run(5, { topK: 1 })).ids).toEqual(greedy.ids);
  });

  it('a stop id ends generation with finishReason stop', async () => {
    const greedy = await generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 8, stopIds: [] });
    const stopId = greedy.ids[3]!;
    const firstAt = greedy.ids.indexOf(stopId);
    const out = await generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 8, stopIds: [stopId] });
    expect(out.finishReason).toBe('stop');
    expect(out.ids).toEqual(greedy.ids.slice(0, firstAt + 1));
    expect(out.text).toBe(model.tokenizer.decode([...promptIds, ...greedy.ids.slice(0, firstAt)]).slice(model.tokenizer.decode(promptIds).length));
  });

  it('a stop string cuts the text before it', async () => {
    const streamed: string[] = [];
    const out = await generateText(model.transformer, model.tokenizer, {
      promptIds,
      maxNewTokens: 20,
      stopStrings: ['loved'],
      onText: (p) => streamed.push(p),
    });
    expect(out.finishReason).toBe('stop-string');
    expect(out.text).toBe(' Max. Max ');
    expect(streamed.join('')).toBe(out.text);
  });

  it('honours maxNewTokens (0 included) and rejects bad options', async () => {
    for (const n of [0, 1, 5]) {
      const out = await generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: n, stopIds: [] });
      expect(out.ids.length).toBe(n);
      expect(out.finishReason).toBe('length');
    }
    await expect(generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: -1 })).rejects.toThrow(/maxNewTokens/);
    await expect(generateText(model.transformer, model.tokenizer, { promptIds, maxNewTokens: 4, topP: 0 })).rejects.toThrow(/topP/);
    await expect(generateText(model.transformer, model.tokenizer, { promptIds: [], maxNewTokens: 4 })).rejects.toThrow(/no tokens/);
  });
});
