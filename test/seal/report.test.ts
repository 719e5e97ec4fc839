/**
 * report.html and the terminal summary: the numbers in the paper's terms, well-formed inline SVG, no script and no
 * external resource, every run string escaped (task ids and self-edit text carrying markup), deterministic output.
 */
import { describe, expect, it } from 'vitest';
import { escapeHtml, formatPercent } from '../../src/seal/html.ts';
import { renderReportHtml } from '../../src/seal/report.ts';
import { configHash } from '../../src/seal/run-config.ts';
import { roundMetrics } from '../../src/seal/run-state.ts';
import { formatRunSummary } from '../../src/seal/summary.ts';
import { downsample, lineChart, niceTicks, stripPlot } from '../../src/seal/svg-plots.ts';
import { MemoryLog, runFakeLoop, svgElements, testConfig, xmlProblem } from './helpers.ts';

const EVIL_TASK = '<script>alert("task")</script>&x';
const EVIL_EDIT = '</pre><script>alert(1)</script><img src=x onerror=alert(2)> & "quotes" \'single\'';

function finishedRun(): MemoryLog {
  const config = testConfig({ tasks: { ids: ['6150a2bd', '8d5021e8', '5614dbcf', '44f52bb0', EVIL_TASK] } });
  const log = new MemoryLog();
  log.append({ type: 'run-started', config, configHash: configHash(config), invocation: { argv: ['arc', 'train', '--tasks', EVIL_TASK] } });
  for (const task of config.tasks.ids)
    log.append({
      type: 'baseline-scored',
      name: 'ICL (no adapter)',
      round: null,
      task,
      reward: 0,
      solved: false,
      tests: [{ id: `${task}-0`, correct: false }],
    });
  runFakeLoop(log, { invalidEvery: 2, stepsPerCandidate: 300 });
  log.append({ type: 'warning', message: `odd task ${EVIL_TASK}` });
  return log;
}

function withEvilEdit(log: MemoryLog): MemoryLog {
  const evil = new MemoryLog();
  for (const e of log.events) {
    const { v: _v, seq: _s, time: _t, ...input } = e;
    if (input.type === 'self-edit-sampled' && input.task === EVIL_TASK && input.edit !== null)
      evil.append({ ...input, text: EVIL_EDIT, adjustments: [{ field: '<b>lr</b>', reason: 'clamped <i>' }] });
    else evil.append(input as never);
  }
  return evil;
}

describe('report.html', () => {
  const log = withEvilEdit(finishedRun());
  const html = renderReportHtml(log.state);

  it("holds the summary table in the paper's terms, per round, with the baseline row", () => {
    for (const round of [0, 1]) {
      const m = roundMetrics(log.state.rounds.get(round)!);
      expect(m.pairs).toBe(15);
      const row = new RegExp(
        `<tr><td>Round ${round}</td><td>${round === 0 ? 'base model' : 'round 0 policy'}</td><td class="num">5</td><td class="num">3</td>` +
          `<td class="num">15 / 15</td><td class="num">${m.successes}</td><td class="num">${formatPercent(m.successRate).replace('.', '\\.')}</td>` +
          `<td class="num">${m.tasksSolved} / 5</td>`,
      );
      expect(html).toMatch(row);
    }
    expect(html).toMatch(
      /<tr class="baseline"><td>Baseline: ICL \(no adapter\)<\/td><td>–<\/td><td class="num">5<\/td>.*<td class="num">0\.0%<\/td><td class="num">0 \/ 5<\/td>/,
    );
    expect(html).toMatch(/Success rate: the fraction of \(task, self-edit\) pairs/);
  });

  it('draws well-formed inline SVG: success per round, rewards per task, TTT loss per round, policy SFT loss', () => {
    const svgs = svgElements(html);
    expect(svgs.length).toBe(5);
    for (const svg of svgs) expect(xmlProblem(svg), svg.slice(0, 200)).toBeNull();
    expect(svgs[0]).toMatch(/aria-label="Success rate per round"/);
    expect(svgs[1]).toMatch(/aria-label="Reward per candidate, by task and round"/);
    expect(svgs[2]).toMatch(/Round 0: TTT loss \(15 candidates\)/);
    expect(svgs[4]).toMatch(/Policy SFT \(M-step\) loss/);
    // The success line has one marker per round, at the rounds' rates (y = 28 + (1 - rate) * plot height).
    expect(svgs[0]!.match(/<circle /g)).toHaveLength(2);
    // 300 TTT steps per candidate are drawn with at most 120 points each.
    const paths = [...svgs[2]!.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(15);
    for (const d of paths) expect(d.match(/[ML]/g)!.length).toBe(120);
    // Dots of the strip plot: one per scored candidate over both rounds; a note per task and round.
    expect(svgs[1]!.match(/<circle [^>]*fill-opacity/g)).toHaveLength(30);
    const t0 = log.state.rounds.get(1)!.candidates;
    const solvedR1 = [0, 1, 2].filter((k) => t0.get(`6150a2bd\u0000${k}`)!.score!.solved).length;
    expect(svgs[1]).toContain(`r1: ${solvedR1}/3 solved`);
  });

  it('has no script, no external resource, and escapes every run string', () => {
    expect(html.toLowerCase()).not.toContain('<script');
    expect(html).not.toMatch(/<[a-zA-Z][^>]*\s(src|href|on\w+)=/i);
    expect(html).not.toMatch(/https?:|url\(|@import/i);
    expect(html).not.toMatch(/<img|<b>lr|<i>/);
    expect(html).toContain(escapeHtml(EVIL_TASK));
    expect(html).toContain('&lt;script&gt;alert(&quot;task&quot;)&lt;/script&gt;&amp;x');
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot; &#39;single&#39;');
    expect(html).toContain('&lt;b&gt;lr&lt;/b&gt;: clamped &lt;i&gt;');
    const body = html.replace(/<style>[\s\S]*<\/style>/, '');
    const tags = [...body.matchAll(/<([a-zA-Z][\w-]*)/g)].map((m) => m[1]!.toLowerCase());
    const allowed = new Set([
      'html',
      'head',
      'meta',
      'title',
      'body',
      'h1',
      'h2',
      'h3',
      'p',
      'span',
      'table',
      'tr',
      'th',
      'td',
      'div',
      'pre',
      'details',
      'summary',
      'ul',
      'li',
      'br',
      'svg',
      'text',
      'rect',
      'line',
      'path',
      'circle',
    ]);
    expect([...new Set(tags)].filter((t) => !allowed.has(t))).toEqual([]);
  });

  it('lists every self-edit, invalid samples and clamping included, and the configuration', () => {
    expect(html).toMatch(/1 invalid sample\(s\): not valid JSON/);
    expect(html).toMatch(/training\.num_train_epochs: clamped to 100/);
    expect(html).toMatch(/<summary>Round 1: \d+ of 15 pairs solved/);
    expect(html).toContain('&quot;selfEditsPerTask&quot;: 3');
    expect(html).toMatch(/<span class="status finished">finished<\/span>/);
  });

  it('is deterministic, and renders a run with nothing scored yet', () => {
    expect(renderReportHtml(log.state)).toBe(html);
    const empty = new MemoryLog();
    const config = testConfig();
    empty.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
    const page = renderReportHtml(empty.state);
    expect(page).toMatch(/Nothing scored yet/);
    expect(page).toMatch(/no round scored yet/);
    for (const svg of svgElements(page)) expect(xmlProblem(svg)).toBeNull();
  });
});

describe('terminal summary', () => {
  it("prints one row per round and per baseline with the paper's numbers", () => {
    const log = finishedRun();
    const text = formatRunSummary(log.state);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(
      /^SEAL arc train: finished; \/models\/Llama-3\.2-1B-Instruct \[sha256:001122334455\]; 5 tasks x 3 self-edits, 2 round\(s\), seed 7$/,
    );
    const m0 = roundMetrics(log.state.rounds.get(0)!);
    expect(text).toMatch(
      new RegExp(`round 0 +base model +15/15 +${m0.successes}/15 +${formatPercent(m0.successRate).replace('.', '\\.')} +${m0.tasksSolved}/5`),
    );
    expect(text).toMatch(/baseline ICL \(no adapter\) +- +5\/5 +0\/5 +0\.0% +0\/5/);
    expect(text).toMatch(/1 warning\(s\)/);
  });
});

describe('svg plots', () => {
  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 7, 6, true)).toEqual([0, 2, 4, 6]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  it('a null value breaks the line; markers carry titles; text is escaped', () => {
    const svg = lineChart({
      title: 'a<b',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 's&t',
          color: '#000',
          markers: true,
          points: [
            [0, 1],
            [1, null],
            [2, 3],
            [3, 2],
          ],
        },
      ],
    });
    expect(xmlProblem(svg)).toBeNull();
    expect(svg.match(/<path d="([^"]*)"/)![1]!.match(/M/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(3);
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('s&amp;t');
  });

  it('a strip plot draws a quartile box for rows of five or more values that are not two-valued', () => {
    const svg = stripPlot({
      title: 't',
      xLabel: 'r',
      xMin: 0,
      xMax: 1,
      rows: [
        { label: 'few', points: [0, 1].map((value) => ({ value, color: '#000', title: 'p' })) },
        { label: 'binary', points: [0, 0, 1, 1, 1].map((value) => ({ value, color: '#000', title: 'p' })) },
        { label: 'spread', points: [0, 0.2, 0.5, 0.7, 1].map((value) => ({ value, color: '#000', title: 'p' })) },
      ],
    });
    expect(xmlProblem(svg)).toBeNull();
    expect(svg.match(/class="box"/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(12);
  });

  it('downsampling keeps the ends', () => {
    const d = downsample(
      Array.from({ length: 1000 }, (_, i) => i),
      10,
    );
    expect(d).toHaveLength(10);
    expect(d[0]).toBe(0);
    expect(d[9]).toBe(999);
  });
});
