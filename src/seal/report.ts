/**
 * report.html of a run: one self-contained page (inline CSS and SVG; no script, no network, no external file) drawn
 * from the folded event log. It holds the summary table in the paper's terms (success rate over task x self-edit
 * pairs per round, tasks solved by any candidate, baseline rows), plots of the success rate per round, the reward
 * distribution per task and the TTT loss curves per round (and the policy's SFT loss), a task x round table, every
 * self-edit with its reward, and the configuration. Every string from the run (task ids, self-edit text, errors) is
 * escaped. The output depends only on the state: the same log gives the same bytes.
 */
import type { PolicyRef } from './events.ts';
import { escapeHtml, formatNumber, formatPercent } from './html.ts';
import {
  baselineMetrics,
  chosenEdit,
  roundMetrics,
  roundsInOrder,
  scoredCandidates,
  taskOutcomes,
  type CandidateState,
  type RoundState,
  type RunState,
  zeroStepLine,
  zeroStepReason,
} from './run-state.ts';
import { colorAt, downsample, lineChart, stripPlot, type LineSeries, type StripPoint } from './svg-plots.ts';

export interface ReportOptions {
  /** Page title (default: "SEAL <domain> <command>"). */
  title?: string;
  /** Loss-curve points kept per candidate (default 120). */
  maxCurvePoints?: number;
  /** A domain's own sections (HTML), placed after the summary (e.g. the knowledge domain's table and gains). */
  domainSections?: (state: RunState) => string;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1b1b1b}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d8d8d8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.baseline td{background:#fafaf0}
.muted{color:#777;fill:#777}.status{display:inline-block;padding:1px 8px;border-radius:8px;background:#eee}
.status.finished{background:#d9f2d9}.status.failed{background:#f7d4d4}.status.running{background:#fff1c7}.status.interrupted{background:#e4e4f7}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{background:#fff;border:1px solid #e4e4e4}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .chart-title{font-size:13px;font-weight:600}
svg .axis-label{font-size:11px;fill:#555}svg .legend{font-size:11px}svg .plot-bg{fill:#fcfcfc;stroke:#ccc}
svg .grid{stroke:#e6e6e6}svg .axis{stroke:#999}svg .box{fill:#e8eef6;stroke:#9fb3cc}svg .median{stroke:#40618a;stroke-width:2}
.ok{color:#1a7f37}.bad{color:#b42318}details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.warn{background:#fff7e0;border:1px solid #f0d58a;padding:6px 10px}`;

const SOLVED_COLOR = '#1a7f37';
const UNSOLVED_COLOR = '#8a8a8a';
const SKIPPED_COLOR = '#d55e00';
const UNSCORED_COLOR = '#e6b400';

export function policyLabel(p: PolicyRef): string {
  return p.kind === 'base' ? 'base model' : `round ${p.round} policy`;
}

/** The whole report page. */
export function renderReportHtml(state: RunState, options: ReportOptions = {}): string {
  const config = state.config;
  const title = options.title ?? (config ? `SEAL ${config.domain} ${config.command}` : 'SEAL run');
  const rounds = roundsInOrder(state);
  const parts: string[] = [];
  parts.push(
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
      `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
  );
  parts.push(header(state, title));
  parts.push('<h2>Summary</h2>', summaryTable(state, rounds));
  if (options.domainSections) parts.push(options.domainSections(state));
  parts.push('<h2>Plots</h2><div class="charts">', successChart(state, rounds), rewardStrip(rounds), '</div>');
  parts.push('<h2>TTT loss per round</h2>', lossCurves(rounds, options.maxCurvePoints ?? 120));
  parts.push('<h2>Tasks by round</h2>', taskTable(rounds));
  parts.push('<h2>Self-edits</h2>', selfEditTables(rounds));
  parts.push('<h2>Run</h2>', runDetails(state));
  parts.push('</body></html>\n');
  return parts.join('\n');
}

function header(state: RunState, title: string): string {
  const c = state.config;
  const model = c
    ? c.model.source?.hub
      ? `${c.model.source.hub.repo}@${c.model.source.hub.revision} (commit ${c.model.source.hub.commit})`
      : (c.model.source?.path ?? 'model')
    : '–';
  const rows: [string, string][] = [
    [
      'Status',
      `<span class="status ${escapeHtml(state.status)}">${escapeHtml(state.status)}</span>${state.failure ? ` <span class="bad">${escapeHtml(state.failure)}</span>` : ''}`,
    ],
    ['Model', c ? `${escapeHtml(model)} <span class="muted">${escapeHtml(c.model.fingerprint)} (${escapeHtml(c.model.method)})</span>` : '–'],
    ['Tasks', c ? `${c.tasks.ids.length}${c.tasks.source ? ` from ${escapeHtml(c.tasks.source)}` : ''}` : '–'],
    ['Plan', c ? `${c.rounds} round${c.rounds === 1 ? '' : 's'} x ${c.selfEditsPerTask} self-edits per task, seed ${c.seed}` : '–'],
    ['Config hash', c ? escapeHtml(state.configHash ?? '') : '–'],
    [
      'Started / last record',
      `${escapeHtml(state.startedAt ?? '–')} / ${escapeHtml(state.lastAt ?? '–')} (${state.events} records, ${state.resumes} resume${state.resumes === 1 ? '' : 's'})`,
    ],
  ];
  return (
    `<h1>${escapeHtml(title)}</h1><table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>` +
    (state.configChanges.length > 0
      ? `<p class="warn">The configuration was changed with --force-config ${state.configChanges.length} time(s) during this run; see Run below.</p>`
      : '')
  );
}

function summaryTable(state: RunState, rounds: RoundState[]): string {
  const head =
    '<tr><th>Row</th><th>Policy</th><th>Tasks</th><th>Self-edits / task</th><th>Pairs scored</th><th>Successes</th>' +
    '<th>Success rate (pairs)</th><th>Tasks solved (any candidate)</th><th>Mean reward</th><th>Skipped</th><th>State</th></tr>';
  const body = rounds.map((r) => {
    const m = roundMetrics(r);
    const expected = m.tasks * m.candidatesPerTask;
    const st = r.finished ? 'finished' : m.pairs < expected ? `in progress (${expected - m.pairs} to do)` : 'scored';
    return (
      `<tr><td>Round ${r.round}</td><td>${escapeHtml(policyLabel(r.policy))}</td><td class="num">${m.tasks}</td><td class="num">${m.candidatesPerTask}</td>` +
      `<td class="num">${m.pairs} / ${expected}</td><td class="num">${m.successes}</td><td class="num">${formatPercent(m.successRate)}</td>` +
      `<td class="num">${m.tasksSolved} / ${m.tasks}</td><td class="num">${formatNumber(m.meanReward)}</td><td class="num">${m.skipped}</td><td>${escapeHtml(st)}</td></tr>`
    );
  });
  const baselines = baselineMetrics(state).map(
    (b) =>
      `<tr class="baseline"><td>Baseline: ${escapeHtml(b.name)}${b.round !== null ? ` (round ${b.round})` : ''}</td><td>–</td>` +
      `<td class="num">${b.tasks}</td><td class="num">–</td><td class="num">${b.tasks}</td><td class="num">${b.solved}</td><td class="num">${formatPercent(b.successRate)}</td>` +
      `<td class="num">${b.solved} / ${b.tasks}</td><td class="num">${formatNumber(b.meanReward)}</td><td class="num">–</td><td>–</td></tr>`,
  );
  if (body.length + baselines.length === 0) return '<p class="muted">Nothing scored yet.</p>';
  const zero = zeroStepLine(state);
  return (
    `<table>${head}${body.join('')}${baselines.join('')}</table>` +
    (zero ? `<p class="warn">${escapeHtml(zero)} (per candidate: Self-edits below)</p>` : '') +
    '<p class="muted">Success rate: the fraction of (task, self-edit) pairs whose adapted model solves the task (the paper\'s metric, e.g. 29 of 8 x 5 = 40 pairs = 72.5%). ' +
    'Skipped: pairs whose candidate trained 0 steps or whose training could not change the model (invalid self-edit, over the step budget, ' +
    'empty dataset, a learning rate of 0 at every step); one skipped before training scores 0, one that ran untrained is scored as the model itself. ' +
    'Baselines score one pair per task.</p>'
  );
}

function successChart(state: RunState, rounds: RoundState[]): string {
  const series: LineSeries[] = [];
  const points = rounds.map((r) => [r.round, roundMetrics(r).successRate] as [number, number | null]);
  series.push({ name: 'SEAL (success rate over pairs)', points, color: colorAt(0), markers: true });
  const xs = rounds.map((r) => r.round);
  const x0 = xs.length > 0 ? Math.min(...xs) : 0;
  const x1 = xs.length > 0 ? Math.max(...xs) : 1;
  baselineMetrics(state).forEach((b, i) => {
    if (b.successRate === null) return;
    const span: [number, number][] =
      b.round !== null
        ? [
            [b.round - 0.2, b.successRate],
            [b.round + 0.2, b.successRate],
          ]
        : [
            [x0, b.successRate],
            [x1, b.successRate],
          ];
    series.push({ name: `baseline: ${b.name}${b.round !== null ? ` (round ${b.round})` : ''}`, points: span, color: colorAt(i + 1), dashed: true });
  });
  return lineChart({
    title: 'Success rate per round',
    series,
    xLabel: 'round',
    yLabel: 'success rate',
    yMin: 0,
    yMax: 1,
    xIntegers: true,
    legend: true,
    yFormat: (y) => `${Math.round(y * 100)}%`,
    emptyText: 'no round scored yet',
  });
}

function rewardStrip(rounds: RoundState[]): string {
  const band = new Map(rounds.map((r, i) => [r.round, i]));
  const rows = new Map<string, { label: string; points: StripPoint[]; solved: number[]; pairs: number[] }>();
  let lo = 0;
  let hi = 1;
  for (const r of rounds) {
    for (const c of scoredCandidates(r)) {
      let row = rows.get(c.task);
      if (!row) {
        row = { label: c.task, points: [], solved: rounds.map(() => 0), pairs: rounds.map(() => 0) };
        rows.set(c.task, row);
      }
      const s = c.score!;
      const b = band.get(r.round)!;
      lo = Math.min(lo, s.reward);
      hi = Math.max(hi, s.reward);
      row.points.push({
        value: s.reward,
        band: b,
        color: colorAt(r.round),
        title: `${c.task}, round ${r.round}, candidate ${c.candidate}: reward ${formatNumber(s.reward)}${s.solved ? ', solved' : ''}${s.skipped ? ` (skipped: ${s.skipped})` : ''}`,
      });
      row.pairs[b]!++;
      if (s.solved) row.solved[b]!++;
    }
  }
  const stripRows = [...rows.values()].map((r) => ({
    label: r.label,
    points: r.points,
    notes: rounds.map((x, i) => (r.pairs[i]! > 0 ? `r${x.round}: ${r.solved[i]}/${r.pairs[i]} solved` : '')),
  }));
  return stripPlot({
    title: 'Reward per candidate, by task and round',
    rows: stripRows,
    bands: rounds.length,
    xLabel: 'reward',
    xMin: lo,
    xMax: hi,
    legend: rounds.map((r) => ({ label: `round ${r.round}`, color: colorAt(r.round) })),
  });
}

function candidateColor(c: CandidateState): string {
  if (c.score === null) return UNSCORED_COLOR;
  if (c.score.skipped !== null) return SKIPPED_COLOR;
  return c.score.solved ? SOLVED_COLOR : UNSOLVED_COLOR;
}

function lossCurves(rounds: RoundState[], maxPoints: number): string {
  const panels: string[] = [];
  for (const r of rounds) {
    const candidates = [...r.candidates.values()].filter((c) => c.ttt.length > 0);
    const series: LineSeries[] = candidates.map((c) => ({
      name: `${c.task} #${c.candidate}${c.score ? (c.score.solved ? ' (solved)' : ' (not solved)') : ' (unfinished)'}`,
      points: downsample(c.ttt, maxPoints).map((p) => [p.step, p.loss] as [number, number | null]),
      color: candidateColor(c),
      width: 1.2,
      opacity: 0.6,
    }));
    panels.push(
      lineChart({
        title: `Round ${r.round}: TTT loss (${candidates.length} candidates)`,
        series,
        xLabel: 'step',
        yLabel: 'loss',
        width: 380,
        height: 240,
        xIntegers: true,
        yMin: 0,
        emptyText: 'no TTT steps recorded',
      }),
    );
  }
  const sftSeries: LineSeries[] = rounds
    .filter((r) => r.sft && r.sft.steps.length > 0)
    .map((r) => ({
      name: `round ${r.round} M-step`,
      points: downsample(r.sft!.steps, 400).map((p) => [p.step, p.loss] as [number, number | null]),
      color: colorAt(r.round),
    }));
  if (sftSeries.length > 0)
    panels.push(
      lineChart({
        title: 'Policy SFT (M-step) loss',
        series: sftSeries,
        xLabel: 'step',
        yLabel: 'loss',
        width: 380,
        height: 240,
        xIntegers: true,
        yMin: 0,
        legend: true,
      }),
    );
  if (panels.length === 0) return '<p class="muted">No TTT steps recorded yet.</p>';
  return `<p class="muted">One line per candidate: <span class="ok">green</span> solved, grey not solved, orange skipped, yellow unfinished.</p><div class="charts">${panels.join('')}</div>`;
}

function taskTable(rounds: RoundState[]): string {
  if (rounds.length === 0) return '<p class="muted">No round started yet.</p>';
  const tasks: string[] = [];
  const cells = new Map<string, string>();
  for (const r of rounds) {
    for (const t of taskOutcomes(r)) {
      if (!tasks.includes(t.task)) tasks.push(t.task);
      cells.set(
        `${r.round}\u0000${t.task}`,
        `${t.solved} / ${t.pairs}${t.pairs < r.candidatesPerTask ? ` <span class="muted">(of ${r.candidatesPerTask})</span>` : ''}`,
      );
    }
  }
  const head = `<tr><th>Task</th>${rounds.map((r) => `<th>Round ${r.round}: solved / pairs</th>`).join('')}</tr>`;
  const body = tasks.map(
    (t) => `<tr><td>${escapeHtml(t)}</td>${rounds.map((r) => `<td class="num">${cells.get(`${r.round}\u0000${t}`) ?? '–'}</td>`).join('')}</tr>`,
  );
  return `<table>${head}${body.join('')}</table>`;
}

function selfEditTables(rounds: RoundState[]): string {
  if (rounds.length === 0) return '<p class="muted">No self-edits yet.</p>';
  return rounds
    .map((r) => {
      const order = new Map(r.tasks.map((t, i) => [t, i]));
      const candidates = [...r.candidates.values()].sort(
        (a, b) =>
          (order.get(a.task) ?? Infinity) - (order.get(b.task) ?? Infinity) || (a.task < b.task ? -1 : a.task > b.task ? 1 : 0) || a.candidate - b.candidate,
      );
      const rows = candidates.map((c) => {
        const edit = chosenEdit(c);
        const shown = edit ?? c.samples[c.samples.length - 1] ?? null;
        const notes: string[] = [];
        const invalid = c.samples.filter((s) => s.invalid !== null);
        if (invalid.length > 0) notes.push(`${invalid.length} invalid sample(s): ${invalid.map((s) => escapeHtml(s.invalid)).join('; ')}`);
        if (edit) for (const a of edit.adjustments) notes.push(`${escapeHtml(a.field)}: ${escapeHtml(a.reason)}`);
        const zero = zeroStepReason(c);
        if (zero !== null) notes.push(`<span class="bad">${c.score?.skipped ? 'skipped' : 'not trained'}:</span> ${escapeHtml(zero)}`);
        // The training plan's notes (a step cap, examples capped, a learning rate that never reaches its peak).
        for (const n of c.plan?.notes ?? []) if (zero === null || !zero.includes(n)) notes.push(escapeHtml(n));
        if (c.starts > 1) notes.push(`redone ${c.starts - 1} time(s) after an interruption`);
        const tests = c.score
          ? c.score.tests.map((t) => `<span class="${t.correct ? 'ok' : 'bad'}">${escapeHtml(t.id)} ${t.correct ? '✓' : '✗'}</span>`).join(' ')
          : '';
        const lastLoss = c.ttt.length > 0 ? c.ttt[c.ttt.length - 1]!.loss : null;
        const result = c.score
          ? `<span class="${c.score.solved ? 'ok' : 'bad'}">${c.score.solved ? 'solved' : 'not solved'}</span>`
          : '<span class="muted">unfinished</span>';
        return (
          `<tr><td>${escapeHtml(c.task)}</td><td class="num">${c.candidate}</td><td><pre>${escapeHtml(shown?.text ?? '')}</pre></td><td>${notes.join('<br>')}</td>` +
          `<td class="num">${c.score ? formatNumber(c.score.reward) : '–'}</td><td>${result}</td><td>${tests}</td><td class="num">${c.ttt.length}</td><td class="num">${formatNumber(lastLoss)}</td></tr>`
        );
      });
      const m = roundMetrics(r);
      return (
        `<details${rounds.length === 1 ? ' open' : ''}><summary>Round ${r.round}: ${m.successes} of ${m.pairs} pairs solved (${formatPercent(m.successRate)})</summary>` +
        '<table><tr><th>Task</th><th>#</th><th>Self-edit</th><th>Notes</th><th>Reward</th><th>Result</th><th>Tests</th><th>TTT steps</th><th>Last loss</th></tr>' +
        `${rows.join('')}</table></details>`
      );
    })
    .join('\n');
}

function runDetails(state: RunState): string {
  const parts: string[] = [];
  if (state.configChanges.length > 0) {
    parts.push(
      '<h3>Configuration changes (--force-config)</h3><ul>' +
        state.configChanges
          .map(
            (c) =>
              `<li>log line ${c.seq}: ${escapeHtml(c.previousHash)} -> ${escapeHtml(c.configHash)}<ul>${c.changes.map((ch) => `<li>${escapeHtml(ch.path)}: ${escapeHtml(JSON.stringify(ch.from) ?? '(absent)')} -> ${escapeHtml(JSON.stringify(ch.to) ?? '(absent)')}</li>`).join('')}</ul></li>`,
          )
          .join('') +
        '</ul>',
    );
  }
  if (state.warnings.length > 0) parts.push(`<h3>Warnings</h3><ul>${state.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>`);
  parts.push(`<h3>Configuration</h3><pre>${escapeHtml(JSON.stringify(state.config, null, 2))}</pre>`);
  if (state.invocations.length > 0) parts.push(`<h3>Processes</h3><pre>${escapeHtml(state.invocations.map((i) => JSON.stringify(i)).join('\n'))}</pre>`);
  return parts.join('\n');
}
