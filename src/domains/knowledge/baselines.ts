/**
 * The paper's knowledge baselines besides the model alone (runInContextBaseline), each an eval round of the SEAL loop
 * with fixed or sampled self-edits (docs/reference/seal-knowledge.md §2.9):
 *   passage      the passage only: an empty completion, which trainingSequences turns into the passage alone;
 *   synthetic    completions read from a file in the reference's format (each record the passage's
 *                {title, context, questions} plus "completions": [strings]), e.g. GPT-4.1's; candidate k trains on
 *                the passage's k-th completion;
 *   self-edits   the base model's own self-edits (an eval round without a policy: no RL).
 */
import { KnowledgeDataError, type SquadDataset, type SquadPassage } from './passages.ts';
import { type KnowledgeContext, type KnowledgeSelfEdit, KnowledgeSealDomain } from './seal-domain.ts';

export const KNOWLEDGE_BASELINES = ['base', 'passage', 'synthetic', 'self-edits'] as const;
export type KnowledgeBaseline = (typeof KNOWLEDGE_BASELINES)[number];

/** The domain of the passage-only baseline: the one self-edit it trains on is empty (the passage alone). */
export class PassageOnlyDomain extends KnowledgeSealDomain {
  override parseSelfEdit(text: string) {
    if (text !== '') return super.parseSelfEdit(text);
    const edit: KnowledgeSelfEdit = { completion: '' };
    return { ok: true as const, edit, adjustments: [] };
  }
}

/** Completions per passage, found by (title, context) in a synthetic-data file. */
export class SyntheticCompletions {
  private readonly byPassage = new Map<string, string[]>();
  readonly source: string;

  /** `data`: the synthetic-data file parsed as SQuAD data (parseSquadDataset keeps each record's completions). */
  constructor(data: SquadDataset) {
    this.source = data.source;
    for (const p of data.passages) {
      // The reference takes the first non-empty completions (query_server.py), stripped as it stored them.
      this.byPassage.set(
        passageKey(p.title, p.context),
        p.completions.map((c) => c.trim()).filter((c) => c !== ''),
      );
    }
  }

  /** The first `k` completions of a passage (KnowledgeDataError when the file lacks it or has fewer). */
  of(passage: SquadPassage, k: number): string[] {
    const texts = this.byPassage.get(passageKey(passage.title, passage.context));
    if (!texts) throw new KnowledgeDataError(`${this.source} has no completions for the passage "${passage.title}" (matched by title and context)`);
    if (texts.length < k)
      throw new KnowledgeDataError(`${this.source} has ${texts.length} non-empty completion(s) for "${passage.title}", fewer than --self-edits ${k}`);
    return texts.slice(0, k);
  }

  /** The fixed self-edits of the loop (SealLoopOptions.fixedSelfEdits) for K candidates per passage. */
  fixedSelfEdits(k: number): (context: KnowledgeContext) => string[] {
    return (context) => this.of(context.passage, k);
  }
}

const passageKey = (title: string, context: string) => `${title}\u0000${context}`;
