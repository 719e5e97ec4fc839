/**
 * The knowledge-incorporation domain as a SEAL Domain (src/seal/domain.ts), over this folder's parts:
 *   contexts     one per selected passage (id: its index in the data file, as text);
 *   self-edit    selfEditPromptText(kind, passage) as plain text (promptFormat 'plain': no chat template), free
 *                text (no schema), kept stripped as the reference kept its completions; a blank one is invalid;
 *   inner loop   trainingSequences(passage, completion) as text rows, each its own example, loss on every real
 *                token (never padding), with KNOWLEDGE_DEFAULTS.inner: LoRA r=32 / alpha=64 on q and v, 10 epochs,
 *                lr 1e-3 linear, batch 1, from one fixed initialisation seed;
 *   scoring      every question asked with answerPromptText (no passage in context), greedy, 64 new tokens, all
 *                of a passage's questions in one batch; the answers graded by the judges (the first decides); the
 *                reward is the fraction correct, every question recorded with its answer and each judge's verdict.
 *
 * The un-adapted model's accuracy is the loop's in-context baseline (runInContextBaseline): scored once per passage
 * and run, not once per candidate as the reference did.
 */
import type { Domain, DomainContext, DomainScore, InnerTrainingPlan, ScoringModel } from '../../seal/domain.ts';
import type { TestOutcome } from '../../seal/events.ts';
import type { ChatMessage } from '../../text/chat-template.ts';
import type { SftDataRow } from '../../train/sft-data.ts';
import { resolveSftHyperparameters, totalSftSteps } from '../../train/sft.ts';
import { answerPromptText, questionText } from './answer-prompt.ts';
import type { SquadDataset, SquadPassage } from './passages.ts';
import { pyStrip } from './python-text.ts';
import { selfEditPromptText, type SelfEditPromptKind } from './self-edit-prompts.ts';
import type { KnowledgeSettings } from './settings.ts';
import { trainingSequences } from './train-sequences.ts';
import type { Judge } from './judges/judge.ts';

export interface KnowledgeContext extends DomainContext {
  readonly passage: SquadPassage;
}

/** A self-edit of this domain: the text the policy wrote after the prompt (stripped). */
export interface KnowledgeSelfEdit {
  readonly completion: string;
}

export interface KnowledgeSealSettings {
  /** The reference's settings (KNOWLEDGE_DEFAULTS, or a copy with changes). */
  readonly knowledge: KnowledgeSettings;
  /** The self-edit prompt. */
  readonly prompt: SelfEditPromptKind;
  /** Training sequences by the reference's rules exactly, its self-QA defect included. */
  readonly compat: boolean;
  /** At least one (./judges); the first decides correctness and the reward, the others' verdicts are recorded beside it. */
  readonly judges: readonly Judge[];
}

export class KnowledgeSealDomain implements Domain<KnowledgeContext, KnowledgeSelfEdit> {
  readonly name = 'knowledge';
  readonly promptFormat = 'plain';
  private readonly list: KnowledgeContext[];

  /** The passages of `ids` (selectPassages) of the dataset, in that order. */
  constructor(
    dataset: SquadDataset,
    ids: readonly number[],
    readonly settings: KnowledgeSealSettings,
  ) {
    if (settings.judges.length === 0) throw new RangeError('knowledge SEAL: at least one judge is needed');
    if (ids.length === 0) throw new RangeError('knowledge SEAL: no passages');
    this.list = ids.map((id) => {
      const passage = dataset.passages[id];
      if (!passage) throw new RangeError(`knowledge SEAL: passage ${id} is not in ${dataset.source}`);
      return { id: String(id), passage };
    });
  }

  contexts(): readonly KnowledgeContext[] {
    return this.list;
  }

  selfEditPrompt(context: KnowledgeContext): ChatMessage[] {
    return [{ role: 'user', content: selfEditPromptText(this.settings.prompt, context.passage) }];
  }

  selfEditSchema(): null {
    return null;
  }

  parseSelfEdit(text: string) {
    const completion = pyStrip(text);
    if (completion === '') return { ok: false as const, reason: 'the self-edit is empty' };
    return { ok: true as const, edit: { completion }, adjustments: [] };
  }

  trainingPlan(context: KnowledgeContext, edit: KnowledgeSelfEdit): InnerTrainingPlan {
    const inner = this.settings.knowledge.inner;
    const sequences = trainingSequences(context.passage, edit.completion, { prompt: this.settings.prompt, compat: this.settings.compat });
    const rows: SftDataRow[] = sequences.map((text, i) => ({ kind: 'text', text, line: i + 1 }));
    return {
      skip: null,
      rows,
      lossMode: 'all',
      hyper: inner.hyper,
      lora: inner.lora,
      loraInitSeed: inner.loraInitSeed,
      plannedSteps: totalSftSteps(rows.length, resolveSftHyperparameters(inner.hyper)),
      notes: [],
    };
  }

  async score(context: KnowledgeContext, model: ScoringModel): Promise<DomainScore> {
    const { passage } = context;
    const prompts = passage.questions.map((q) => [{ role: 'user', content: answerPromptText(passage, q) }]);
    const samples = await model.generate(prompts, { maxNewTokens: this.settings.knowledge.answer.maxNewTokens, temperature: 0 });
    const items = passage.questions.map((q, j) => ({ question: questionText(passage, q), gold: q.answer, prediction: pyStrip(samples[j]!.text) }));
    const verdicts = await Promise.all(this.settings.judges.map((judge) => judge.grade(items)));
    const tests: TestOutcome[] = passage.questions.map((q, j) => ({
      id: `${context.id}-q${j}`,
      correct: verdicts[0]![j]!.correct,
      prediction: {
        answer: samples[j]!.text,
        gold: q.answer,
        verdicts: Object.fromEntries(this.settings.judges.map((judge, k) => [judge.name, verdicts[k]![j]!.correct])),
      },
    }));
    const correct = tests.filter((t) => t.correct).length;
    return { reward: correct / tests.length, solved: correct === tests.length, tests };
  }
}
