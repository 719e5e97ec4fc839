/**
 * Self-edits: sample K from the policy (schema-constrained, streamed token by token into their cards), edit any card,
 * or write one from scratch (starting from the reference's TTT configuration).
 */
import { proxy } from 'comlink';
import type { ArcTaskView, SelfEditJson } from '../../../runtime-browser/engine/api.ts';
import { ARC_ORACLE_SELF_EDIT } from '../../../src/domains/arc/seal-domain.ts';
import { selfEditJson } from '../../../src/domains/arc/self-edit.ts';
import type { Actions } from '../actions.ts';
import { button, el, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';
import { SelfEditCard } from './self-edit-card.ts';
import type { RunSettings } from './settings-view.ts';

/** The reference's ttt.py configuration: where a card written from scratch starts. */
const REFERENCE_SELF_EDIT: SelfEditJson = JSON.parse(selfEditJson(ARC_ORACLE_SELF_EDIT));

export class SelfEditsView {
  readonly element: HTMLElement;
  private cards: SelfEditCard[] = [];
  private readonly list = el('div', { class: 'cards' });
  private readonly sampleButton = button('Sample K self-edits', () => void this.sample(), { 'data-testid': 'sample' });
  private readonly cancelButton = button('Cancel', () => {}, { disabled: true, 'data-testid': 'sample-cancel' });
  private readonly scratchButton = button('Write one from scratch', () => this.writeFromScratch(), { 'data-testid': 'write-self-edit' });
  private readonly summary = el('div', { class: 'muted' });
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly engine: Engine,
    private readonly actions: Actions,
    private readonly status: StatusLine,
    private readonly task: () => ArcTaskView | null,
    private readonly settings: () => RunSettings,
    private readonly hasModel: () => boolean,
  ) {
    actions.register(this.sampleButton);
    this.element = section(
      'Self-edits',
      'self-edits',
      el(
        'p',
        { class: 'muted' },
        'Each self-edit is the training recipe the model writes for itself: which augmentations make its TTT data, the loss, learning rate and epochs.',
      ),
      el('div', { class: 'row' }, this.sampleButton, this.cancelButton, this.scratchButton),
      this.summary,
      this.list,
    );
    this.updateSummary();
  }

  /** The usable self-edits, with the index of the card each comes from. */
  edits(): { card: number; edit: SelfEditJson }[] {
    return this.cards.flatMap((c, i) => (c.value ? [{ card: i, edit: c.value }] : []));
  }

  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  /** After the task or the step budget changed: every card's plan again. */
  refreshPlans(): void {
    for (const c of this.cards) c.refreshPlan();
  }

  clear(): void {
    this.cards = [];
    replace(this.list);
    this.changed();
  }

  /** Samples K self-edits for the task; true when it finished. */
  async sample(): Promise<boolean> {
    const task = this.task();
    if (!task) {
      this.status.set('choose a task first', 'error');
      return false;
    }
    const { k, seed } = this.settings();
    this.clear();
    this.cards = Array.from({ length: k }, (_, i) => this.newCard(i, 'sampling', null));
    replace(this.list, ...this.cards.map((c) => c.element));
    const label = `sampling ${k} self-edits for ${task.id}`;
    this.status.busy(`${label}…`);
    const onToken = proxy((candidate: number, textSoFar: string) => this.cards[candidate]?.setStream(textSoFar));
    const samples = await this.actions.run(label, this.cancelButton, (opId) => this.engine.sampleSelfEdits({ task, k, seed }, onToken, opId));
    if (!samples) return false;
    for (const [i, s] of samples.entries()) this.cards[i]?.setSample(s.text, s.selfEdit, s.error, REFERENCE_SELF_EDIT);
    this.changed();
    const valid = samples.filter((s) => s.selfEdit).length;
    this.status.set(`sampled ${samples.length} self-edits for ${task.id} (${valid} valid)`, 'idle');
    return true;
  }

  /** Shows self-edits sampled elsewhere (a ReST-EM resample) as fresh cards. */
  showSamples(samples: readonly { text: string; selfEdit: SelfEditJson | null; error?: string }[]): void {
    this.cards = samples.map((s, i) => {
      const card = this.newCard(i, 'sampled', null);
      card.setSample(s.text, s.selfEdit, s.error, REFERENCE_SELF_EDIT);
      return card;
    });
    replace(this.list, ...this.cards.map((c) => c.element));
    this.changed();
  }

  writeFromScratch(): void {
    const card = this.newCard(this.cards.length, 'written', structuredClone(REFERENCE_SELF_EDIT));
    this.cards.push(card);
    this.list.append(card.element);
    this.changed();
  }

  private newCard(index: number, origin: 'sampling' | 'sampled' | 'written', edit: SelfEditJson | null): SelfEditCard {
    return new SelfEditCard(index, origin, edit, {
      plan: (e) => {
        const task = this.task();
        if (!task) return Promise.reject(new Error('choose a task to see the TTT dataset size and steps'));
        if (!this.hasModel()) return Promise.reject(new Error('load a model to see the TTT dataset size and steps (they depend on its tokenizer)'));
        return this.engine.planSelfEdit(task, e, { tttMaxSteps: this.settings().steps });
      },
      onRemove: (card) => {
        this.cards = this.cards.filter((c) => c !== card);
        card.element.remove();
        for (const [i, c] of this.cards.entries()) c.setIndex(i);
        this.changed();
      },
      onChange: () => this.changed(),
    });
  }

  private changed(): void {
    this.updateSummary();
    for (const fn of this.listeners) fn();
  }

  private updateSummary(): void {
    const usable = this.edits().length;
    this.summary.textContent =
      this.cards.length === 0 ? 'No self-edits yet: sample some or write one.' : `${usable} of ${this.cards.length} self-edits usable.`;
  }
}
