/**
 * A SEAL run kept in memory: the event log (stamped records, exportable as the JSONL a run directory's events.jsonl
 * holds, line for line the same format) with its folded state, and the adapters it saves. The browser engine runs
 * the loop over it (there is no run directory in a page); the loop's tests use it as their log.
 */
import type { LoraHostWeights } from '../lora/host-weights.ts';
import { eventLine, stampEvent, type Invocation, type RunEvent, type RunEventInput } from './events.ts';
import { configHash, type RunConfig } from './run-config.ts';
import type { AdapterStore, RunRecorder } from './run-recorder.ts';
import { applyEvent, emptyRunState, roundMetrics } from './run-state.ts';

export interface MemoryRunOptions {
  /** Clock of the records' `time` (default: now). */
  now?: () => Date;
  /** Told every record as it is appended. */
  onEvent?: (event: RunEvent) => void;
}

export class MemoryRun implements RunRecorder {
  readonly events: RunEvent[] = [];
  readonly state = emptyRunState();

  constructor(private readonly options: MemoryRunOptions = {}) {}

  /** A new run: its 'run-started' record written. */
  static start(config: RunConfig, invocation: Invocation, options: MemoryRunOptions = {}): MemoryRun {
    const run = new MemoryRun(options);
    run.append({ type: 'run-started', config, configHash: configHash(config), invocation });
    return run;
  }

  append(input: RunEventInput): RunEvent {
    const event = stampEvent(input, this.events.length + 1, (this.options.now ?? (() => new Date()))());
    this.events.push(event);
    applyEvent(this.state, event);
    this.options.onEvent?.(event);
    return event;
  }

  async finishRound(round: number): Promise<void> {
    this.append({ type: 'round-finished', round, metrics: roundMetrics(this.state.rounds.get(round)!) });
  }

  /** Paths are names in the run's AdapterStore (laid out as in a run directory). */
  async prepareAdapterDir(round: number, task: string, candidate: number): Promise<string> {
    return `adapters/round-${round}/${task}/candidate-${candidate}`;
  }

  async preparePolicyDir(round: number): Promise<string> {
    return `policy/round-${round}`;
  }

  /** Records the end of the run ('run-finished'). */
  finish(): void {
    this.append({ type: 'run-finished' });
  }

  /** Records a failure ('run-failed') or a cancellation ('interrupted', as a stopped CLI run records it). */
  fail(error: unknown): void {
    const e = error as Error | null;
    if (e?.name === 'AbortError') this.append({ type: 'interrupted', signal: 'abort' });
    else this.append({ type: 'run-failed', error: e?.message ?? String(error) });
  }

  /** The log as a run directory's events.jsonl holds it. */
  jsonl(): string {
    return this.events.map(eventLine).join('');
  }
}

/** Adapters by path, in memory. */
export class MemoryAdapterStore implements AdapterStore {
  readonly files = new Map<string, LoraHostWeights>();

  async save(path: string, weights: LoraHostWeights): Promise<void> {
    this.files.set(path, weights);
  }

  async load(path: string): Promise<LoraHostWeights> {
    const w = this.files.get(path);
    if (!w) throw new Error(`no adapter saved at ${path}`);
    return w;
  }
}
