/**
 * Task: the bundled ARC files (the tiny tasks, the SEAL 1B training and evaluation sets), any task id of them, or a
 * pasted task JSON, validated by the engine with the CLI's wording. Shows the training pairs and the test inputs
 * (the solutions only after scoring, beside the prediction).
 */
import type { ArcTaskView } from '../../../runtime-browser/engine/api.ts';
import { BUNDLED_TASK_SETS, bundledUrl, type BundledTaskSet } from '../bundled-files.ts';
import { button, el, errorMessage, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import type { StatusLine } from '../status.ts';
import { gridView, pairView } from './grid-view.ts';

const PASTED = 'pasted';

export class TaskView {
  readonly element: HTMLElement;
  private readonly setSelect = el('select', { 'aria-label': 'task set', 'data-testid': 'task-set' });
  private readonly idInput = el('input', {
    type: 'text',
    list: 'task-ids',
    placeholder: 'task id',
    'aria-label': 'task id',
    'data-testid': 'task-id',
    size: 14,
  });
  private readonly idList = el('datalist', { id: 'task-ids' });
  private readonly paste = el('textarea', {
    rows: 5,
    placeholder: '{"train": [{"input": [[1,2]], "output": [[2,1]]}], "test": [{"input": [[3,4]]}]}  or a whole challenges file',
    'aria-label': 'task JSON',
    'data-testid': 'task-json',
  });
  private readonly pasteError = el('div', { class: 'bad', 'data-testid': 'task-error', role: 'alert' });
  private readonly shown = el('div', { class: 'task-grids', 'data-testid': 'task' });
  private readonly loaded = new Map<string, ArcTaskView[]>();
  private current: ArcTaskView | null = null;
  private readonly listeners = new Set<(task: ArcTaskView) => void>();

  constructor(
    private readonly engine: Engine,
    private readonly status: StatusLine,
  ) {
    for (const s of BUNDLED_TASK_SETS) this.setSelect.append(el('option', { value: s.key }, s.label));
    this.setSelect.append(el('option', { value: PASTED, disabled: true }, 'pasted task'));
    this.setSelect.addEventListener('change', () => void this.chooseSet(this.setSelect.value));
    this.idInput.addEventListener('change', () => void this.choose(this.idInput.value.trim()));
    this.element = section(
      'Task',
      'task',
      el('div', { class: 'row' }, el('label', {}, 'tasks ', this.setSelect), el('label', {}, 'id ', this.idInput), this.idList),
      el(
        'details',
        { class: 'paste' },
        el('summary', {}, 'Paste a task'),
        this.paste,
        el(
          'div',
          { class: 'row' },
          button('Use pasted task', () => void this.usePasted(), { 'data-testid': 'task-json-use' }),
        ),
        this.pasteError,
      ),
      this.shown,
    );
  }

  get task(): ArcTaskView | null {
    return this.current;
  }

  /** The task id a link can name (a pasted task cannot be linked). */
  get linkableTaskId(): string | null {
    return this.setSelect.value === PASTED ? null : (this.current?.id ?? null);
  }

  onTask(fn: (task: ArcTaskView) => void): void {
    this.listeners.add(fn);
  }

  /** The tasks of the chosen bundled set (for a ReST-EM round); just the pasted one when that is chosen. */
  tasksOfSet(): ArcTaskView[] {
    return this.loaded.get(this.setSelect.value) ?? (this.current ? [this.current] : []);
  }

  /** Chooses a task by id: in the chosen set first, then in the other bundled files. False (and a message) if none has it. */
  async choose(id: string): Promise<boolean> {
    if (!id) return false;
    const order = [this.setSelect.value, ...BUNDLED_TASK_SETS.map((s) => s.key)].filter((k, i, all) => k !== PASTED && all.indexOf(k) === i);
    for (const key of order) {
      const tasks = await this.loadSet(key);
      if (!tasks) return false;
      const task = tasks.find((t) => t.id === id);
      if (task) {
        this.setSelect.value = key;
        this.fillIds(tasks);
        this.select(task);
        return true;
      }
    }
    this.status.set(
      `task ${id} is in none of the bundled ARC files (${BUNDLED_TASK_SETS.map((s) => s.label).join(', ')}): pick one from the list or paste it`,
      'error',
    );
    return false;
  }

  /** Opens a bundled set and shows its first task. */
  async chooseSet(key: string): Promise<boolean> {
    const tasks = await this.loadSet(key);
    if (!tasks) return false;
    this.fillIds(tasks);
    const first = tasks[0];
    if (first) this.select(first);
    return first !== undefined;
  }

  private async loadSet(key: string): Promise<ArcTaskView[] | null> {
    const cached = this.loaded.get(key);
    if (cached) return cached;
    const set = BUNDLED_TASK_SETS.find((s) => s.key === key);
    if (!set) return null;
    try {
      const tasks = await this.fetchSet(set);
      this.loaded.set(key, tasks);
      return tasks;
    } catch (e) {
      this.status.set(`cannot load ${set.label}: ${errorMessage(e)}`, 'error');
      return null;
    }
  }

  private async fetchSet(set: BundledTaskSet): Promise<ArcTaskView[]> {
    const text = async (file: string) => {
      const r = await fetch(bundledUrl(file));
      if (!r.ok) throw new Error(`${file}: HTTP ${r.status}`);
      return r.text();
    };
    const [challenges, solutions] = await Promise.all([text(set.challenges), text(set.solutions)]);
    return this.engine.loadTasks(challenges, solutions);
  }

  private async usePasted(): Promise<void> {
    this.pasteError.textContent = '';
    try {
      const task = await this.engine.parseTask(this.paste.value);
      this.loaded.delete(PASTED);
      this.setSelect.value = PASTED;
      this.fillIds([task]);
      this.select(task);
      this.status.set(`task ${task.id} (pasted) chosen`, 'idle');
    } catch (e) {
      this.pasteError.textContent = errorMessage(e);
      this.status.set(`the pasted task cannot be used: ${errorMessage(e)}`, 'error');
    }
  }

  private fillIds(tasks: readonly ArcTaskView[]): void {
    replace(this.idList, ...tasks.map((t) => el('option', { value: t.id })));
  }

  private select(task: ArcTaskView): void {
    this.current = task;
    this.idInput.value = task.id;
    replace(
      this.shown,
      el('h3', {}, `${task.id}: ${plural(task.train.length, 'training pair')}, ${plural(task.test.length, 'test input')}`),
      el('div', { class: 'pairs' }, ...task.train.map((p, i) => pairView(p.input, p.output, `train ${i}`))),
      el(
        'div',
        { class: 'pairs' },
        ...task.test.map((t, i) => el('div', { class: 'pair' }, el('div', { class: 'pair-caption' }, `test ${i}`), gridView(t.input, 'input'))),
      ),
    );
    for (const fn of this.listeners) fn(task);
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
