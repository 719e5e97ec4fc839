/**
 * The ARC self-edit playground: the page wires the views to one worker engine and runs the set-up the URL gives
 * (params.ts); with autorun=1 it samples, trains and scores at once, and the status line ends in "done".
 */
import { proxy } from 'comlink';
import { Actions } from './actions.ts';
import { append, el } from './dom.ts';
import { startEngine, type Engine } from './engine.ts';
import { parseParams } from './params.ts';
import { StatusLine } from './status.ts';
import { AdapterView } from './views/adapter-view.ts';
import { DeviceLostBanner } from './views/device-lost-banner.ts';
import { DeviceView } from './views/device-view.ts';
import { ModelView } from './views/model-view.ts';
import { RestEmView } from './views/rest-em-view.ts';
import { RunView } from './views/run-view.ts';
import { SelfEditsView } from './views/self-edits-view.ts';
import { SettingsView } from './views/settings-view.ts';
import { TaskView } from './views/task-view.ts';
import { TimingView } from './views/timing-view.ts';
import './styles.css';

declare global {
  interface Window {
    /** For tests and users' scripts: the engine (a comlink remote), e.g. `await sealDemo.engine.logits(prompt, { policy: true })`. */
    sealDemo?: { engine: Engine };
  }
}

const { params, problems } = parseParams(location.search);
const status = new StatusLine();
const banner = new DeviceLostBanner();
const engine = startEngine();
window.sealDemo = { engine };
const actions = new Actions(engine, status);

/** What the link reproduces: the model as the user named it (a local folder cannot be linked). */
let modelParam: string | null = null;
const device = new DeviceView(engine);
const modelView = new ModelView(engine, actions, status);
const taskView = new TaskView(engine, status);
const settings = new SettingsView(params, () => ({ model: modelParam, task: taskView.linkableTaskId }));
let modelLoaded = false;
const selfEdits = new SelfEditsView(
  engine,
  actions,
  status,
  () => taskView.task,
  () => settings.read(),
  () => modelLoaded,
);
const runView = new RunView(
  engine,
  actions,
  status,
  () => taskView.task,
  selfEdits,
  () => settings.read(),
);
const restEm = new RestEmView(
  engine,
  actions,
  status,
  () => settings.read(),
  (taskId, samples) => {
    if (taskView.task?.id === taskId) selfEdits.showSamples(samples);
  },
);
const adapter = new AdapterView(engine, status);
const timing = new TimingView(engine, actions, status, () => taskView.task);

taskView.onTask((task) => {
  selfEdits.refreshPlans();
  restEm.setTasks(taskView.tasksOfSet(), task.id);
  settings.updateLink();
});
settings.onChange(() => selfEdits.refreshPlans());
modelView.onLoaded((_model, link) => {
  modelLoaded = true;
  modelParam = link;
  settings.updateLink();
  selfEdits.refreshPlans();
  void device.refresh();
});

append(
  document.body,
  el(
    'header',
    { class: 'top' },
    el('h1', {}, 'SEAL on ARC: self-edits in the browser'),
    el(
      'p',
      { class: 'muted' },
      'A language model writes its own training recipe for an ARC task, trains a LoRA adapter on it here on your GPU, and is scored.',
    ),
    status.element,
  ),
  banner.element,
  problems.length > 0 ? el('ul', { class: 'problems', 'data-testid': 'param-problems' }, ...problems.map((p) => el('li', {}, p))) : null,
  el(
    'main',
    {},
    el('div', { class: 'column' }, device.element, modelView.element, taskView.element),
    el(
      'div',
      { class: 'column wide' },
      el('section', { class: 'panel' }, el('h2', {}, 'Settings'), settings.element),
      selfEdits.element,
      runView.element,
      restEm.element,
      adapter.element,
      timing.element,
    ),
  ),
);

engine.onDeviceLost(
  proxy((message: string) => {
    banner.show(message);
    status.set(`the GPU device was lost: ${message}`, 'error');
  }),
);

async function start(): Promise<void> {
  status.busy('starting the engine…');
  const info = await device.refresh();
  if (!info) {
    status.set('no WebGPU device: this browser or GPU cannot run the engine (try a recent Chrome or Edge)', 'error');
    return;
  }
  status.set('ready', 'idle');
  const taskOk = params.task ? await taskView.choose(params.task) : await taskView.chooseSet('tiny');
  if (params.model && !(await modelView.loadParam(params.model))) return;
  if (!params.autorun || !taskOk) return;
  if (!(await selfEdits.sample())) return;
  await runView.run();
}

void start().catch((e: unknown) => status.set(`the demo failed to start: ${e instanceof Error ? e.message : String(e)}`, 'error'));
