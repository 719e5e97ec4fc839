/** Escaping for HTML and SVG (XML) text and attribute values: every string that reaches the report goes through here. */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the control characters XML 1.0 forbids is the point
const XML_FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** Text or a quoted attribute value, safe in HTML and in XML (SVG). Control characters XML forbids are dropped. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(XML_FORBIDDEN, '')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A number for SVG coordinates: at most 2 decimals, no exponent, never NaN. */
export function coord(n: number): string {
  if (!Number.isFinite(n)) return '0';
  return String(Math.round(n * 100) / 100);
}

/** A number for people: 3 significant digits, exponent form for very small or large magnitudes. */
export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a >= 1e5 || a < 1e-3) return n.toExponential(2);
  return String(Number(n.toPrecision(3)));
}

/** 0.725 -> "72.5%"; null -> "–". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '–';
  return `${(Math.round(fraction * 1000) / 10).toFixed(1)}%`;
}
