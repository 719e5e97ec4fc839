/** ARC grids as small SVG pictures in the ARC colours. */
import { arcColor } from '../arc-colors.ts';
import { el } from '../dom.ts';

const SVG = 'http://www.w3.org/2000/svg';

/** One grid; `label` is shown under it. An empty grid (no answer) is drawn as a dashed box. */
export function gridView(grid: readonly (readonly number[])[], label?: string, testid?: string): HTMLElement {
  const cols = grid.length > 0 ? Math.max(...grid.map((r) => r.length)) : 0;
  const rows = cols === 0 ? 0 : grid.length;
  const cell = Math.max(4, Math.min(20, Math.floor(160 / Math.max(rows, cols, 1))));
  const svg = document.createElementNS(SVG, 'svg');
  // An empty grid (no answer) still takes a small box.
  const w = rows === 0 ? cell * 2 : cols * cell;
  const h = rows === 0 ? cell * 2 : rows * cell;
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('class', rows === 0 ? 'arc-grid empty' : 'arc-grid');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', rows === 0 ? 'no grid' : `${rows}x${cols} grid`);
  for (const [y, row] of grid.entries()) {
    for (const [x, v] of row.entries()) {
      const r = document.createElementNS(SVG, 'rect');
      r.setAttribute('x', String(x * cell));
      r.setAttribute('y', String(y * cell));
      r.setAttribute('width', String(cell));
      r.setAttribute('height', String(cell));
      r.setAttribute('fill', arcColor(v));
      r.setAttribute('data-value', String(v));
      svg.appendChild(r);
    }
  }
  return el('figure', { class: 'grid-figure', 'data-testid': testid }, svg, label ? el('figcaption', {}, label) : null);
}

/** input -> output side by side. */
export function pairView(input: readonly (readonly number[])[], output: readonly (readonly number[])[] | null, caption: string): HTMLElement {
  return el(
    'div',
    { class: 'pair' },
    el('div', { class: 'pair-caption' }, caption),
    el(
      'div',
      { class: 'pair-grids' },
      gridView(input, 'input'),
      el('span', { class: 'arrow' }, '→'),
      output ? gridView(output, 'output') : el('span', { class: 'muted' }, '?'),
    ),
  );
}
