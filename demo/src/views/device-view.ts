/** Device facts: the adapter, shader-f16 and subgroups, the limits that decide what fits, and the memory plan in use. */
import type { EngineInfo } from '../../../runtime-browser/engine/api.ts';
import { el, errorMessage, formatBytes, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import { memoryPlanView } from './memory-plan.ts';

export class DeviceView {
  private readonly body = el('div', { 'data-testid': 'device' }, 'Starting the engine…');
  readonly element = section('Device', 'device', this.body);

  constructor(private readonly engine: Engine) {}

  async refresh(): Promise<EngineInfo | null> {
    try {
      const info = await this.engine.info();
      const a = info.adapter;
      const yes = (b: boolean) => el('span', { class: b ? 'ok' : 'muted' }, b ? 'yes' : 'no');
      replace(
        this.body,
        el(
          'table',
          { class: 'facts' },
          el('tr', {}, el('th', {}, 'adapter'), el('td', {}, [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unknown')),
          el('tr', {}, el('th', {}, 'shader-f16'), el('td', {}, yes(info.features.shaderF16), info.features.shaderF16 ? '' : ' (f32 everywhere)')),
          el('tr', {}, el('th', {}, 'subgroups'), el('td', {}, yes(info.features.subgroups))),
          el('tr', {}, el('th', {}, 'max buffer'), el('td', {}, formatBytes(info.limits.maxBufferSize))),
          el('tr', {}, el('th', {}, 'max storage binding'), el('td', {}, formatBytes(info.limits.maxStorageBufferBindingSize))),
          el('tr', {}, el('th', {}, 'engine'), el('td', {}, info.inWorker ? 'in a Web Worker' : 'on the page thread')),
        ),
        info.memoryPlan ? memoryPlanView(info.memoryPlan) : null,
      );
      return info;
    } catch (e) {
      replace(this.body, el('span', { class: 'bad' }, `No WebGPU device: ${errorMessage(e)}`));
      return null;
    }
  }
}
