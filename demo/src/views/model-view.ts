/**
 * Model: the bundled stories260K (no download), a Hugging Face hub model (its size and fit shown, a confirmation
 * before a multi-GB download, one byte-accurate progress bar, an optional token held in this page's memory only),
 * a model directory at a URL, or a local folder picked or dropped. Cached models: space used, and a delete control.
 */
import { proxy } from 'comlink';
import type { LoadProgress, ModelInspection, ModelSource, ModelSummary } from '../../../runtime-browser/engine/api.ts';
import type { Actions } from '../actions.ts';
import { button, el, errorMessage, formatBytes, replace, section } from '../dom.ts';
import type { Engine } from '../engine.ts';
import { BUNDLED_MODEL_NAME, bundledModel, modelSource, sourceName } from '../model-source.ts';
import type { StatusLine } from '../status.ts';
import { memoryPlanView } from './memory-plan.ts';

/** Downloads above this size ask first. */
const CONFIRM_BYTES = 1e9;
const DEFAULT_HUB_MODEL = 'meta-llama/Llama-3.2-1B-Instruct';

type Kind = 'bundled' | 'hub' | 'url' | 'folder';

export class ModelView {
  readonly element: HTMLElement;
  private readonly kindInputs = new Map<Kind, HTMLInputElement>();
  private readonly hubId = el('input', { type: 'text', value: DEFAULT_HUB_MODEL, size: 36, 'aria-label': 'hub model id', 'data-testid': 'model-hub-id' });
  /** Never stored: it lives in this input and is sent with the requests only. */
  private readonly token = el('input', {
    type: 'password',
    autocomplete: 'off',
    placeholder: 'hf_… (gated models only)',
    size: 24,
    'aria-label': 'Hugging Face token',
  });
  private readonly url = el('input', {
    type: 'url',
    placeholder: 'https://…/model-dir/',
    size: 36,
    'aria-label': 'model directory URL',
    'data-testid': 'model-url',
  });
  private readonly folder = el('input', { type: 'file', multiple: true, webkitdirectory: true, 'aria-label': 'model folder' });
  private readonly drop = el('div', { class: 'drop', 'data-testid': 'model-drop' }, 'or drop a model folder here');
  private droppedFiles: File[] | null = null;
  private readonly loadButton = button('Load model', () => void this.loadChosen(), { 'data-testid': 'model-load' });
  private readonly inspectButton = button('Check size and fit', () => void this.inspectChosen(), { 'data-testid': 'model-inspect' });
  private readonly cancelButton = button('Cancel', () => {}, { disabled: true, 'data-testid': 'model-cancel' });
  private readonly progress = el('progress', { max: 1, value: 0, 'data-testid': 'download-progress' });
  private readonly progressText = el('span', { class: 'muted' });
  private readonly inspection = el('div', { class: 'inspection' });
  private readonly summary = el('div', { class: 'model-summary', 'data-testid': 'model-summary' }, 'No model loaded.');
  private readonly cache = el('div', { class: 'cache', 'data-testid': 'model-cache' });
  private readonly deleteButton = button('Delete cached models', () => void this.deleteCached(), { 'data-testid': 'model-cache-delete' });
  private readonly listeners = new Set<(model: ModelSummary, link: string | null) => void>();

  constructor(
    private readonly engine: Engine,
    private readonly actions: Actions,
    private readonly status: StatusLine,
  ) {
    actions.register(this.loadButton, this.inspectButton, this.deleteButton);
    const radio = (kind: Kind, label: string, ...extra: HTMLElement[]) => {
      const input = el('input', { type: 'radio', name: 'model-kind', value: kind, checked: kind === 'bundled' });
      this.kindInputs.set(kind, input);
      return el('div', { class: 'model-choice' }, el('label', {}, input, ` ${label}`), ...extra);
    };
    this.hubId.addEventListener('focus', () => this.setKind('hub'));
    this.url.addEventListener('focus', () => this.setKind('url'));
    this.folder.addEventListener('change', () => {
      this.droppedFiles = null;
      this.setKind('folder');
      this.drop.textContent = `${this.folder.files?.length ?? 0} files picked`;
    });
    this.drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.drop.classList.add('over');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('over'));
    this.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      this.drop.classList.remove('over');
      void droppedFiles(e.dataTransfer).then((files) => {
        this.droppedFiles = files;
        this.setKind('folder');
        this.drop.textContent = `${files.length} files dropped`;
      });
    });
    this.element = section(
      'Model',
      'model',
      radio('bundled', `${BUNDLED_MODEL_NAME} (bundled, 1 MB: instant, for trying the loop)`),
      radio('hub', 'Hugging Face hub model', this.hubId, el('label', { class: 'muted' }, ' token ', this.token)),
      radio('url', 'model directory at a URL', this.url),
      radio('folder', 'local model folder', this.folder, this.drop),
      el('div', { class: 'row' }, this.inspectButton, this.loadButton, this.cancelButton),
      el('div', { class: 'row' }, this.progress, ' ', this.progressText),
      this.inspection,
      this.summary,
      el('div', { class: 'row' }, this.cache, this.deleteButton),
    );
    void this.refreshCache();
  }

  /** `link`: how a link names the model (null for a local folder, which cannot be linked). */
  onLoaded(fn: (model: ModelSummary, link: string | null) => void): void {
    this.listeners.add(fn);
  }

  /** Loads what the `model` URL parameter names (filling the picker in the same way). */
  async loadParam(text: string): Promise<ModelSummary | null> {
    let src: ModelSource;
    try {
      src = modelSource(text);
    } catch (e) {
      this.status.set(errorMessage(e), 'error');
      return null;
    }
    if (src.kind === 'hub') {
      this.hubId.value = text.trim();
      this.setKind('hub');
    } else if (text.trim() === BUNDLED_MODEL_NAME) this.setKind('bundled');
    else {
      this.url.value = text.trim();
      this.setKind('url');
    }
    return this.load(src);
  }

  private chosenSource(): ModelSource {
    const kind = [...this.kindInputs].find(([, input]) => input.checked)?.[0] ?? 'bundled';
    if (kind === 'bundled') return bundledModel();
    if (kind === 'hub') return modelSource(this.hubId.value);
    if (kind === 'url') return modelSource(this.url.value);
    const files = this.droppedFiles ?? Array.from(this.folder.files ?? []);
    if (files.length === 0) throw new Error('pick or drop a model folder first (config.json, tokenizer files, *.safetensors)');
    return { kind: 'files', files };
  }

  private setKind(kind: Kind): void {
    const input = this.kindInputs.get(kind);
    if (input) input.checked = true;
  }

  private tokenOption(): { token?: string } {
    const t = this.token.value.trim();
    return t ? { token: t } : {};
  }

  private async inspectChosen(): Promise<ModelInspection | null> {
    try {
      return await this.inspect(this.chosenSource());
    } catch (e) {
      this.status.set(errorMessage(e), 'error');
      return null;
    }
  }

  private async inspect(src: ModelSource): Promise<ModelInspection | null> {
    const name = sourceName(src);
    this.status.busy(`checking ${name}…`);
    try {
      const info = await this.engine.inspectModel(src, this.tokenOption());
      replace(
        this.inspection,
        el(
          'div',
          { 'data-testid': 'model-inspection' },
          `${info.name}: ${info.architecture}, ${(info.params / 1e6).toFixed(info.params < 1e7 ? 2 : 0)}M parameters, ${formatBytes(info.bytes)} to download, about ${formatBytes(info.estimatedGpuBytes)} of GPU memory for the loop · `,
          el('span', { class: info.fits ? 'ok' : 'bad' }, info.fits ? 'fits this device' : `does not fit: ${info.reason ?? 'no reason given'}`),
        ),
        memoryPlanView(info.memoryPlan),
      );
      this.status.set(`${name}: ${formatBytes(info.bytes)}, ${info.fits ? 'fits' : 'does not fit'}`, info.fits ? 'idle' : 'error');
      return info;
    } catch (e) {
      this.status.set(`${name}: ${errorMessage(e)}`, 'error');
      return null;
    }
  }

  private async loadChosen(): Promise<void> {
    try {
      await this.load(this.chosenSource());
    } catch (e) {
      this.status.set(errorMessage(e), 'error');
    }
  }

  /** Checks (size, fit, confirmation for big downloads), then loads with progress. */
  async load(src: ModelSource): Promise<ModelSummary | null> {
    const name = sourceName(src);
    if (src.kind !== 'url' || name !== BUNDLED_MODEL_NAME) {
      const info = await this.inspect(src);
      if (!info) return null;
      if (!info.fits) {
        this.status.set(`${name} is not loaded: ${info.reason ?? 'it does not fit this device'}`, 'error');
        return null;
      }
      if (src.kind === 'hub' && info.bytes > CONFIRM_BYTES && !(await this.isCached(src.id))) {
        if (!confirm(`Download ${name}: ${formatBytes(info.bytes)}? It is kept in this browser's storage for the next visit.`)) {
          this.status.set(`${name}: download not started`, 'idle');
          return null;
        }
      }
    }
    this.progress.value = 0;
    this.progressText.textContent = '';
    const onProgress = proxy((p: LoadProgress) => {
      this.progress.max = Math.max(1, p.total);
      this.progress.value = p.loaded;
      this.progressText.textContent = `${formatBytes(p.loaded)} of ${formatBytes(p.total)} · ${p.file}`;
      this.status.busy(`loading ${name}: ${p.total > 0 ? Math.floor((100 * p.loaded) / p.total) : 0}%`);
    });
    this.status.busy(`loading ${name}…`);
    const model = await this.actions.run(`loading ${name}`, this.cancelButton, (opId) => this.engine.loadModel(src, this.tokenOption(), onProgress, opId));
    void this.refreshCache();
    if (!model) return null;
    replace(
      this.summary,
      el('strong', {}, model.name),
      `: ${model.architecture}, ${(model.params / 1e6).toFixed(model.params < 1e7 ? 2 : 0)}M parameters, ${formatBytes(model.weightBytes)} of weights on the GPU, context ${model.contextLength}, vocabulary ${model.vocabSize}`,
      model.hasChatTemplate ? '' : ', no chat template (a plain one is used)',
      model.commit ? ` · commit ${model.commit.slice(0, 12)}${model.fromCache ? ' (from the browser cache)' : ''}` : '',
    );
    this.status.set(`model ${model.name} loaded`, 'idle');
    for (const fn of this.listeners) fn(model, src.kind === 'files' ? null : name);
    return model;
  }

  private async isCached(id: string): Promise<boolean> {
    try {
      return (await this.engine.cachedModels()).some((m) => m.id === id || m.id.startsWith(`${id}@`));
    } catch {
      return false;
    }
  }

  private async refreshCache(): Promise<void> {
    try {
      const models = await this.engine.cachedModels();
      const total = models.reduce((s, m) => s + m.bytes, 0);
      this.cache.textContent =
        models.length === 0
          ? 'No models cached in this browser.'
          : `Cached: ${models.map((m) => `${m.id} (${formatBytes(m.bytes)})`).join(', ')} · ${formatBytes(total)} in all`;
      this.deleteButton.hidden = models.length === 0;
    } catch (e) {
      this.cache.textContent = `Cannot read the model cache: ${errorMessage(e)}`;
    }
  }

  private async deleteCached(): Promise<void> {
    if (!confirm('Delete every model this page has cached in the browser?')) return;
    try {
      await this.engine.deleteCachedModels();
      this.status.set('cached models deleted', 'idle');
    } catch (e) {
      this.status.set(`cannot delete the cached models: ${errorMessage(e)}`, 'error');
    }
    await this.refreshCache();
  }
}

/** Every file of what was dropped (folders walked), with webkitRelativePath-like names kept by the File objects. */
async function droppedFiles(data: DataTransfer | null): Promise<File[]> {
  if (!data) return [];
  const entries = Array.from(data.items, (i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const files: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      files.push(await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)));
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const e of batch) await walk(e);
    }
  };
  for (const e of entries) await walk(e);
  return files;
}
