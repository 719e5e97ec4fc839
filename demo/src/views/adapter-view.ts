/**
 * The policy adapter as PEFT files (adapter_config.json, adapter_model.safetensors): export (downloads) and import
 * (files picked), so an adapter from `seal arc train` on a GPU server loads here, and the other way round. Also the
 * session export: the run's events as JSONL, in the format of a CLI run directory's events.jsonl.
 */
import { button, el, errorMessage, section } from '../dom.ts';
import { download } from '../download.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';

export class AdapterView {
  readonly element: HTMLElement;
  private readonly importInput = el('input', {
    type: 'file',
    multiple: true,
    accept: '.json,.safetensors',
    'aria-label': 'PEFT adapter files',
    'data-testid': 'policy-import',
  });

  constructor(
    private readonly engine: Engine,
    private readonly status: StatusLine,
  ) {
    this.importInput.addEventListener('change', () => void this.importPolicy());
    this.element = section(
      'Policy adapter and session',
      'adapter',
      el(
        'div',
        { class: 'row' },
        button('Export policy adapter (PEFT)', () => void this.exportPolicy(), { 'data-testid': 'policy-export' }),
        el('label', {}, 'import a PEFT adapter (adapter_config.json + adapter_model.safetensors) ', this.importInput),
      ),
      el(
        'div',
        { class: 'row' },
        button('Export session (events.jsonl)', () => void this.exportSession(), { 'data-testid': 'session-export' }),
      ),
    );
  }

  private async exportPolicy(): Promise<void> {
    try {
      const files = await this.engine.exportPolicy();
      for (const [name, bytes] of Object.entries(files)) download(name, bytes, name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
      this.status.set(`policy adapter exported: ${Object.keys(files).join(', ')}`, 'idle');
    } catch (e) {
      this.status.set(`cannot export the policy adapter: ${errorMessage(e)}`, 'error');
    }
  }

  private async importPolicy(): Promise<void> {
    const picked = Array.from(this.importInput.files ?? []);
    if (picked.length === 0) return;
    try {
      const files: Record<string, Uint8Array> = {};
      for (const f of picked) files[f.name] = new Uint8Array(await f.arrayBuffer());
      await this.engine.importPolicy(files);
      this.status.set(`policy adapter imported from ${picked.map((f) => f.name).join(', ')}`, 'idle');
    } catch (e) {
      this.status.set(`cannot import the policy adapter: ${errorMessage(e)}`, 'error');
    } finally {
      this.importInput.value = '';
    }
  }

  private async exportSession(): Promise<void> {
    try {
      download('events.jsonl', await this.engine.exportSession(), 'application/x-ndjson');
      this.status.set('session exported as events.jsonl', 'idle');
    } catch (e) {
      this.status.set(`cannot export the session: ${errorMessage(e)}`, 'error');
    }
  }
}
