/**
 * The knowledge-incorporation domain of SEAL (docs/reference/seal-knowledge.md §2), runtime-free: SQuAD passages and
 * their selection, the five self-edit prompts, training sequences from a self-edit, the question prompt, and the
 * reference's settings. The GPU parts (sampling, LoRA training, answering) take the texts these functions produce.
 *
 * One passage, end to end:
 *   const data = parseSquadDataset(text, file); const ids = selectPassages('eval', data);
 *   selfEditPromptText('implications', passage) -> sample (KNOWLEDGE_DEFAULTS.selfEdit, selfEditTokenBudget)
 *   trainingSequences(passage, completion, { prompt }) -> LoRA training (KNOWLEDGE_DEFAULTS.inner)
 *   for each question: answerPromptText(passage, q) -> greedy, 64 tokens -> a judge (./judges) with questionText
 *
 * The reference's defects and how this code avoids them:
 *   - The self-QA split missed "Answer N:", so question and answer became separate sequences: fixed in
 *     trainingSequences (its `compat` option reproduces the reference exactly).
 *   - Evaluation passages chosen by re-running Python's seeded shuffle: the paper's 200 are shipped as ids and
 *     content fingerprints (eval-passages.ts) and found in any file that holds them.
 */
export * from './passages.ts';
export * from './eval-passages.ts';
export * from './passage-selection.ts';
export * from './self-edit-prompts.ts';
export * from './answer-prompt.ts';
export * from './train-sequences.ts';
export * from './token-budget.ts';
export * from './settings.ts';
