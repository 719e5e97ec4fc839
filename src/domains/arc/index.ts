/**
 * The ARC domain of SEAL (docs/reference/seal-arc.md §1), runtime-free: tasks, the grid text format, augmentations,
 * the self-edit, TTT data and run settings, augmented inference, voting and scoring. The GPU parts (LoRA training,
 * generation) take what these functions produce: chat messages, SFT rows, hyperparameters, a JSON schema.
 *
 * One task, end to end:
 *   const data = loadArcDataset({ challenges, solutions, taskIds: SEAL_1B_EVAL_TASK_IDS });
 *   const train = data.tasks[0].train;
 *   selfEditPrompt(train) -> generate with JsonSchemaConstraint.fromTokenizer(selfEditSchema(), tokenizer)
 *   collectSelfEdits({ count, maxAttempts, sample }) -> edits (invalid samples kept with reasons)
 *   buildTttDataset(train, augmentationsFor(edit.augmentations), { countTokens }) -> examples
 *   planTttRun(edit, dataset.examples.length) -> { skip, lossMode, hyper, lora }; tttTrainingRows(dataset) -> SFT rows
 *   for each test task: buildInferencePlan(task, { countTokens }) -> queries; generate greedily after query.messages;
 *   collectPredictions(plan, texts) -> vote(predictions).attempts; scoreTasks(data.tasks, attemptsByName)
 *
 * The reference's defects and how this code avoids them:
 *   - Padding in the loss (every example padded to the longest and the pads trained; the output-only mask also
 *     trained the trailing generation header): examples are chat conversations for src/train, which packs without
 *     padding; 'output' loss covers the answer and its end-of-turn token only (rendered without a generation prompt).
 *   - Doubled BOS (the template writes it, then tokenization with special tokens adds it again): we produce messages,
 *     never token ids or BOS strings; the tokenizer (encodeChat, src/train/sft-data) puts BOS in exactly once.
 *   - The date stamped into prompts (Llama 3's template prints today's date): our texts carry no date and chat
 *     templates render with a pinned date (src/text/chat-template.ts).
 *   - Unbounded retries of unparsable self-edits (and crashes on missing keys): constrained decoding with
 *     selfEditSchema() makes every sample valid JSON; collectSelfEdits caps the attempts; validateSelfEdit reports
 *     a missing or mistyped field as invalid with the reason and clamps out-of-range values, recording each change.
 *   - Silently dropped tasks (n_tasks / num_examples slicing with seeded shuffles: tasks trained but never scored, a
 *     task scored without an adapter): explicit task-id lists that must resolve; unusable tasks listed in
 *     `excluded` with the reason; an empty TTT dataset or an over-budget run is a recorded skip; a test input with no
 *     query that fits is an invalid plan with its reason; no prediction is a flagged fallback vote.
 *   - Run-to-run nondeterminism (Python set order, salted per process, decided the TTT example list, the 250 that
 *     survive the cap and the inference queries): first-occurrence dedupe and seeded streams (rng.ts).
 *   - The solution deciding which inference queries run (the length filter counted the true answer): the stand-in
 *     answer is the test input.
 */
export * from './grid.ts';
export * from './grid-format.ts';
export * from './tasks.ts';
export * from './rng.ts';
export * from './augmentations.ts';
export * from './prompts.ts';
export * from './settings.ts';
export * from './self-edit.ts';
export * from './ttt-dataset.ts';
export * from './ttt-plan.ts';
export * from './inference-plan.ts';
export * from './voting.ts';
export * from './scoring.ts';
