/**
 * One self-edit as an editable card (data-testid="self-edit"): the four augmentation switches, the loss strategy,
 * learning rate and epochs, the TTT dataset size and step count it implies (the engine's planSelfEdit), and the
 * self-edit itself as JSON in the schema's field names (data-testid="self-edit-json"). Edits are validated with
 * the ARC domain's own validator, so a card holds exactly what the CLI would accept.
 */
import { AUGMENTATION_KEYS, LOSS_STRATEGIES, validateSelfEdit, type LossStrategy } from '../../../src/domains/arc/self-edit.ts';
import type { SelfEditJson, SelfEditPlan } from '../../../runtime-browser/engine/api.ts';
import { button, el, errorMessage, replace } from '../dom.ts';

export type CardOrigin = 'sampling' | 'sampled' | 'edited' | 'written' | 'invalid sample';

export interface CardHooks {
  plan: (edit: SelfEditJson) => Promise<SelfEditPlan>;
  onRemove: (card: SelfEditCard) => void;
  onChange: () => void;
}

const GROUP_LABELS: Record<keyof typeof AUGMENTATION_KEYS, string> = {
  basic: 'basic (rotations, flips)',
  size: 'size',
  chain: 'chain',
  repeat: 'repeat',
};

export class SelfEditCard {
  readonly element: HTMLElement;
  private readonly title = el('span', { class: 'card-title' });
  private readonly originLabel = el('span', { class: 'card-origin muted' });
  private readonly stream = el('pre', { class: 'stream', 'data-testid': 'self-edit-stream', hidden: true });
  private readonly note = el('div', { class: 'card-note' });
  private readonly planLine = el('div', { class: 'card-plan', 'data-testid': 'self-edit-plan' });
  private readonly json = el('pre', { class: 'card-json', 'data-testid': 'self-edit-json' });
  private readonly form = el('div', { class: 'card-form' });
  private readonly switches = {} as Record<keyof typeof AUGMENTATION_KEYS, HTMLInputElement>;
  private readonly strategy = el('select', { 'aria-label': 'loss strategy' });
  private readonly learningRate = el('input', { type: 'number', step: 'any', min: 0, 'aria-label': 'learning rate' });
  private readonly epochs = el('input', { type: 'number', step: 1, min: 0, 'aria-label': 'epochs' });
  private edit: SelfEditJson | null = null;
  private planSeq = 0;

  constructor(
    index: number,
    origin: CardOrigin,
    initial: SelfEditJson | null,
    private readonly hooks: CardHooks,
  ) {
    for (const s of LOSS_STRATEGIES) this.strategy.append(el('option', { value: s }, s));
    const form = this.form;
    const augmentations = el('fieldset', { class: 'augmentations' }, el('legend', {}, 'data generation'));
    for (const [group, key] of Object.entries(AUGMENTATION_KEYS) as [keyof typeof AUGMENTATION_KEYS, string][]) {
      const box = el('input', { type: 'checkbox', name: key });
      this.switches[group] = box;
      augmentations.append(el('label', { title: key }, box, ` ${GROUP_LABELS[group]}`));
    }
    const training = el(
      'fieldset',
      { class: 'training' },
      el('legend', {}, 'training'),
      el('label', {}, 'strategy ', this.strategy),
      el('label', {}, 'learning rate ', this.learningRate),
      el('label', {}, 'epochs ', this.epochs),
    );
    form.append(augmentations, training);
    form.addEventListener('input', () => this.readForm());
    form.addEventListener('change', () => this.readForm());
    this.element = el(
      'article',
      { class: 'card', 'data-testid': 'self-edit' },
      el(
        'header',
        {},
        this.title,
        ' ',
        this.originLabel,
        button('remove', () => hooks.onRemove(this), { class: 'small', title: 'remove this self-edit' }),
      ),
      this.stream,
      this.note,
      form,
      this.planLine,
      this.json,
    );
    this.setIndex(index);
    this.setOrigin(origin);
    if (initial) this.setEdit(initial);
    else this.showEdit();
  }

  setIndex(index: number): void {
    this.title.textContent = `candidate ${index}`;
  }

  /** Streamed text while the policy writes this self-edit. */
  setStream(text: string): void {
    this.stream.textContent = text;
    this.stream.hidden = text.length === 0;
  }

  /** A finished sample: usable, or invalid with the engine's reason. */
  setSample(text: string, edit: SelfEditJson | null, error: string | undefined, fallback: SelfEditJson): void {
    // A usable sample is shown by its fields and JSON; the raw text stays only for an unusable one.
    this.setStream(edit ? '' : text);
    if (edit) {
      this.setOrigin('sampled');
      this.setEdit(edit);
      return;
    }
    // Like the CLI, an unusable sample is not trained; the fields start from `fallback` for the user to edit.
    this.setOrigin('invalid sample');
    this.setEdit(fallback);
    this.edit = null;
    this.note.textContent = `Not a usable self-edit (${error ?? 'no reason given'}): it is left out of the run. Change a field to use the configuration shown instead.`;
    this.note.className = 'card-note bad';
    this.showEdit();
  }

  /** The card's self-edit, or null when its fields are not a valid self-edit. */
  get value(): SelfEditJson | null {
    return this.edit;
  }

  /** Recomputes the dataset size and steps (after the task or the step budget changed). */
  refreshPlan(): void {
    const edit = this.edit;
    const seq = ++this.planSeq;
    if (!edit) {
      this.planLine.textContent = '';
      return;
    }
    this.planLine.textContent = 'planning…';
    this.hooks.plan(edit).then(
      (p) => {
        if (seq !== this.planSeq) return;
        replace(
          this.planLine,
          `${p.examples} TTT examples · ${p.steps} steps`,
          p.skipped ? el('span', { class: 'bad' }, ` · not trained: ${p.skipped}`) : null,
          ...p.notes.map((n) => el('div', { class: 'muted' }, n)),
        );
      },
      (e) => {
        if (seq === this.planSeq) this.planLine.textContent = errorMessage(e);
      },
    );
  }

  private setOrigin(origin: CardOrigin): void {
    this.originLabel.textContent = origin;
    this.element.dataset.origin = origin;
    // Nothing to edit until the sample is in.
    this.form.hidden = origin === 'sampling';
  }

  private setEdit(edit: SelfEditJson): void {
    const g = edit.data_generation;
    for (const [group, key] of Object.entries(AUGMENTATION_KEYS) as [keyof typeof AUGMENTATION_KEYS, keyof SelfEditJson['data_generation']][]) {
      this.switches[group].checked = g[key];
    }
    this.strategy.value = edit.training.strategy;
    this.learningRate.value = String(edit.training.learning_rate);
    this.epochs.value = String(edit.training.num_train_epochs);
    this.edit = edit;
    this.note.textContent = '';
    this.note.className = 'card-note';
    this.showEdit();
  }

  /** The form -> a self-edit, validated as the CLI validates a sample (clamping recorded, bad values refused). */
  private readForm(): void {
    const candidate = {
      data_generation: Object.fromEntries(
        Object.entries(AUGMENTATION_KEYS).map(([group, key]) => [key, this.switches[group as keyof typeof AUGMENTATION_KEYS].checked]),
      ),
      training: {
        strategy: this.strategy.value as LossStrategy,
        learning_rate: this.learningRate.value.trim() === '' ? Number.NaN : Number(this.learningRate.value),
        num_train_epochs: this.epochs.value.trim() === '' ? Number.NaN : Number(this.epochs.value),
      },
    };
    const result = validateSelfEdit(candidate);
    this.setOrigin('edited');
    if (!result.ok) {
      this.edit = null;
      this.note.textContent = `Not a valid self-edit: ${result.reason}`;
      this.note.className = 'card-note bad';
    } else {
      const e = result.edit;
      this.edit = {
        data_generation: {
          use_basic_augmentations: e.augmentations.basic,
          use_size_augmentations: e.augmentations.size,
          use_chain_augmentations: e.augmentations.chain,
          use_repeat_augmentations: e.augmentations.repeat,
        },
        training: { strategy: e.strategy, learning_rate: e.learningRate, num_train_epochs: e.epochs },
      };
      this.note.textContent = result.adjustments.map((a) => `${a.field}: ${String(a.from)} -> ${String(a.to)} (${a.reason})`).join('; ');
      this.note.className = 'card-note';
    }
    this.showEdit();
    this.hooks.onChange();
  }

  private showEdit(): void {
    this.element.classList.toggle('invalid', this.edit === null && this.element.dataset.origin !== 'sampling');
    this.json.textContent = this.edit ? JSON.stringify(this.edit) : '';
    this.refreshPlan();
  }
}
