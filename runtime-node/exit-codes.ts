/**
 * The `seal` exit codes, one table for every command (documented in docs/cli.md and tested per code).
 * 130 for an interrupt follows the shell convention (128 + SIGINT).
 */
export const EXIT = {
  /** The command did what it was asked. */
  ok: 0,
  /** Anything else that went wrong: a broken model or adapter file, bad data, a failed self-test. */
  error: 1,
  /** A wrong flag or argument: one line saying what is wrong, and a pointer to --help. */
  usage: 2,
  /** No WebGPU adapter (or the requested one is absent). */
  noGpu: 3,
  /** The run directory is locked by another live process. */
  runLocked: 4,
  /** Stopped by Ctrl-C or SIGTERM after recording an `interrupted` event; the run resumes where it stopped. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
