/**
 * A live loss chart (data-testid="loss-chart"): one SVG, redrawn as steps arrive, with the report's line-chart code
 * (src/seal/svg-plots.ts) so the page and report.html draw losses the same way.
 */
import { colorAt, lineChart } from '../../../src/seal/svg-plots.ts';
import { el } from '../dom.ts';

export class LossChart {
  readonly element = el('div', { class: 'loss-chart' });
  private readonly points: [number, number][] = [];
  private pending = false;

  constructor(
    private readonly title: string,
    private readonly colorIndex: number,
    private readonly xLabel = 'step',
  ) {
    this.draw();
  }

  /** Adds a point; redraws at most every 100 ms (a timer, not requestAnimationFrame, which stops in background tabs). */
  add(step: number, loss: number): void {
    this.points.push([step, loss]);
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.draw();
    }, 100);
  }

  get length(): number {
    return this.points.length;
  }

  private draw(): void {
    this.element.innerHTML = lineChart({
      title: this.title,
      series: [{ name: this.title, points: this.points, color: colorAt(this.colorIndex), markers: this.points.length <= 60 }],
      xLabel: this.xLabel,
      yLabel: 'loss',
      width: 340,
      height: 200,
      xIntegers: true,
      // Losses that barely move still get distinct ticks.
      yFormat: (y) => String(Number(y.toPrecision(4))),
      emptyText: 'waiting for the first step',
    });
    this.element.querySelector('svg')?.setAttribute('data-testid', 'loss-chart');
  }
}
