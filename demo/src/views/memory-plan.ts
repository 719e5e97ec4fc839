/** The memory plan (the memory-saving choices the engine made from the device's limits), each with its reason. */
import type { MemoryPlan } from '../../../runtime-browser/engine/api.ts';
import { el } from '../dom.ts';

const LABELS: Record<keyof MemoryPlan, string> = {
  recompute: 'recompute activations',
  precision: 'training precision',
  matmul: 'inference matmuls',
  tttBatchSize: 'TTT batch size',
  tttRank: 'TTT LoRA rank',
  maxPassTokens: 'tokens per training pass',
};

export function memoryPlanView(plan: MemoryPlan): HTMLElement {
  return el(
    'table',
    { class: 'memory-plan', 'data-testid': 'memory-plan' },
    el('caption', {}, 'memory plan'),
    ...(Object.keys(LABELS) as (keyof MemoryPlan)[]).map((key) => {
      const choice = plan[key];
      const value = choice.value === null ? 'no limit' : String(choice.value);
      return el('tr', {}, el('th', {}, LABELS[key]), el('td', {}, value), el('td', { class: 'muted' }, choice.reason));
    }),
  );
}
