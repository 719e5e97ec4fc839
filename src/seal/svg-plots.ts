/**
 * Small inline-SVG charts for the run report, drawn by hand (no library, no script, no external resource): a line
 * chart (gaps at null values, optional dashed reference lines) and a strip plot (one row per category, a band per
 * round, jittered dots, a quartile box when the values are not just two levels). Every text goes through escapeHtml; hovering a dot or line shows its <title>.
 */
import { coord, escapeHtml, formatNumber } from './html.ts';

/** Distinguishable colours (Okabe-Ito), cycled. */
export const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#d55e00', '#cc79a7', '#56b4e9', '#8c6d1f', '#000000'];

export function colorAt(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** About `count` round-numbered ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5, integers = false): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [];
  if (max <= min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  if (integers) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  return ticks;
}

export interface LineSeries {
  name: string;
  /** [x, y]; y null breaks the line. */
  points: readonly (readonly [number, number | null])[];
  color: string;
  dashed?: boolean;
  width?: number;
  opacity?: number;
  /** Dots at each point. */
  markers?: boolean;
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Fixed y range (default: the data's). */
  yMin?: number;
  yMax?: number;
  xIntegers?: boolean;
  legend?: boolean;
  yFormat?: (y: number) => string;
  /** Shown in the middle when there is nothing to draw. */
  emptyText?: string;
}

interface Frame {
  left: number;
  top: number;
  plotW: number;
  plotH: number;
  x: (v: number) => number;
  y: (v: number) => number;
}

function svgOpen(width: number, height: number, title: string): string {
  return (
    `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">` +
    `<title>${escapeHtml(title)}</title>` +
    `<text x="${coord(width / 2)}" y="16" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>`
  );
}

/** A line chart as one <svg> element. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 560;
  const legend = o.legend
    ? legendLayout(
        o.series.map((s) => s.name),
        56,
        width - 16,
      )
    : { rows: 0, at: [] };
  const height = (o.height ?? 300) + legend.rows * 16;
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]).filter((y): y is number => y !== null && Number.isFinite(y)));
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]).filter((x) => Number.isFinite(x)));
  let out = svgOpen(width, height, o.title);
  if (xs.length === 0 || ys.length === 0) {
    return `${out}<text x="${coord(width / 2)}" y="${coord(height / 2)}" text-anchor="middle" class="muted">${escapeHtml(o.emptyText ?? 'no data yet')}</text></svg>`;
  }
  let yMin = o.yMin ?? Math.min(...ys);
  let yMax = o.yMax ?? Math.max(...ys);
  if (yMax <= yMin) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMax <= xMin) [xMin, xMax] = [xMin - 0.5, xMax + 0.5];
  const left = 56,
    top = 28,
    right = 16,
    bottom = 40 + legend.rows * 16;
  const f: Frame = {
    left,
    top,
    plotW: width - left - right,
    plotH: height - top - bottom,
    x: (v) => left + ((v - xMin) / (xMax - xMin)) * (width - left - right),
    y: (v) => top + (1 - (v - yMin) / (yMax - yMin)) * (height - top - bottom),
  };
  out += axes(f, niceTicks(xMin, xMax, 6, o.xIntegers), niceTicks(yMin, yMax, 5), o.xLabel, o.yLabel, o.yFormat ?? formatNumber, o.xIntegers);
  for (const s of o.series) out += seriesPath(f, s);
  o.series.forEach((s, i) => {
    const at = legend.at[i];
    if (!at) return;
    const ly = height - legend.rows * 16 + at.row * 16 + 4;
    out +=
      `<line x1="${coord(at.x)}" y1="${coord(ly)}" x2="${coord(at.x + 18)}" y2="${coord(ly)}" stroke="${escapeHtml(s.color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>` +
      `<text x="${coord(at.x + 22)}" y="${coord(ly + 4)}" class="legend">${escapeHtml(s.name)}</text>`;
  });
  return `${out}</svg>`;
}

/** Legend entries placed left to right by their estimated text width (11px sans: ~6.2px a character), wrapping. */
function legendLayout(names: readonly string[], left: number, right: number): { rows: number; at: { x: number; row: number }[] } {
  const at: { x: number; row: number }[] = [];
  let x = left;
  let row = 0;
  for (const name of names) {
    const w = 22 + name.length * 6.2 + 14;
    if (x > left && x + w > right) {
      x = left;
      row++;
    }
    at.push({ x, row });
    x += w;
  }
  return { rows: names.length > 0 ? row + 1 : 0, at };
}

function axes(f: Frame, xTicks: number[], yTicks: number[], xLabel: string, yLabel: string, yFormat: (y: number) => string, xIntegers?: boolean): string {
  let out = `<rect x="${f.left}" y="${f.top}" width="${coord(f.plotW)}" height="${coord(f.plotH)}" class="plot-bg"/>`;
  for (const t of yTicks) {
    const y = coord(f.y(t));
    out +=
      `<line x1="${f.left}" y1="${y}" x2="${coord(f.left + f.plotW)}" y2="${y}" class="grid"/>` +
      `<text x="${f.left - 6}" y="${y}" dy="4" text-anchor="end" class="tick">${escapeHtml(yFormat(t))}</text>`;
  }
  for (const t of xTicks) {
    const x = coord(f.x(t));
    out +=
      `<line x1="${x}" y1="${coord(f.top + f.plotH)}" x2="${x}" y2="${coord(f.top + f.plotH + 4)}" class="axis"/>` +
      `<text x="${x}" y="${coord(f.top + f.plotH + 16)}" text-anchor="middle" class="tick">${escapeHtml(xIntegers ? String(Math.round(t)) : formatNumber(t))}</text>`;
  }
  out +=
    `<text x="${coord(f.left + f.plotW / 2)}" y="${coord(f.top + f.plotH + 32)}" text-anchor="middle" class="axis-label">${escapeHtml(xLabel)}</text>` +
    `<text transform="translate(14 ${coord(f.top + f.plotH / 2)}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeHtml(yLabel)}</text>`;
  return out;
}

function seriesPath(f: Frame, s: LineSeries): string {
  let d = '';
  let pen = false;
  const dots: string[] = [];
  for (const [x, y] of s.points) {
    if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${coord(f.x(x))} ${coord(f.y(y))}`;
    pen = true;
    if (s.markers)
      dots.push(
        `<circle cx="${coord(f.x(x))}" cy="${coord(f.y(y))}" r="3.5" fill="${escapeHtml(s.color)}"><title>${escapeHtml(`${s.name}: ${formatNumber(x)}, ${formatNumber(y)}`)}</title></circle>`,
      );
  }
  const style = `fill="none" stroke="${escapeHtml(s.color)}" stroke-width="${s.width ?? 2}"${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}${s.dashed ? ' stroke-dasharray="5 3"' : ''}`;
  return (d ? `<path d="${d}" ${style}><title>${escapeHtml(s.name)}</title></path>` : '') + dots.join('');
}

export interface StripPoint {
  value: number;
  color: string;
  title: string;
  /** Which band of the row (e.g. the round), 0-based; default 0. */
  band?: number;
}

export interface StripRow {
  label: string;
  points: readonly StripPoint[];
  /** Shown at the right end of each band (e.g. "3/5 solved"). */
  notes?: readonly string[];
}

export interface StripPlotOptions {
  title: string;
  rows: readonly StripRow[];
  xLabel: string;
  xMin: number;
  xMax: number;
  /** Bands per row (default 1): each band gets its own strip. */
  bands?: number;
  width?: number;
  legend?: readonly { label: string; color: string }[];
}

/** Deterministic jitter in [-0.5, 0.5) from a point's index (a golden-ratio sequence: no clumping, no RNG). */
function jitter(i: number): number {
  return ((i * 0.6180339887) % 1) - 0.5;
}

/**
 * A strip plot: one row per category, split into bands (e.g. one per round), a dot per value jittered a few pixels so
 * equal values stay countable, and a quartile box behind bands of 5 or more values of 3 or more levels.
 */
export function stripPlot(o: StripPlotOptions): string {
  const width = o.width ?? 640;
  const bands = Math.max(1, o.bands ?? 1);
  const bandH = bands === 1 ? 24 : 16;
  const rowH = bands * bandH + (bands === 1 ? 0 : 8);
  const left = 150,
    right = 110,
    top = 28;
  const legendH = o.legend && o.legend.length > 0 ? 18 : 0;
  const plotH = Math.max(1, o.rows.length) * rowH;
  const height = top + plotH + 40 + legendH;
  let out = svgOpen(width, height, o.title);
  const span = o.xMax > o.xMin ? o.xMax - o.xMin : 1;
  const plotW = width - left - right;
  const x = (v: number) => left + ((Math.min(o.xMax, Math.max(o.xMin, v)) - o.xMin) / span) * plotW;
  out += `<rect x="${left}" y="${top}" width="${coord(plotW)}" height="${coord(plotH)}" class="plot-bg"/>`;
  for (const t of niceTicks(o.xMin, o.xMax, 5)) {
    const tx = coord(x(t));
    out +=
      `<line x1="${tx}" y1="${top}" x2="${tx}" y2="${coord(top + plotH + 4)}" class="grid"/>` +
      `<text x="${tx}" y="${coord(top + plotH + 16)}" text-anchor="middle" class="tick">${escapeHtml(formatNumber(t))}</text>`;
  }
  out += `<text x="${coord(left + plotW / 2)}" y="${coord(top + plotH + 32)}" text-anchor="middle" class="axis-label">${escapeHtml(o.xLabel)}</text>`;
  if (o.rows.length === 0)
    out += `<text x="${coord(left + plotW / 2)}" y="${coord(top + rowH / 2 + 4)}" text-anchor="middle" class="muted">no scored candidates yet</text>`;
  o.rows.forEach((row, r) => {
    const rowTop = top + r * rowH + (bands === 1 ? 0 : 4);
    if (r > 0) out += `<line x1="${left}" y1="${coord(top + r * rowH)}" x2="${coord(left + plotW)}" y2="${coord(top + r * rowH)}" class="grid"/>`;
    const label = row.label.length > 22 ? `${row.label.slice(0, 21)}…` : row.label;
    out += `<text x="${left - 8}" y="${coord(rowTop + (bands * bandH) / 2 + 4)}" text-anchor="end" class="tick"><title>${escapeHtml(row.label)}</title>${escapeHtml(label)}</text>`;
    for (let band = 0; band < bands; band++) {
      const cy = rowTop + band * bandH + bandH / 2;
      const points = row.points.filter((p) => (p.band ?? 0) === band && Number.isFinite(p.value));
      const values = points.map((p) => p.value).sort((a, b) => a - b);
      // A box says little about two-valued (pass/fail) rewards: the dots and the note do.
      if (values.length >= 5 && new Set(values).size > 2) {
        const q = (p: number) => values[Math.min(values.length - 1, Math.floor(p * (values.length - 1) + 0.5))]!;
        const [q1, med, q3] = [q(0.25), q(0.5), q(0.75)];
        out +=
          `<rect x="${coord(x(q1))}" y="${coord(cy - bandH / 2 + 2)}" width="${coord(Math.max(1, x(q3) - x(q1)))}" height="${bandH - 4}" class="box"/>` +
          `<line x1="${coord(x(med))}" y1="${coord(cy - bandH / 2 + 2)}" x2="${coord(x(med))}" y2="${coord(cy + bandH / 2 - 2)}" class="median"/>`;
      }
      points.forEach((p, i) => {
        out += `<circle cx="${coord(x(p.value) + jitter(i + 3) * 10)}" cy="${coord(cy + jitter(i) * (bandH - 8))}" r="3.5" fill="${escapeHtml(p.color)}" fill-opacity="0.8"><title>${escapeHtml(p.title)}</title></circle>`;
      });
      const note = row.notes?.[band];
      if (note) out += `<text x="${coord(width - right + 8)}" y="${coord(cy + 4)}" class="tick">${escapeHtml(note)}</text>`;
    }
  });
  (o.legend ?? []).forEach((l, i) => {
    const lx = left + i * 90;
    const ly = height - 10;
    out += `<circle cx="${lx}" cy="${ly - 4}" r="4" fill="${escapeHtml(l.color)}"/><text x="${lx + 8}" y="${ly}" class="legend">${escapeHtml(l.label)}</text>`;
  });
  return `${out}</svg>`;
}

/** At most `max` points of a curve, evenly spaced, always keeping the first and last. */
export function downsample<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return [...points];
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.round((i * (points.length - 1)) / (max - 1))]!);
  return out;
}
