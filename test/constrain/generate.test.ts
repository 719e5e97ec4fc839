/**
 * End to end on the GPU: the real stories260K model writes JSON under a schema. A host loop runs Transformer.step with
 * a token chooser that samples (temperature 1) under the constraint's mask; every output must parse, validate and
 * end with EOS within a budget that bounds the longest document the schema allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonSchemaConstraint } from '../../src/constrain/token-mask.ts';
import { tokenBytes } from '../../src/constrain/token-bytes.ts';
import type { TokenChooser } from '../../src/inference/transformer.ts';
import { maskWords, sample } from '../../src/ops/sampling.ts';
import { loadModelDir, type LoadedModel } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';
import { referenceAccepts } from './reference.ts';

const PROMPT = 'Once upon a time, there was a dog named';

// Each with the most bytes (= most tokens) a document can take, so generation must end within that budget + EOS.
const SCHEMAS: [string, unknown, number][] = [
  [
    'an object with a string array',
    {
      type: 'object',
      properties: { names: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4 }, minItems: 1, maxItems: 3 } },
      required: ['names'],
    },
    // {"names":[ + 3 strings of 4 code points, each at most a 12-byte surrogate-pair escape + quotes, 2 commas + ]}
    10 + 3 * (2 + 4 * 12) + 2 + 2,
  ],
  ['an enum', { type: 'object', properties: { mood: { enum: ['happy', 'sad', 'sleepy', 'very happy'] } }, required: ['mood'] }, '{"mood":"very happy"}'.length],
  [
    'a nested object with numbers and booleans',
    {
      type: 'object',
      properties: {
        dog: {
          type: 'object',
          properties: { age: { type: 'integer', minimum: 0, maximum: 20 }, weight: { type: 'number', minimum: -1, maximum: 9.5 }, good: { type: 'boolean' } },
          required: ['age', 'good'],
        },
        happy: { type: 'boolean' },
      },
      required: ['dog'],
    },
    '{"dog":{"age":20,"weight":-1.000000000000000,"good":false},"happy":false}'.length,
  ],
];

describe('JSON-schema constrained generation (stories260K on the GPU)', () => {
  let model: LoadedModel;
  let promptIds: number[];
  beforeAll(async () => {
    model = await loadModelDir(await testContext(), sharedPath('models/stories260K'), { matmul: 'f32' });
    promptIds = model.tokenizer.encode(PROMPT);
  });
  afterAll(() => model?.dispose());

  /** Samples under the constraint until EOS or the budget; returns the generated ids. */
  async function generate(constraint: JsonSchemaConstraint, seed: number, budget: number, settings: { topK?: number; topP?: number } = {}): Promise<number[]> {
    const { transformer } = model;
    const ctx = transformer.ctx;
    const vocab = transformer.config.vocabSize;
    const sequence = constraint.sequence();
    const cache = transformer.createCache(promptIds.length + budget);
    const ids: number[] = [];
    try {
      let input: readonly number[] = promptIds;
      for (let step = 0; step < budget && !constraint.isFinished(sequence.state); step++) {
        const mask = ctx.upload('u32', [1, maskWords(vocab)], sequence.allowed());
        const choose: TokenChooser = (rec, logits, tokens) => sample(rec, { logits, tokens, rows: 1, vocab, temperature: 1, seed, step, mask, ...settings });
        try {
          const next = await transformer.step(cache, input, choose);
          sequence.accept(next); // throws if the GPU chose a token the mask did not allow
          ids.push(next);
          input = [next];
        } finally {
          ctx.free(mask);
        }
      }
    } finally {
      cache.dispose();
    }
    return ids;
  }

  it('every output parses, validates and ends with EOS within the budget (3 schemas, several seeds)', async () => {
    const { tokenizer } = model;
    const bytes = tokenBytes(tokenizer).bytes;
    const outputs = new Set<string>();
    let steps = 0;
    for (const [name, schema, longest] of SCHEMAS) {
      const constraint = JsonSchemaConstraint.fromTokenizer(schema, tokenizer, { vocabSize: model.transformer.config.vocabSize });
      for (const [seed, settings] of [
        [1, {}],
        [2, {}],
        [3, { topK: 20, topP: 0.9 }],
      ] as const) {
        const ids = await generate(constraint, seed, longest + 1, settings);
        steps += ids.length;
        const what = `${name}, seed ${seed}: ids ${ids.join(',')}`;
        expect(tokenizer.isEosId(ids[ids.length - 1]!), `${what}: ends with EOS`).toBe(true);
        const docBytes = ids.slice(0, -1).flatMap((id) => Array.from(bytes[id]!));
        const doc = new TextDecoder().decode(Uint8Array.from(docBytes));
        expect(referenceAccepts(schema, Uint8Array.from(docBytes), 0), `${what}: ${doc}`).toBe(true);
        expect(() => JSON.parse(doc), what).not.toThrow();
        // The tokenizer's own decoding of the continuation is the same text.
        const full = tokenizer.decode([...promptIds, ...ids.slice(0, -1)]);
        expect(full.slice(tokenizer.decode(promptIds).length), what).toBe(doc);
        outputs.add(doc);
      }
    }
    console.log(`constrained generation: ${steps} steps, outputs:\n  ${[...outputs].join('\n  ')}`);
    expect(outputs.size, 'different seeds should give different documents').toBeGreaterThan(3);
  });
});
