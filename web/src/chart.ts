/**
 * A uPlot time-series chart of one event type, and the range shared by the
 * charts of a page: dragging across one chart zooms all of them (and asks
 * the page to fetch the narrower range again at a finer bucket). Series come
 * bucketed from the series API; buckets with no data become null points, so
 * uPlot draws a gap instead of a line across missing data.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { withGaps } from './gaps.js';

export interface Range {
  from: number;
  to: number;
}

/** The charts of one page, zoomed together. */
export class ChartGroup {
  readonly charts = new Set<TimeChart>();
  private syncing = false;
  constructor(private readonly onZoom: (r: Range) => void) {}

  /** Sets every chart's x range (without calling onZoom). */
  setRange(r: Range): void {
    this.syncing = true;
    for (const c of this.charts) c.setRange(r);
    this.syncing = false;
  }

  zoomed(r: Range, from: TimeChart): void {
    if (this.syncing) return;
    this.syncing = true;
    for (const c of this.charts) if (c !== from) c.setRange(r);
    this.syncing = false;
    this.onZoom(r);
  }
}

export class TimeChart {
  readonly plot: uPlot;
  private xs: number[] = [];
  private ys: (number | null)[] = [];
  /** Live points arrived since the last back-fill. */
  private live = 0;

  constructor(
    readonly el: HTMLElement,
    readonly title: string,
    readonly unit: string | null,
    private readonly group: ChartGroup,
  ) {
    const width = Math.max(240, el.clientWidth || 600);
    this.plot = new uPlot(
      {
        title: unit ? `${title} (${unit})` : title,
        width,
        height: 220,
        cursor: { sync: { key: 'telehub-device' }, drag: { x: true, y: false, setScale: false } },
        scales: { x: { time: true } },
        series: [{}, { label: title, stroke: '#2563eb', width: 1.5, spanGaps: false, value: (_u, v) => (v === null ? '–' : `${v.toPrecision(4)}${unit ? ` ${unit}` : ''}`) }],
        axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((t) => `${t}${unit ? ` ${unit}` : ''}`) }],
        // uPlot would zoom only this chart on drag (setScale: false above); the setSelect hook zooms every chart.
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              this.setRange({ from, to });
              this.group.zoomed({ from, to }, this);
            },
          ],
        },
      },
      [[], []],
      el,
    );
    group.charts.add(this);
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(240, el.clientWidth), height: 220 })).observe(el);
  }

  /** Replaces the data with a back-fill from the series API. */
  setBuckets(times: number[], values: number[], bucketMs: number, range: Range): void {
    [this.xs, this.ys] = withGaps(times, values, bucketMs);
    this.live = 0;
    this.redraw(range);
  }

  /** Appends one live point (only this chart redraws). */
  push(timeMs: number, value: number, range: Range): void {
    const x = timeMs / 1000;
    // Out-of-order points go where they belong.
    let i = this.xs.length;
    while (i > 0 && this.xs[i - 1] > x) i--;
    this.xs.splice(i, 0, x);
    this.ys.splice(i, 0, value);
    this.live++;
    this.redraw(range);
  }

  setRange(r: Range): void {
    this.plot.setScale('x', { min: r.from / 1000, max: r.to / 1000 });
    this.el.dataset.from = String(Math.round(r.from));
    this.el.dataset.to = String(Math.round(r.to));
  }

  private redraw(range: Range): void {
    this.plot.setData([this.xs, this.ys], false);
    this.setRange(range);
    // For tests and curious users: what the chart holds.
    this.el.dataset.points = String(this.ys.filter((y) => y !== null).length);
    const last = this.ys.findLast((y) => y !== null);
    this.el.dataset.last = last === undefined || last === null ? '' : String(last);
    this.el.dataset.live = String(this.live);
    this.el.dataset.gaps = String(this.ys.filter((y) => y === null).length);
  }

  destroy(): void {
    this.group.charts.delete(this);
    this.plot.destroy();
  }
}

/** A small SVG sparkline of the last values (cheaper than a chart per fleet row). */
export function sparkline(values: number[], width = 120, height = 28): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'spark');
  if (values.length < 2) return svg;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * width).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`);
  const path = document.createElementNS(ns, 'polyline');
  path.setAttribute('points', pts.join(' '));
  svg.append(path);
  return svg;
}
