/** The HTTP ingest bench's table. */
import type { HttpSuiteReport } from '../http.js';

export function formatHttpTable(report: HttpSuiteReport): string {
  const head = ['store', 'workload', 'requests', 'events', 'req/s', 'events/s', 'target', 'p50 ms', 'p95 ms', 'p99 ms', 'non-2xx', 'RSS MB', 'telehub CPU µs/ev', 'gen CPU s'];
  const rows = report.results.map((r) => {
    const name = [r.store, `${r.workload}${r.perRequest > 1 ? ` ×${r.perRequest}` : ''}${r.status === 'failed' ? ' [FAILED]' : r.status === 'skipped' ? ' [skipped]' : ''}`];
    if (r.requests === undefined) return [...name, ...Array(head.length - 2).fill('-')];
    const t = r.target;
    const target = t ? `${t.met === null ? 'n/a ' : t.met ? '' : 'MISSED '}≥ ${t.min.toLocaleString('en-US')}${t.metric === 'requestsPerSecond' ? ' req/s' : ''}` : '-';
    return [
      ...name,
      r.requests.toLocaleString('en-US'),
      `${r.events!.toLocaleString('en-US')}${r.unit === 'lines' ? ' lines' : ''}`,
      r.requestsPerSecond!.toLocaleString('en-US'),
      r.eventsPerSecond!.toLocaleString('en-US'),
      target,
      String(r.latencyMs!.p50),
      String(r.latencyMs!.p95),
      String(r.latencyMs!.p99),
      String(r.non2xx),
      r.peakRssMB?.toFixed(1) ?? '-',
      r.telehubCpuUsPerEvent?.toFixed(1) ?? '-',
      r.cpuSeconds?.generator.toFixed(2) ?? '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((x, i) => (i >= 2 && i !== 6 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join(' | ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  for (const r of report.results) if (r.status === 'skipped') out.push(`  ${r.label}: skipped: ${r.reason}`);
  return out.join('\n');
}
