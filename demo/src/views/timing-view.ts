/**
 * "Time one candidate": one candidate's TTT and augmented inference on this GPU, at the Llama-3.2-1B shape (random
 * weights, nothing downloaded) or the loaded model's, on the chosen task with the reference's self-edit, in seconds
 * split into training and inference.
 */
import type { ArcTaskView, TimingRequest } from '../../../runtime-browser/engine/api.ts';
import type { Actions } from '../actions.ts';
import { button, el, formatSeconds, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';

export class TimingView {
  readonly element: HTMLElement;
  private readonly shape = el(
    'select',
    { 'aria-label': 'shape', 'data-testid': 'timing-shape' },
    el('option', { value: 'llama-3.2-1b' }, 'Llama-3.2-1B shape (random weights)'),
    el('option', { value: 'model' }, 'the loaded model'),
  );
  private readonly stepCap = el('input', { type: 'number', min: 1, step: 1, placeholder: 'all', 'aria-label': 'TTT step cap', 'data-testid': 'timing-steps' });
  private readonly runButton = button('Time one candidate', () => void this.run(), { 'data-testid': 'timing-run' });
  private readonly cancelButton = button('Cancel', () => {}, { disabled: true, 'data-testid': 'timing-cancel' });
  private readonly result = el('div', { 'data-testid': 'timing-result' });

  constructor(
    private readonly engine: Engine,
    private readonly actions: Actions,
    private readonly status: StatusLine,
    private readonly task: () => ArcTaskView | null,
  ) {
    actions.register(this.runButton);
    this.element = section(
      'Time one candidate',
      'timing',
      el(
        'p',
        { class: 'muted' },
        'One candidate on the chosen task with the reference self-edit. The target on a laptop GPU is at most 60 s per candidate at the 1B shape.',
      ),
      el('div', { class: 'row' }, this.shape, el('label', {}, 'TTT steps at most ', this.stepCap), this.runButton, this.cancelButton),
      this.result,
    );
  }

  private async run(): Promise<void> {
    const req: TimingRequest = { shape: this.shape.value === 'model' ? 'model' : 'llama-3.2-1b' };
    const task = this.task();
    if (task) req.task = task;
    const cap = Number(this.stepCap.value);
    if (this.stepCap.value.trim() !== '') {
      if (!Number.isSafeInteger(cap) || cap < 1) {
        this.status.set('the TTT step cap must be a whole number >= 1 (or empty: the whole plan)', 'error');
        return;
      }
      req.tttMaxSteps = cap;
    }
    const label = `timing one candidate (${req.shape})`;
    this.status.busy(`${label}…`);
    const t = await this.actions.run(label, this.cancelButton, (opId) => this.engine.timeOneCandidate(req, opId));
    if (!t) return;
    replace(
      this.result,
      el('strong', {}, formatSeconds(t.trainSeconds + t.inferenceSeconds)),
      ` per candidate at the ${t.shape} shape: training ${formatSeconds(t.trainSeconds)}, inference ${formatSeconds(t.inferenceSeconds)}`,
      el('div', { class: 'muted' }, t.detail),
    );
    this.status.done(`${label}: ${formatSeconds(t.trainSeconds + t.inferenceSeconds)}`);
  }
}
