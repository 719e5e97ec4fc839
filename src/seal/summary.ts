/** The plain-text run summary for the terminal: the report's summary table in fixed-width columns. */
import { formatNumber, formatPercent } from './html.ts';
import { policyLabel } from './report.ts';
import { baselineMetrics, roundMetrics, roundsInOrder, zeroStepLine, type RunState } from './run-state.ts';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Header line, then one row per round and per baseline: pairs, successes, success rate, tasks solved, mean reward. */
export function formatRunSummary(state: RunState): string {
  const c = state.config;
  const lines: string[] = [];
  const model = c?.model.source?.hub ? `${c.model.source.hub.repo}@${c.model.source.hub.revision}` : (c?.model.source?.path ?? 'model');
  lines.push(
    c
      ? `SEAL ${c.domain} ${c.command}: ${state.status}; ${model} [${c.model.fingerprint.slice(0, 19)}]; ${c.tasks.ids.length} tasks x ${c.selfEditsPerTask} self-edits, ${c.rounds} round(s), seed ${c.seed}`
      : `SEAL run: ${state.status}`,
  );
  if (state.failure) lines.push(`failed: ${state.failure}`);
  const rows: string[][] = [['', 'policy', 'pairs', 'success', 'rate', 'tasks solved', 'mean reward', 'skipped']];
  for (const r of roundsInOrder(state)) {
    const m = roundMetrics(r);
    rows.push([
      `round ${r.round}${r.finished ? '' : '*'}`,
      policyLabel(r.policy),
      `${m.pairs}/${m.tasks * m.candidatesPerTask}`,
      `${m.successes}/${m.pairs}`,
      formatPercent(m.successRate),
      `${m.tasksSolved}/${m.tasks}`,
      formatNumber(m.meanReward),
      String(m.skipped),
    ]);
  }
  for (const b of baselineMetrics(state)) {
    rows.push([
      `baseline ${b.name}${b.round !== null ? ` (round ${b.round})` : ''}`,
      '-',
      `${b.tasks}/${b.tasks}`,
      `${b.solved}/${b.tasks}`,
      formatPercent(b.successRate),
      `${b.solved}/${b.tasks}`,
      formatNumber(b.meanReward),
      '-',
    ]);
  }
  if (rows.length > 1) lines.push(table(rows));
  if (roundsInOrder(state).some((r) => !r.finished)) lines.push('* round not finished');
  const zero = zeroStepLine(state);
  if (zero !== null) lines.push(`${zero} (per candidate: report.html)`);
  if (state.warnings.length > 0) lines.push(`${state.warnings.length} warning(s); see report.html`);
  return lines.join('\n');
}
