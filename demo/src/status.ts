/**
 * The page's one status line (data-testid="status"). Its text ends in "done" when a long action finishes (tests and
 * scripts wait for that); data-state says the same as a word: idle | busy | done | cancelled | error.
 */
import { el } from './dom.ts';

export type StatusState = 'idle' | 'busy' | 'done' | 'cancelled' | 'error';

export class StatusLine {
  readonly element = el('div', { 'data-testid': 'status', class: 'status', role: 'status', 'aria-live': 'polite', 'data-state': 'idle' }, 'ready');

  set(text: string, state: StatusState): void {
    this.element.textContent = text;
    this.element.dataset.state = state;
  }

  busy(text: string): void {
    this.set(text, 'busy');
  }

  /** A finished action: "<what> · done". */
  done(what: string): void {
    this.set(`${what} · done`, 'done');
  }
}
