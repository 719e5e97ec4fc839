/**
 * Fits the self-edit request to the model before a run: a self-edit must fit in the sampling budget (max new
 * tokens), and every task's self-edit prompt plus that budget must fit the model's context. What the user did not
 * set is adapted, with a note saying so: the budget is raised to what a self-edit takes in this tokenizer (a
 * character-level vocabulary needs ~250 tokens, Llama 3's ~60), and a prompt that does not fit with the full
 * instruction gets the compact one. What the user set is kept: a warning, or an error naming the fix.
 */
import { ARC_ORACLE_SELF_EDIT, type ArcSealSettings } from './seal-domain.ts';
import { SELF_EDIT_INSTRUCTION_COMPACT, selfEditPrompt } from './prompts.ts';
import { selfEditJson } from './self-edit.ts';
import type { ArcDataset } from './tasks.ts';
import type { ChatMessage } from '../../text/chat-template.ts';

/** Neither instruction fits some task's self-edit prompt into the model's context. */
export class SelfEditFitError extends Error {}

export interface SelfEditFit {
  /** The settings to run with (the given ones when nothing had to change). */
  settings: ArcSealSettings;
  /** What was adapted, for the user. */
  notes: string[];
  /** What the user set that will not work well. */
  warnings: string[];
}

export interface SelfEditFitOptions {
  /** The model's context in tokens. */
  context: number;
  /** Tokens of a conversation as the model sees it. */
  countTokens: (messages: readonly ChatMessage[]) => number;
  /** Whether the user chose the instruction / the max new tokens (then they are kept). */
  given: { instruction: boolean; maxNewTokens: boolean };
}

export function fitSelfEditToModel(dataset: ArcDataset, settings: ArcSealSettings, o: SelfEditFitOptions): SelfEditFit {
  const notes: string[] = [];
  const warnings: string[] = [];
  const { countTokens: count, context } = o;
  let maxNew = settings.arc.selfEdit.sampling.maxNewTokens;
  // A self-edit's tokens: the oracle's JSON (the longest field values a sample is likely to write are similar).
  const needed = count([{ role: 'assistant', content: selfEditJson(ARC_ORACLE_SELF_EDIT) }]) - count([{ role: 'assistant', content: '' }]);
  if (needed > maxNew) {
    if (o.given.maxNewTokens) {
      warnings.push(
        `a self-edit takes about ${needed} tokens with this tokenizer, more than --max-new-tokens ${maxNew}: most samples will be cut (invalid); raise --max-new-tokens`,
      );
    } else {
      const raised = Math.ceil((needed * 1.3) / 8) * 8;
      notes.push(
        `a self-edit takes about ${needed} tokens with this tokenizer: the self-edit budget is raised from ${maxNew} to ${raised} new tokens (--max-new-tokens sets it)`,
      );
      maxNew = raised;
    }
  }
  /** The first task whose prompt with this instruction does not fit, or null. */
  const misfit = (selfEdit: ArcSealSettings['prompts']['selfEdit']) => {
    for (const id of dataset.taskIds) {
      const tokens = count(selfEditPrompt(dataset.tasks.find((t) => t.taskId === id)!.train, selfEdit));
      if (tokens + maxNew > context) return { id, tokens };
    }
    return null;
  };
  let selfEdit = settings.prompts.selfEdit;
  let bad = misfit(selfEdit);
  let compactTried = false;
  if (bad && !o.given.instruction) {
    const compact = { ...selfEdit, instruction: SELF_EDIT_INSTRUCTION_COMPACT };
    const compactBad = misfit(compact);
    if (!compactBad) {
      notes.push(
        `the self-edit prompt of task ${bad.id} is ${bad.tokens} tokens with the full instruction, too long for ${maxNew} new tokens in the model's ${context}-token context: ` +
          `using the compact instruction "${SELF_EDIT_INSTRUCTION_COMPACT}" (--self-edit-instruction FILE chooses another)`,
      );
      selfEdit = compact;
    }
    bad = compactBad;
    compactTried = true;
  }
  if (bad) {
    throw new SelfEditFitError(
      `the self-edit prompt of task ${bad.id} is ${bad.tokens} tokens${compactTried ? ' even with the compact instruction' : ''}: with ${maxNew} new tokens it does not fit the model's ${context}-token context; ` +
        `use smaller tasks, a shorter --self-edit-instruction FILE${o.given.maxNewTokens ? ' or fewer --max-new-tokens' : ''}, or a model with a longer context`,
    );
  }
  if (selfEdit === settings.prompts.selfEdit && maxNew === settings.arc.selfEdit.sampling.maxNewTokens) return { settings, notes, warnings };
  const arc = settings.arc;
  return {
    settings: {
      ...settings,
      arc: { ...arc, selfEdit: { ...arc.selfEdit, sampling: { ...arc.selfEdit.sampling, maxNewTokens: maxNew } } },
      prompts: { ...settings.prompts, selfEdit },
    },
    notes,
    warnings,
  };
}
