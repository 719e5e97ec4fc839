/**
 * The set-up a link reproduces (issue 11): ?model=&task=&k=&steps=&answer-tokens=&seed=&autorun=1. A bad value is
 * reported (one line each, shown on the page) and its default used, so a mistyped link still opens the demo.
 */
export interface DemoParams {
  /** 'stories260K' (bundled), a hub id (org/name[@revision]) or the URL of a model directory; null: none chosen. */
  model: string | null;
  /** A task id of the bundled ARC files; null: the first task of the chosen set. */
  task: string | null;
  /** Self-edits sampled per task. */
  k: number;
  /** TTT max steps per candidate. */
  steps: number;
  /** Max new tokens per predicted answer. */
  answerTokens: number;
  seed: number;
  /** Sample, train and score at once after loading. */
  autorun: boolean;
}

export const DEFAULT_PARAMS: DemoParams = { model: null, task: null, k: 2, steps: 5, answerTokens: 64, seed: 0, autorun: false };

const INTEGER_PARAMS = {
  k: { key: 'k', min: 1, max: 32 },
  steps: { key: 'steps', min: 0, max: 100_000 },
  answerTokens: { key: 'answer-tokens', min: 1, max: 8192 },
  seed: { key: 'seed', min: 0, max: 2 ** 31 - 1 },
} as const;

export function parseParams(search: string): { params: DemoParams; problems: string[] } {
  const q = new URLSearchParams(search);
  const problems: string[] = [];
  const params: DemoParams = { ...DEFAULT_PARAMS };
  const text = (key: string) => {
    const v = q.get(key)?.trim();
    return v ? v : null;
  };
  params.model = text('model');
  params.task = text('task');
  for (const [field, spec] of Object.entries(INTEGER_PARAMS) as [keyof typeof INTEGER_PARAMS, (typeof INTEGER_PARAMS)[keyof typeof INTEGER_PARAMS]][]) {
    const raw = text(spec.key);
    if (raw === null) continue;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
      problems.push(`${spec.key}=${raw} is not a whole number in [${spec.min}, ${spec.max}]: using ${params[field]}`);
      continue;
    }
    params[field] = n;
  }
  const autorun = text('autorun');
  if (autorun !== null) {
    if (autorun === '1' || autorun === 'true') params.autorun = true;
    else if (autorun !== '0' && autorun !== 'false') problems.push(`autorun=${autorun} must be 1 or 0: not running automatically`);
  }
  if (params.autorun && params.model === null) problems.push('autorun=1 needs model= (e.g. model=stories260K): not running automatically');
  if (params.model === null) params.autorun = false;
  return { params, problems };
}

/** The link that reproduces a set-up (the page's own address with these parameters). */
export function paramsUrl(p: DemoParams, base: string = location.href): string {
  const url = new URL(base);
  url.search = '';
  if (p.model) url.searchParams.set('model', p.model);
  if (p.task) url.searchParams.set('task', p.task);
  url.searchParams.set('k', String(p.k));
  url.searchParams.set('steps', String(p.steps));
  url.searchParams.set('answer-tokens', String(p.answerTokens));
  url.searchParams.set('seed', String(p.seed));
  if (p.autorun) url.searchParams.set('autorun', '1');
  return url.href;
}
