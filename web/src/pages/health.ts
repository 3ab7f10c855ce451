/**
 * Pipeline health from the server's own /metrics (Prometheus text, read in
 * the browser): intake rate, commit time (an ACK leaves right after its
 * commit, so this is the ACK latency telehub adds), in-flight events, dead
 * letters, store state, stream clients, alert deliveries waiting and
 * failed, and processor lag once the commit log's processors report it
 * (and GET /api/v1/processors when it exists).
 */
import { api, apiPaths } from '../api.js';
import { sparkline } from '../chart.js';
import { fmt, h } from '../dom.js';
import { parsePrometheus, quantile, total, type Sample } from '../prom.js';

const POLL_MS = 2000;
const HISTORY = 90;

export async function healthPage(main: HTMLElement): Promise<() => void> {
  const tiles = h('div', { class: 'tiles' });
  const lag = h('div', {});
  const procs = h('div', {});
  main.replaceChildren(h('section', {}, h('div', { class: 'bar' }, h('h1', {}, 'Pipeline'), h('a', { href: 'metrics', class: 'muted' }, '/metrics')), tiles, lag, procs));

  let prev: { at: number; received: number; stored: number } | undefined;
  const history: number[] = [];
  const tile = (key: string, label: string, value: string, extra?: Node) => h('div', { class: 'tile', 'data-metric': key }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), extra ?? null);

  const poll = async () => {
    const res = await fetch('metrics');
    const samples: Sample[] = parsePrometheus(await res.text());
    const now = performance.now();
    const received = total(samples, 'telehub_messages_received_total');
    const stored = total(samples.filter((s) => s.labels.status === undefined || s.labels.status === 'stored'), 'telehub_events_total');
    let rate: number | null = null;
    let storeRate: number | null = null;
    if (prev) {
      const dt = (now - prev.at) / 1000;
      rate = (received - prev.received) / dt;
      storeRate = (stored - prev.stored) / dt;
      history.push(rate);
      if (history.length > HISTORY) history.shift();
    }
    prev = { at: now, received, stored };
    const p50 = quantile(samples, 'telehub_commit_seconds', 0.5);
    const p99 = quantile(samples, 'telehub_commit_seconds', 0.99);
    const ms = (s: number | null) => (s === null ? '–' : `${(s * 1000).toFixed(1)} ms`);
    tiles.replaceChildren(
      tile('intake', 'Intake (messages/s)', rate === null ? '…' : fmt(rate), sparkline(history, 160, 32)),
      tile('stored', 'Stored (events/s)', storeRate === null ? '…' : fmt(storeRate)),
      tile('ack-latency', 'Commit → ACK p50 / p99', `${ms(p50)} / ${ms(p99)}`),
      tile('inflight', 'In flight', fmt(total(samples, 'telehub_inflight_events'))),
      tile('deadletters', 'Dead letters', fmt(total(samples, 'telehub_deadletters_total'))),
      tile('store', 'Store', total(samples, 'telehub_store_up') >= 1 ? 'up' : 'retrying writes'),
      tile('retries', 'Store write retries', fmt(total(samples, 'telehub_store_write_retries_total'))),
      tile('stream', 'Live stream clients', fmt(total(samples, 'telehub_stream_clients'))),
      ...(samples.some((x) => x.name === 'telehub_alert_outbox_pending')
        ? [tile('alert-outbox', 'Alerts waiting for delivery', fmt(total(samples, 'telehub_alert_outbox_pending'))), tile('alert-failed', 'Alert deliveries failed', fmt(total(samples.filter((x) => x.labels.result === 'failed'), 'telehub_alert_deliveries_total')))]
        : []),
    );
    // Processor lag: whatever the commit-log runner exports (telehub_processor_lag*, by processor).
    const lags = samples.filter((s) => /processor.*lag/.test(s.name));
    lag.replaceChildren(
      ...(lags.length
        ? [h('h2', {}, 'Processor lag'), h('table', {}, ...lags.map((s) => h('tr', {}, h('td', {}, s.labels.processor ?? s.labels.name ?? s.name), h('td', { class: 'num' }, fmt(s.value)), h('td', { class: 'muted' }, s.name))))]
        : []),
    );
    main.dataset.polls = String(Number(main.dataset.polls ?? 0) + 1);
  };

  await poll();
  if ((await apiPaths()).has('/api/v1/processors')) {
    const body = await api<{ processors?: Record<string, unknown>[] }>('api/v1/processors').catch(() => null);
    const rows = body?.processors ?? [];
    if (rows.length) {
      const cols = Object.keys(rows[0]);
      procs.replaceChildren(h('h2', {}, 'Processors'), h('table', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c))), ...rows.map((r) => h('tr', {}, ...cols.map((c) => h('td', {}, typeof r[c] === 'object' && r[c] !== null ? JSON.stringify(r[c]) : String(r[c])))))));
    }
  }
  const timer = setInterval(() => void poll().catch(() => undefined), POLL_MS);
  return () => clearInterval(timer);
}
