/**
 * Device page: one uPlot chart per numeric event type of the device,
 * back-filled from the series API for the chosen range, then fed live from
 * the stream. Dragging across a chart zooms every chart to that range and
 * fetches it again at a finer bucket. Status panels (presence, commands)
 * appear once the server has GET /api/v1/devices/{id}.
 */
import { api, apiPaths, eventTime, query, stream, type EventRow, type SeriesAnswer } from '../api.js';
import { ChartGroup, TimeChart, type Range } from '../chart.js';
import { fmt, h } from '../dom.js';

const RANGES: [string, number][] = [
  ['15 min', 15 * 60_000],
  ['1 h', 3_600_000],
  ['6 h', 6 * 3_600_000],
  ['24 h', 24 * 3_600_000],
  ['7 d', 7 * 24 * 3_600_000],
  ['30 d', 30 * 24 * 3_600_000],
];

export async function devicePage(main: HTMLElement, deviceId: string): Promise<() => void> {
  let span = 3_600_000;
  /** "Following now": the range's end moves with live data; false after a zoom. */
  let following = true;
  let range: Range = { from: Date.now() - span, to: Date.now() + 60_000 };
  const charts = new Map<string, TimeChart>();
  const units = new Map<string, string | null>();
  let fetchSeq = 0;

  const picker = h('select', { 'aria-label': 'Time range', id: 'range' }, ...RANGES.map(([label, ms]) => h('option', { value: ms, selected: ms === span }, label)));
  const rangeText = h('span', { class: 'muted', id: 'range-text' });
  const reset = h('button', { hidden: true }, 'Back to live');
  const grid = h('div', { class: 'charts' });
  const status = h('div', { class: 'status' });
  main.replaceChildren(
    h('section', {}, h('div', { class: 'bar' }, h('h1', {}, deviceId), picker, reset, rangeText), status, grid),
  );

  const showRange = () => {
    rangeText.textContent = `${new Date(range.from).toLocaleString()} – ${new Date(range.to).toLocaleString()}`;
    main.dataset.from = String(Math.round(range.from));
    main.dataset.to = String(Math.round(range.to));
  };
  const group = new ChartGroup((r) => {
    following = false;
    range = r;
    reset.hidden = false;
    showRange();
    void backfill();
  });

  const chartFor = (type: string): TimeChart => {
    let c = charts.get(type);
    if (!c) {
      const el = h('div', { class: 'chart', 'data-type': type });
      grid.append(el);
      c = new TimeChart(el, type, units.get(type) ?? null, group);
      charts.set(type, c);
    }
    return c;
  };

  /** Numeric event types of the device (and their units) seen in the range, newest events last. */
  const discoverTypes = async () => {
    const { events } = await api<{ events: EventRow[] }>(`api/v1/events?${query({ device: deviceId, from: Math.round(range.from), limit: 10000 })}`);
    for (const e of events) if (e.value_num !== null && !units.has(e.event_type)) units.set(e.event_type, e.unit);
  };

  const backfill = async () => {
    const seq = ++fetchSeq;
    const types = [...units.keys()].sort();
    const answers = await Promise.all(
      types.map((type) => api<SeriesAnswer>(`api/v1/series?${query({ device: deviceId, type, from: Math.round(range.from), to: Math.round(range.to) })}`)),
    );
    if (seq !== fetchSeq) return; // a newer range was asked for meanwhile
    types.forEach((type, i) => {
      const a = answers[i];
      const c = chartFor(type);
      c.el.dataset.bucket = String(a.bucket_seconds);
      if (a.tiers_used) c.el.dataset.tiers = a.tiers_used.join(',');
      c.setBuckets(a.buckets.map((b) => Date.parse(b.time)), a.buckets.map((b) => b.avg), a.bucket_seconds * 1000, range);
    });
    if (types.length === 0) grid.replaceChildren(h('p', { class: 'empty' }, 'No numeric events in this range.'));
  };

  const load = async () => {
    range = { from: Date.now() - span, to: Date.now() + 60_000 };
    following = true;
    reset.hidden = true;
    showRange();
    await discoverTypes();
    await backfill();
  };

  picker.addEventListener('change', () => {
    span = Number(picker.value);
    void load();
  });
  reset.addEventListener('click', () => void load());
  await load();

  const paths = await apiPaths();
  if (paths.has('/api/v1/devices/{id}')) {
    // The device registry (presence, RSSI, uptime, commands) fills this panel once it exists.
    const info = await api<Record<string, unknown>>(`api/v1/devices/${encodeURIComponent(deviceId)}`).catch(() => null);
    if (info) status.replaceChildren(h('dl', {}, ...Object.entries(info).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))])));
  }

  const stop = stream({ device: deviceId }, (e) => {
    if (e.value_num === null || e.device_id !== deviceId) return;
    const t = eventTime(e);
    if (following && t > range.to - 30_000) {
      range = { from: range.from, to: t + 60_000 };
      showRange();
    }
    if (!units.has(e.event_type)) {
      units.set(e.event_type, e.unit);
      grid.querySelector('.empty')?.remove();
    }
    chartFor(e.event_type).push(t, e.value_num, range);
    const last = status.querySelector('.live-last') ?? status.appendChild(h('p', { class: 'live-last muted' }));
    last.textContent = `Last: ${e.event_type} ${fmt(e.value_num, e.unit)} at ${new Date(t).toLocaleTimeString()}`;
  });
  return () => {
    stop();
    for (const c of charts.values()) c.destroy();
  };
}
