/** Shared data of the SFT tests. */

/**
 * A short story with names stories260K has never seen: 100 tokens (102 with BOS and EOS); its tokenizer spells
 * "Zorvina" and "Quibbet" out piece by piece.
 */
export const STORY =
  'Once upon a time, there was a girl named Zorvina. She had a green frog called Quibbet. One day, Quibbet jumped in the river ' +
  'and came back with a red stone. Zorvina said, "Thank you, Quibbet!"';

/** The story's first words: the prompt greedy generation continues. */
export const STORY_START = 'Once upon a time, there was a girl named';

/** Hyperparameters that take stories260K below loss 0.1 on STORY (rank 16 on every projection, alpha 32). */
export const STORY_TRAINING = { rank: 16, alpha: 32, lr: 5e-3, maxSteps: 12, schedule: 'constant' as const };
