/**
 * Long actions (download, sampling, training, ReST-EM, timing): one at a time, each with its own opId so its Cancel
 * button aborts exactly it (engine.cancel(opId)); the engine rejects a cancelled call with an AbortError and stays
 * usable. While one runs, every other start button is disabled.
 */
import type { Engine } from './engine.ts';
import { errorMessage } from './dom.ts';
import type { StatusLine } from './status.ts';

export class Actions {
  private running: string | null = null;
  private counter = 0;
  private readonly startButtons = new Set<HTMLButtonElement>();
  private readonly listeners = new Set<(busy: boolean) => void>();

  constructor(
    private readonly engine: Engine,
    private readonly status: StatusLine,
  ) {}

  get busy(): boolean {
    return this.running !== null;
  }

  /** Buttons that start an action: disabled while any action runs. */
  register(...buttons: HTMLButtonElement[]): void {
    for (const b of buttons) {
      this.startButtons.add(b);
      b.disabled = this.busy;
    }
  }

  onBusyChange(fn: (busy: boolean) => void): void {
    this.listeners.add(fn);
  }

  /**
   * Runs `fn(opId)` with `cancel` enabled meanwhile. Resolves to its result, or to null when it was cancelled or
   * failed (the status line says which, with the engine's message). `label` names the action in the status line.
   */
  async run<T>(label: string, cancel: HTMLButtonElement, fn: (opId: string) => Promise<T>): Promise<T | null> {
    if (this.running !== null) {
      this.status.set(`${this.running} is still running: wait for it or cancel it first`, 'error');
      return null;
    }
    const opId = `${label.replace(/\W+/g, '-')}-${++this.counter}`;
    this.setRunning(label);
    const onCancel = () => {
      cancel.disabled = true;
      this.status.busy(`${label}: cancelling…`);
      void this.engine.cancel(opId);
    };
    cancel.disabled = false;
    cancel.addEventListener('click', onCancel);
    try {
      return await fn(opId);
    } catch (e) {
      if (isAbort(e)) this.status.set(`${label}: cancelled`, 'cancelled');
      else this.status.set(`${label} failed: ${errorMessage(e)}`, 'error');
      return null;
    } finally {
      cancel.removeEventListener('click', onCancel);
      cancel.disabled = true;
      this.setRunning(null);
    }
  }

  private setRunning(label: string | null): void {
    this.running = label;
    for (const b of this.startButtons) b.disabled = label !== null;
    for (const fn of this.listeners) fn(label !== null);
  }
}

/** The engine's cancelled call (an Error named AbortError; comlink keeps name and message). */
export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}
