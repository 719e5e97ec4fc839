/**
 * Where the SEAL loop records a run: the event log with its folded state (runtime-node/run-dir.ts's RunDir is one;
 * tests use an in-memory one) and the adapter files it keeps. The loop never writes anything else, and resumes
 * from `state` alone (the protocol: src/seal/run-state.ts).
 */
import type { LoraHostWeights } from '../lora/host-weights.ts';
import type { RunEventInput } from './events.ts';
import type { RunState } from './run-state.ts';

export interface RunRecorder {
  /** The folded log, current after every append. */
  readonly state: RunState;
  /** Appends one record (written before it returns). */
  append(input: RunEventInput): unknown;
  /** Appends 'round-finished' with the round's metrics (and rewrites the report). */
  finishRound(round: number): Promise<void>;
  /** The folder of a candidate's adapter, relative to the run, emptied of anything an interrupted try left. */
  prepareAdapterDir(round: number, task: string, candidate: number): Promise<string>;
  /** The folder of a round's policy checkpoint, relative to the run, emptied likewise. */
  preparePolicyDir(round: number): Promise<string>;
}

/** PEFT adapter folders; a path is relative to the run directory, or absolute (a policy from another run). */
export interface AdapterStore {
  save(path: string, weights: LoraHostWeights): Promise<void>;
  load(path: string): Promise<LoraHostWeights>;
}
