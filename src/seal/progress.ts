/**
 * The progress line of a run, redrawn as events are appended: round, task and candidate (each as its 0-based id, as
 * the report and the folders name them, and its position "k/K"), and the TTT (or policy SFT) step with its loss. On a
 * TTY it is redrawn in place (at most every 100 ms); elsewhere a plain line is written at most every `lineIntervalMs`
 * so logs stay readable. Runtime-free: it writes to any stream-like.
 */
import { formatNumber } from './html.ts';
import type { RunState } from './run-state.ts';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A text bar of `width` cells for done / total. */
function bar(done: number, total: number, width = 16): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** The current progress as one line (empty when nothing is under way). */
export function formatRunProgress(state: RunState): string {
  const a = state.active;
  if (!a || !state.config) return '';
  const r = state.rounds.get(a.round);
  // Ids as the report and folders name them (0-based), with the position among all for the eye: "round 1 (2/2)".
  const parts = [`round ${a.round} (${a.round + 1}/${state.config.rounds})`];
  if (a.phase === 'sft') {
    parts.push(`policy SFT step ${a.step}${a.plannedSteps ? `/${a.plannedSteps} ${bar(a.step, a.plannedSteps)}` : ''}`);
  } else if (r && a.task !== null) {
    const t = r.tasks.indexOf(a.task);
    parts.push(`task ${a.task} (${t >= 0 ? t + 1 : '?'}/${r.tasks.length})`);
    parts.push(`candidate ${a.candidate ?? 0} (${(a.candidate ?? 0) + 1}/${r.candidatesPerTask})`);
    if (a.phase === 'sampling') parts.push('sampling');
    else if (a.phase === 'ttt') parts.push(`TTT step ${a.step}${a.plannedSteps ? `/${a.plannedSteps} ${bar(a.step, a.plannedSteps)}` : ''}`);
    else if (a.phase === 'scored') parts.push('scored');
  }
  if (a.loss !== null && (a.phase === 'ttt' || a.phase === 'sft')) parts.push(`loss ${formatNumber(a.loss)}`);
  if (r) {
    let scored = 0;
    for (const c of r.candidates.values()) if (c.score !== null) scored++;
    const total = r.tasks.length * r.candidatesPerTask;
    parts.push(`${scored}/${total} scored`);
  }
  return parts.join(' · ');
}

export interface ProgressDisplayOptions {
  stream: ProgressStream;
  now?: () => number;
  /** Minimum ms between plain (non-TTY) lines; default 10000. */
  lineIntervalMs?: number;
}

/** Redraws formatRunProgress(state) on a stream; call update() after each event, finish() at the end. */
export class RunProgressDisplay {
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly interval: number;
  private lastDraw = -Infinity;
  private drawnWidth = 0;

  constructor(private readonly options: ProgressDisplayOptions) {
    this.now = options.now ?? Date.now;
    this.tty = options.stream.isTTY === true;
    this.interval = this.tty ? 100 : (options.lineIntervalMs ?? 10_000);
  }

  update(state: RunState, force = false): void {
    if (!force && this.now() - this.lastDraw < this.interval) return;
    const text = formatRunProgress(state);
    if (!text) return;
    this.lastDraw = this.now();
    if (this.tty) {
      const line = text.slice(0, Math.max(20, (this.options.stream.columns ?? 120) - 1));
      this.options.stream.write(`\r${line}${' '.repeat(Math.max(0, this.drawnWidth - line.length))}`);
      this.drawnWidth = line.length;
    } else {
      this.options.stream.write(`${text}\n`);
    }
  }

  /** Ends an in-place line (TTY) so the next output starts on its own line. */
  finish(): void {
    if (this.tty && this.drawnWidth > 0) this.options.stream.write('\n');
    this.drawnWidth = 0;
  }
}
