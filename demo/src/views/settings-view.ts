/**
 * The run settings a link reproduces (k, steps, answer-tokens, seed), their inputs, and the link itself.
 */
import { el } from '../dom.ts';
import { paramsUrl, type DemoParams } from '../params.ts';

export interface RunSettings {
  k: number;
  steps: number;
  answerTokens: number;
  seed: number;
}

export class SettingsView {
  readonly element: HTMLElement;
  private readonly inputs: Record<keyof RunSettings, HTMLInputElement>;
  private readonly link = el('a', { class: 'repro-link', 'data-testid': 'repro-link' }, 'link to this set-up');
  private readonly listeners = new Set<() => void>();

  constructor(
    initial: RunSettings,
    private readonly describeRest: () => Pick<DemoParams, 'model' | 'task'>,
  ) {
    const num = (value: number, min: number, max: number, label: string, testid: string) =>
      el('input', { type: 'number', value, min, max, step: 1, 'aria-label': label, 'data-testid': testid });
    this.inputs = {
      k: num(initial.k, 1, 32, 'self-edits per task (K)', 'setting-k'),
      steps: num(initial.steps, 0, 100_000, 'TTT max steps', 'setting-steps'),
      answerTokens: num(initial.answerTokens, 1, 8192, 'answer tokens', 'setting-answer-tokens'),
      seed: num(initial.seed, 0, 2 ** 31 - 1, 'seed', 'setting-seed'),
    };
    this.element = el(
      'div',
      { class: 'settings' },
      el('label', { title: 'self-edits sampled per task' }, 'K ', this.inputs.k),
      el('label', { title: 'most TTT optimizer steps per candidate' }, 'TTT max steps ', this.inputs.steps),
      el('label', { title: 'most new tokens per predicted answer' }, 'answer tokens ', this.inputs.answerTokens),
      el('label', {}, 'seed ', this.inputs.seed),
      this.link,
    );
    for (const input of Object.values(this.inputs)) input.addEventListener('change', () => this.changed());
    this.updateLink();
  }

  /** The current settings (an input holding a bad value keeps its last good one). */
  read(): RunSettings {
    const get = (key: keyof RunSettings) => {
      const input = this.inputs[key];
      const v = Number(input.value);
      const ok = input.value.trim() !== '' && Number.isSafeInteger(v) && v >= Number(input.min) && v <= Number(input.max);
      input.classList.toggle('bad-input', !ok);
      return ok ? v : Number(input.defaultValue);
    };
    return { k: get('k'), steps: get('steps'), answerTokens: get('answerTokens'), seed: get('seed') };
  }

  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  /** Refreshes the link after the model or task changed. */
  updateLink(): void {
    this.link.href = paramsUrl({ ...this.read(), ...this.describeRest(), autorun: false });
  }

  private changed(): void {
    this.updateLink();
    for (const fn of this.listeners) fn();
  }
}
