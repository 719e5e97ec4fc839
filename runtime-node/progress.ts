/**
 * A byte-accurate download progress bar on a stream (stderr): redrawn in place with \r on a TTY, a plain line every
 * few seconds (and at the end) otherwise, so logs stay readable.
 */
import type { DownloadProgress } from './hub.ts';

export interface ProgressBarOptions {
  /** Default process.stderr. */
  stream?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Shown before the bar (e.g. the model id). */
  label?: string;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /** Minimum ms between plain (non-TTY) lines; default 5000. */
  lineIntervalMs?: number;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** 1234567 → "1.2 MB" (decimal units, as the hub shows sizes). */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Seconds → "42s", "3m05s", "1h02m"; "?" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One status line: bar, bytes, percent, rate (bytes/s) and ETA. */
export function formatProgressLine(p: DownloadProgress, rate: number, width = 24, label = ''): string {
  const fraction = p.total > 0 ? Math.min(1, Math.max(0, p.bytes / p.total)) : 1;
  const filled = Math.round(fraction * width);
  const eta = rate > 0 ? (p.total - p.bytes) / rate : NaN;
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  return (
    `${label ? `${label} ` : ''}${bar} ${formatBytes(p.bytes)} / ${formatBytes(p.total)} ${(fraction * 100).toFixed(0)}% ` +
    `${formatBytes(Math.round(Math.max(0, rate)))}/s ETA ${p.bytes >= p.total ? '0s' : formatDuration(eta)} ${p.file}`
  );
}

/** An onProgress callback (`update`) drawing the bar, plus finish() to end its line. */
export function createProgressBar(options: ProgressBarOptions = {}): { update(p: DownloadProgress): void; finish(): void } {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const tty = stream.isTTY === true;
  const interval = tty ? 100 : (options.lineIntervalMs ?? 5000);
  // Rate and ETA count from the first report and only the bytes fetched since (resumed bytes are not download speed).
  let start = 0;
  let startBytes = 0;
  let lastDraw = -Infinity;
  let last: DownloadProgress | null = null;
  let drawnWidth = 0;
  let completed = false;

  const draw = (p: DownloadProgress) => {
    const elapsedMs = now() - start;
    const rate = elapsedMs > 0 ? ((p.bytes - startBytes) * 1000) / elapsedMs : 0;
    const text = formatProgressLine(p, rate, 24, options.label);
    if (tty) {
      const line = text.slice(0, Math.max(20, (stream.columns ?? 120) - 1));
      stream.write(`\r${line}${' '.repeat(Math.max(0, drawnWidth - line.length))}`);
      drawnWidth = line.length;
    } else {
      stream.write(`${text}\n`);
    }
    lastDraw = now();
  };

  return {
    update(p) {
      if (last === null) {
        start = now();
        startBytes = p.bytes;
      }
      last = p;
      if (completed) return;
      completed = p.bytes >= p.total;
      if (completed || now() - lastDraw >= interval) draw(p);
    },
    finish() {
      if (last === null) return;
      if (!completed) draw(last);
      if (tty) stream.write('\n');
    },
  };
}
