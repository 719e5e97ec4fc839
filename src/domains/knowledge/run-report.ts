/**
 * What a knowledge run reports beyond the generic SEAL report (src/seal/report.ts): per passage, the un-adapted
 * model's accuracy (the 'base' baseline) and the adapted accuracy (the mean over a round's candidates), the gain;
 * the paper's table (base / passage / synthetic / self-edits / SEAL) from this run and the runs compared with it,
 * with bootstrap confidence intervals over passages; accuracy and completion length per round; and how often
 * several judges agree. summary.json is knowledgeSummary's object.
 */
import { escapeHtml, formatNumber, formatPercent } from '../../seal/html.ts';
import { chosenEdit, roundsInOrder, scoredCandidates, type RunState } from '../../seal/run-state.ts';
import { pairAgreement, type PairAgreement } from './judges/agreement.ts';

/** The baseline name of the un-adapted model's scores in every knowledge run. */
export const UNADAPTED_BASELINE = 'base';

/** The paper's table rows, in its order. */
export const PAPER_TABLE_ROWS = ['base', 'passage', 'synthetic', 'self-edits', 'SEAL'] as const;
export type PaperTableRow = (typeof PAPER_TABLE_ROWS)[number];

export interface PassageOutcome {
  readonly id: string;
  /** The un-adapted model's fraction correct; null when not scored yet. */
  readonly baseline_accuracy: number | null;
  /** The mean fraction correct over the last scored round's candidates of the passage; null when none. */
  readonly adapted_accuracy: number | null;
  /** adapted − baseline; null when either is missing. */
  readonly gain: number | null;
}

export interface KnowledgeSummary {
  readonly command: string | null;
  /** The round the adapted accuracies come from (the last with a score); null when none. */
  readonly round: number | null;
  readonly passages: readonly PassageOutcome[];
  /** Means over the passages that have the value. */
  readonly baseline_accuracy: number | null;
  readonly adapted_accuracy: number | null;
  readonly gain: number | null;
}

const mean = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Per passage of the run: the un-adapted model's accuracy. */
export function baselineAccuracies(state: RunState, name = UNADAPTED_BASELINE): Map<string, number> {
  const out = new Map<string, number>();
  for (const b of state.baselines.values()) if (b.name === name && b.round === null) out.set(b.task, b.reward);
  return out;
}

/** Per passage: the mean reward of its scored candidates in a round (skipped candidates count as 0, as they scored). */
export function roundAccuracies(state: RunState, round: number): Map<string, number> {
  const r = state.rounds.get(round);
  const sums = new Map<string, number[]>();
  if (!r) return new Map();
  for (const c of scoredCandidates(r)) {
    const list = sums.get(c.task) ?? [];
    list.push(c.score!.reward);
    sums.set(c.task, list);
  }
  return new Map([...sums].map(([task, rewards]) => [task, mean(rewards)!]));
}

/** The last round with at least one scored candidate, or null. */
export function lastScoredRound(state: RunState): number | null {
  const rounds = roundsInOrder(state).filter((r) => scoredCandidates(r).length > 0);
  return rounds.at(-1)?.round ?? null;
}

/** summary.json: per passage baseline_accuracy, adapted_accuracy and gain, and their means. */
export function knowledgeSummary(state: RunState): KnowledgeSummary {
  const ids = state.config?.tasks.ids ?? [];
  const base = baselineAccuracies(state);
  const round = lastScoredRound(state);
  const adapted = round === null ? new Map<string, number>() : roundAccuracies(state, round);
  const passages = ids.map((id) => {
    const b = base.get(id) ?? null;
    const a = adapted.get(id) ?? null;
    return { id, baseline_accuracy: b, adapted_accuracy: a, gain: a !== null && b !== null ? a - b : null };
  });
  const values = (key: 'baseline_accuracy' | 'adapted_accuracy' | 'gain') => passages.map((p) => p[key]).filter((x): x is number => x !== null);
  return {
    command: state.config?.command ?? null,
    round,
    passages,
    baseline_accuracy: mean(values('baseline_accuracy')),
    adapted_accuracy: mean(values('adapted_accuracy')),
    gain: mean(values('gain')),
  };
}

/** Which row of the paper's table a run's adapted accuracies fill (a baseline-base run fills only the base row). */
export function paperRowOf(command: string): PaperTableRow | null {
  if (command === 'train' || command === 'eval') return 'SEAL';
  const m = /^baseline-(.+)$/.exec(command);
  const kind = m?.[1];
  return kind === 'passage' || kind === 'synthetic' || kind === 'self-edits' ? kind : null;
}

export interface BootstrapInterval {
  readonly mean: number;
  readonly low: number;
  readonly high: number;
  readonly n: number;
}

/**
 * The mean of per-passage values with a percentile bootstrap interval (passages resampled with replacement,
 * `samples` times, from a fixed seed so the report is reproducible); null for no values.
 */
export function bootstrapMean(values: readonly number[], options: { samples?: number; level?: number; seed?: number } = {}): BootstrapInterval | null {
  const n = values.length;
  if (n === 0) return null;
  const samples = options.samples ?? 2000;
  const level = options.level ?? 0.95;
  let state = (options.seed ?? 12345) >>> 0;
  // mulberry32: a small seeded generator, enough for resampling indices.
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const means: number[] = [];
  for (let s = 0; s < samples; s++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(random() * n)]!;
    means.push(sum / n);
  }
  means.sort((a, b) => a - b);
  const at = (q: number) => means[Math.min(samples - 1, Math.max(0, Math.floor(q * samples)))]!;
  return { mean: mean(values)!, low: at((1 - level) / 2), high: at(1 - (1 - level) / 2), n };
}

/** A run to fill the paper's table from (this run, or one given with --compare). */
export interface ComparedRun {
  readonly label: string;
  readonly state: RunState;
}

/** The paper's table: each row's per-passage accuracies (the first run that fills a row wins) and its interval. */
export function paperTable(runs: readonly ComparedRun[]): { row: PaperTableRow; source: string; interval: BootstrapInterval }[] {
  const rows = new Map<PaperTableRow, { source: string; values: number[] }>();
  for (const { label, state } of runs) {
    const base = [...baselineAccuracies(state).values()];
    if (!rows.has('base') && base.length > 0) rows.set('base', { source: label, values: base });
    const row = state.config ? paperRowOf(state.config.command) : null;
    const round = lastScoredRound(state);
    if (row === null || round === null || rows.has(row)) continue;
    rows.set(row, { source: `${label}${row === 'SEAL' ? ` (round ${round})` : ''}`, values: [...roundAccuracies(state, round).values()] });
  }
  return PAPER_TABLE_ROWS.flatMap((row) => {
    const r = rows.get(row);
    const interval = r ? bootstrapMean(r.values) : null;
    return r && interval ? [{ row, source: r.source, interval }] : [];
  });
}

/** Per round: mean accuracy, and the mean length in characters of the self-edits its candidates trained on. */
export function roundLines(state: RunState): { round: number; accuracy: number | null; candidates: number; chars: number | null }[] {
  return roundsInOrder(state).map((r) => {
    const scored = scoredCandidates(r);
    const edits = scored.flatMap((c) => {
      const e = c.score!.skipped === null ? chosenEdit(c) : null;
      return e ? [e] : [];
    });
    return {
      round: r.round,
      accuracy: mean(scored.map((c) => c.score!.reward)),
      candidates: scored.length,
      chars: mean(edits.map((e) => e.text.length)),
    };
  });
}

/** Every pair of judges over every graded answer of the run (candidates and baselines). */
export function judgeAgreement(state: RunState): PairAgreement[] {
  const rows: Record<string, boolean>[] = [];
  const collect = (tests: readonly { prediction?: unknown }[]) => {
    for (const t of tests) {
      const v = (t.prediction as { verdicts?: Record<string, boolean> } | undefined)?.verdicts;
      if (v && typeof v === 'object') rows.push(v);
    }
  };
  for (const r of state.rounds.values()) for (const c of r.candidates.values()) if (c.score) collect(c.score.tests);
  for (const b of state.baselines.values()) collect(b.tests);
  const judges = rows.length > 0 ? Object.keys(rows[0]!) : [];
  const out: PairAgreement[] = [];
  for (let i = 0; i < judges.length; i++) {
    for (let j = i + 1; j < judges.length; j++) {
      const both = rows.filter((r) => typeof r[judges[i]!] === 'boolean' && typeof r[judges[j]!] === 'boolean');
      out.push(
        pairAgreement(
          judges[i]!,
          both.map((r) => r[judges[i]!]!),
          judges[j]!,
          both.map((r) => r[judges[j]!]!),
        ),
      );
    }
  }
  return out;
}

const pct = (x: number | null) => escapeHtml(formatPercent(x));
const signedPct = (x: number | null) => (x === null ? '–' : `${x > 0 ? '+' : ''}${(Math.round(x * 1000) / 10).toFixed(1)}`);

/** The knowledge sections of report.html (placed after the generic summary). */
export function knowledgeReportSections(state: RunState, compared: readonly ComparedRun[] = []): string {
  const parts: string[] = [];
  const lines = roundLines(state);
  const summary = knowledgeSummary(state);
  parts.push('<h2>Knowledge: accuracy per round</h2>');
  parts.push(
    `<table><tr><th></th><th>accuracy</th><th>candidates scored</th><th>completion length (chars)</th></tr>` +
      `<tr class="baseline"><td>un-adapted model</td><td class="num">${pct(summary.baseline_accuracy)}</td><td class="num">–</td><td class="num">–</td></tr>` +
      lines
        .map(
          (l) =>
            `<tr><td>round ${l.round}</td><td class="num">${pct(l.accuracy)}</td><td class="num">${l.candidates}</td><td class="num">${escapeHtml(formatNumber(l.chars))}</td></tr>`,
        )
        .join('') +
      '</table>',
  );
  const table = paperTable([{ label: 'this run', state }, ...compared]);
  parts.push("<h2>Knowledge: the paper's table</h2>");
  parts.push(
    table.length === 0
      ? '<p class="muted">Nothing scored yet.</p>'
      : `<table><tr><th>condition</th><th>accuracy</th><th>95% CI (bootstrap over passages)</th><th>passages</th><th>from</th></tr>${table
          .map(
            (t) =>
              `<tr><td>${escapeHtml(t.row)}</td><td class="num">${pct(t.interval.mean)}</td><td class="num">${pct(t.interval.low)} – ${pct(t.interval.high)}</td><td class="num">${t.interval.n}</td><td>${escapeHtml(t.source)}</td></tr>`,
          )
          .join(
            '',
          )}</table><p class="muted">The paper (Qwen2.5-7B, 200 passages): base 32.7, passage 33.5, self-edits 39.7, synthetic (GPT-4.1) 46.3, SEAL 47.0.</p>`,
  );
  parts.push('<h2>Knowledge: per-passage gains</h2>');
  parts.push(
    `<table><tr><th>passage</th><th>un-adapted</th><th>adapted${summary.round !== null ? ` (round ${summary.round})` : ''}</th><th>gain (points)</th></tr>${summary.passages
      .map(
        (p) =>
          `<tr><td>${escapeHtml(p.id)}</td><td class="num">${pct(p.baseline_accuracy)}</td><td class="num">${pct(p.adapted_accuracy)}</td><td class="num ${p.gain === null ? '' : p.gain > 0 ? 'ok' : p.gain < 0 ? 'bad' : ''}">${signedPct(p.gain)}</td></tr>`,
      )
      .join('')}</table>`,
  );
  const agreement = judgeAgreement(state);
  if (agreement.length > 0) {
    parts.push('<h2>Knowledge: judge agreement</h2>');
    parts.push(
      `<table><tr><th>judges</th><th>answers</th><th>agree</th><th>both correct</th><th>both wrong</th><th>only first</th><th>only second</th><th>Cohen's kappa</th></tr>${agreement
        .map(
          (a) =>
            `<tr><td>${escapeHtml(a.a)} / ${escapeHtml(a.b)}</td><td class="num">${a.n}</td><td class="num">${pct(a.agreement)}</td><td class="num">${a.bothCorrect}</td><td class="num">${a.bothWrong}</td><td class="num">${a.onlyA}</td><td class="num">${a.onlyB}</td><td class="num">${escapeHtml(formatNumber(a.kappa))}</td></tr>`,
        )
        .join('')}</table>`,
    );
  }
  return parts.join('\n');
}
