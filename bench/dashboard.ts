/**
 * Dashboard chart drawing in the browser (`npm run bench:dashboard`): how long
 * uPlot (the chart library of the dashboard's device page) takes to draw a
 * 100,000-point series in this machine's Chromium (driven by playwright-core,
 * never a downloaded browser), next to a baseline measured in the same page:
 * the same points drawn as one naive Canvas 2D polyline (what a hand-written
 * chart does, with no decimation).
 *
 * For each of BENCH_DASH_RUNS (7) runs, in a fresh chart each time:
 * - uplot first: `new uPlot(...)` until its first draw is committed;
 * - uplot redraw: a full redraw with paths and axes rebuilt (what a live
 *   update of that series costs);
 * - canvas baseline: clearRect + one path through every point + stroke.
 * Prints median and worst per measure and writes bench/results/dashboard.json.
 * Figures are reported, never asserted (test/browser/dashboard.test.ts prints
 * one run of the same measure).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.TELEHUB_TEST_CHROMIUM ?? '/usr/bin/chromium';
const POINTS = Number(process.env.BENCH_DASH_POINTS ?? 100_000);
const RUNS = Number(process.env.BENCH_DASH_RUNS ?? 7);

interface Run {
  uplotFirstMs: number;
  uplotRedrawMs: number;
  canvasMs: number;
}

function stats(xs: number[]): { median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set TELEHUB_TEST_CHROMIUM)\n`);
    process.exit(69);
  }
  const profile = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 800 },
  });
  try {
    const page = await context.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: readFileSync(path.join(repoRoot, 'node_modules/uplot/dist/uPlot.iife.min.js'), 'utf8') });
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(
        await page.evaluate(async (n) => {
          const xs = new Float64Array(n);
          const ys = new Float64Array(n);
          const t0 = Date.now() / 1000 - n;
          for (let k = 0; k < n; k++) {
            xs[k] = t0 + k;
            ys[k] = Math.sin(k / 500) * 10 + Math.random();
          }
          type UPlot = { redraw(rebuildPaths?: boolean, recalcAxes?: boolean): void; destroy(): void };
          const U = (window as unknown as { uPlot: new (o: object, d: ArrayLike<number>[], el: HTMLElement) => UPlot }).uPlot;
          const el = document.createElement('div');
          document.body.append(el);
          const s0 = performance.now();
          const u = new U({ width: 1200, height: 300, series: [{}, { stroke: 'blue' }] }, [xs as unknown as number[], ys as unknown as number[]], el);
          await Promise.resolve(); // uPlot commits its draw in a microtask
          const uplotFirstMs = performance.now() - s0;
          const r0 = performance.now();
          u.redraw(true, true);
          await Promise.resolve();
          const uplotRedrawMs = performance.now() - r0;
          u.destroy();
          el.remove();

          // Baseline: every point into one Canvas 2D path, same size.
          const canvas = document.createElement('canvas');
          canvas.width = 1200;
          canvas.height = 300;
          document.body.append(canvas);
          const ctx = canvas.getContext('2d')!;
          let lo = Infinity;
          let hi = -Infinity;
          for (let k = 0; k < n; k++) {
            if (ys[k] < lo) lo = ys[k];
            if (ys[k] > hi) hi = ys[k];
          }
          const c0 = performance.now();
          ctx.clearRect(0, 0, 1200, 300);
          ctx.beginPath();
          const sx = 1200 / (xs[n - 1] - xs[0]);
          const sy = 300 / (hi - lo || 1);
          for (let k = 0; k < n; k++) {
            const x = (xs[k] - xs[0]) * sx;
            const y = 300 - (ys[k] - lo) * sy;
            if (k === 0) ctx.moveTo(x, y);
            else ctx.lineTo(x, y);
          }
          ctx.strokeStyle = 'blue';
          ctx.stroke();
          ctx.getImageData(0, 0, 1, 1); // forces the draw to complete before timing stops
          const canvasMs = performance.now() - c0;
          canvas.remove();
          return { uplotFirstMs, uplotRedrawMs, canvasMs };
        }, POINTS),
      );
    }
    const report = {
      at: new Date().toISOString(),
      chromium: context.browser()?.version() ?? 'unknown',
      points: POINTS,
      runs: RUNS,
      uplotFirstMs: stats(runs.map((r) => r.uplotFirstMs)),
      uplotRedrawMs: stats(runs.map((r) => r.uplotRedrawMs)),
      canvasBaselineMs: stats(runs.map((r) => r.canvasMs)),
      raw: runs,
    };
    const f = (s: { median: number; max: number }) => `${s.median.toFixed(1).padStart(7)} ${s.max.toFixed(1).padStart(7)}`;
    process.stdout.write(`\nDashboard chart draw, ${POINTS.toLocaleString('en')} points, ${RUNS} runs in Chromium ${report.chromium}\n`);
    process.stdout.write(`${'measure'.padEnd(34)} median     max (ms)\n`);
    process.stdout.write(`${'uPlot first draw'.padEnd(34)}${f(report.uplotFirstMs)}\n`);
    process.stdout.write(`${'uPlot full redraw'.padEnd(34)}${f(report.uplotRedrawMs)}\n`);
    process.stdout.write(`${'baseline: naive Canvas 2D polyline'.padEnd(34)}${f(report.canvasBaselineMs)}\n`);
    process.stdout.write(`uPlot first draw / baseline (medians): ${(report.uplotFirstMs.median / report.canvasBaselineMs.median).toFixed(2)}\n`);
    const out = path.join(repoRoot, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'dashboard.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`Report: bench/results/dashboard.json\n`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
