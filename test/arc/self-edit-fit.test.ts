/**
 * fitSelfEditToModel: what the user did not set is fitted to the model (the self-edit budget to the tokenizer, the
 * compact instruction to a small context) with a note; what the user set is kept (a warning, or an error).
 */
import { describe, expect, it } from 'vitest';
import { loadArcDataset, resolveArcSettings, SELF_EDIT_INSTRUCTION_COMPACT, selfEditPrompt } from '../../src/domains/arc/index.ts';
import type { ArcSealSettings } from '../../src/domains/arc/seal-domain.ts';
import { fitSelfEditToModel, SelfEditFitError } from '../../src/domains/arc/self-edit-fit.ts';
import type { ChatMessage } from '../../src/text/chat-template.ts';

const dataset = loadArcDataset({
  challenges: {
    t1: {
      train: [
        {
          input: [
            [1, 2],
            [3, 4],
          ],
          output: [
            [2, 1],
            [4, 3],
          ],
        },
      ],
      test: [
        {
          input: [
            [5, 6],
            [7, 8],
          ],
        },
      ],
    },
    t2: {
      train: [
        {
          input: [
            [1, 2, 3],
            [4, 5, 6],
            [7, 8, 9],
          ],
          output: [
            [3, 2, 1],
            [6, 5, 4],
            [9, 8, 7],
          ],
        },
      ],
      test: [
        {
          input: [
            [1, 1, 1],
            [2, 2, 2],
            [3, 3, 3],
          ],
        },
      ],
    },
  },
  solutions: {
    t1: [
      [
        [6, 5],
        [8, 7],
      ],
    ],
    t2: [
      [
        [1, 1, 1],
        [2, 2, 2],
        [3, 3, 3],
      ],
    ],
  },
});
const settings: ArcSealSettings = { arc: resolveArcSettings(), tttMaxSteps: null, answerMaxNewTokens: null, prompts: { selfEdit: {}, solve: {} } };
/** A character-level tokenizer (as stories260K's nearly is): one token per character. */
const chars = (m: readonly ChatMessage[]) => m.reduce((n, x) => n + x.content.length + 4, 1);
const promptChars = (instruction: string, task: number) => chars(selfEditPrompt(dataset.tasks[task]!.train, { instruction }));
const none = { instruction: false, maxNewTokens: false };
/** The self-edit budget fitted to the character-level tokenizer (with all the room there is). */
const budget = () => fitSelfEditToModel(dataset, settings, { context: 1e9, countTokens: chars, given: none }).settings.arc.selfEdit.sampling.maxNewTokens;

describe('fitSelfEditToModel', () => {
  it('a model with room keeps the settings as they are', () => {
    const fit = fitSelfEditToModel(dataset, settings, { context: 8192, countTokens: (m) => Math.ceil(chars(m) / 4), given: none });
    expect(fit).toEqual({ settings, notes: [], warnings: [] });
    expect(fit.settings).toBe(settings);
  });

  it('a character-level tokenizer and a small context: the budget is raised and the compact instruction used, each with a note', () => {
    const fit = fitSelfEditToModel(dataset, settings, { context: budget() + promptChars(SELF_EDIT_INSTRUCTION_COMPACT, 1), countTokens: chars, given: none });
    expect(fit.settings.arc.selfEdit.sampling.maxNewTokens).toBeGreaterThan(128);
    expect(fit.settings.arc.selfEdit.sampling.maxNewTokens % 8).toBe(0);
    expect(fit.settings.prompts.selfEdit).toEqual({ instruction: SELF_EDIT_INSTRUCTION_COMPACT });
    expect(fit.notes).toHaveLength(2);
    expect(fit.notes[0]).toMatch(/self-edit takes about \d+ tokens .* raised from 128 to \d+ new tokens/);
    expect(fit.notes[1]).toMatch(/self-edit prompt of task t1 is \d+ tokens with the full instruction, too long .* using the compact instruction/);
    // Everything else is untouched.
    expect({ ...fit.settings.arc, selfEdit: null }).toEqual({ ...settings.arc, selfEdit: null });
    expect(fit.settings.arc.selfEdit.limits).toEqual(settings.arc.selfEdit.limits);
  });

  it('what the user set is kept: a short budget warns, an instruction that does not fit is an error naming the fixes', () => {
    const small = { ...settings, arc: resolveArcSettings({ selfEdit: { sampling: { maxNewTokens: 40 } } }) };
    const fit = fitSelfEditToModel(dataset, small, { context: 100_000, countTokens: chars, given: { instruction: false, maxNewTokens: true } });
    expect(fit.settings).toBe(small);
    expect(fit.warnings).toEqual([expect.stringMatching(/more than --max-new-tokens 40: most samples will be cut/)]);
    const mine = { ...settings, prompts: { selfEdit: { instruction: 'x'.repeat(2000) }, solve: {} } };
    expect(() => fitSelfEditToModel(dataset, mine, { context: 2000, countTokens: chars, given: { instruction: true, maxNewTokens: false } })).toThrow(
      SelfEditFitError,
    );
    expect(() => fitSelfEditToModel(dataset, mine, { context: 2000, countTokens: chars, given: { instruction: true, maxNewTokens: false } })).toThrow(
      /task t1 is \d+ tokens: with \d+ new tokens it does not fit the model's 2000-token context; use smaller tasks, a shorter --self-edit-instruction FILE, or a model/,
    );
  });

  it('a task too big for even the compact instruction is an error', () => {
    const context = budget() + promptChars(SELF_EDIT_INSTRUCTION_COMPACT, 0); // t1 fits with the compact instruction, t2 does not
    expect(() => fitSelfEditToModel(dataset, settings, { context, countTokens: chars, given: none })).toThrow(
      /task t2 is \d+ tokens even with the compact instruction: .* does not fit the model's \d+-token context; use smaller tasks/,
    );
  });
});
