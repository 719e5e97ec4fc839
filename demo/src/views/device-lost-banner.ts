/** Shown when the GPU device is lost: what happened, and a reload button (a new page starts a new worker and device). */
import { button, el } from '../dom.ts';

export class DeviceLostBanner {
  private readonly message = el('span', {});
  readonly element = el(
    'div',
    { class: 'device-lost', role: 'alert', hidden: true, 'data-testid': 'device-lost' },
    el('strong', {}, 'The GPU device was lost. '),
    this.message,
    ' ',
    button('Reload', () => location.reload(), { 'data-testid': 'reload' }),
  );

  show(message: string): void {
    this.message.textContent = message;
    this.element.hidden = false;
  }
}
