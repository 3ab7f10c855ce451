/**
 * Fleet overview: every device with presence (and its cause), last seen,
 * event count, its last values and a sparkline, filtered by a search box and
 * by presence; values update live from the stream, presence and counts from
 * GET /api/v1/devices every few seconds (a device going silent sends
 * nothing to stream).
 */
import { api, apiPaths, every, eventTime, query, stream, type DeviceRow, type EventRow } from '../api.js';
import { sparkline } from '../chart.js';
import { ago, fmt, h, presenceBadge } from '../dom.js';

interface DeviceState {
  row: DeviceRow;
  /** Last value per event type. */
  last: Map<string, EventRow>;
  /** Recent numeric values of the first numeric type seen, for the sparkline. */
  spark: number[];
  sparkType?: string;
  tr?: HTMLTableRowElement;
}

const RECENT_MS = 60 * 60 * 1000;
const SPARK_POINTS = 60;
const DEVICES_POLL_MS = 3000;
const PRESENCE_STATES = ['online', 'silent', 'offline', 'unknown'];

export async function fleetPage(main: HTMLElement): Promise<() => void> {
  const [{ devices }, recent] = await Promise.all([
    api<{ devices: DeviceRow[] }>('api/v1/devices'),
    api<{ events: EventRow[] }>(`api/v1/events?${query({ from: Date.now() - RECENT_MS, limit: 10000 })}`),
  ]);
  const state = new Map<string, DeviceState>();
  for (const row of devices) state.set(row.device_id, { row, last: new Map(), spark: [] });
  const apply = (e: EventRow) => {
    let s = state.get(e.device_id);
    if (!s) {
      s = { row: { device_id: e.device_id, first_seen: e.ts_server, last_seen: e.ts_server, events: 0 }, last: new Map(), spark: [] };
      state.set(e.device_id, s);
    }
    s.last.set(e.event_type, e);
    if (e.value_num !== null) {
      s.sparkType ??= e.event_type;
      if (s.sparkType === e.event_type) {
        s.spark.push(e.value_num);
        if (s.spark.length > SPARK_POINTS) s.spark.shift();
      }
    }
    return s;
  };
  for (const e of recent.events) apply(e);

  // The registry's server answers presence for every device (unknown until it is decided).
  const presence = devices.some((d) => d.presence !== undefined) || (await apiPaths()).has('/api/v1/devices/{id}');
  const search = h('input', { type: 'search', placeholder: 'Filter devices, types…', 'aria-label': 'Filter devices' });
  const presenceFilter = h('select', { 'aria-label': 'Presence', id: 'presence-filter' }, h('option', { value: '' }, 'Any presence'), ...PRESENCE_STATES.map((p) => h('option', { value: p }, p)));
  const tbody = h('tbody');
  const count = h('span', { class: 'muted' });
  const table = h(
    'table',
    { class: 'fleet' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Device'), presence ? h('th', {}, 'Presence') : null, h('th', {}, 'Last seen'), h('th', { class: 'num' }, 'Events'), h('th', {}, 'Last values'), h('th', {}, 'Trend'))),
    tbody,
  );
  main.replaceChildren(h('section', {}, h('div', { class: 'bar' }, h('h1', {}, 'Fleet'), search, presence ? presenceFilter : null, count), state.size === 0 ? h('p', { class: 'empty' }, 'No device has sent an event yet.') : null, h('div', { class: 'scroll' }, table)));

  const render = (s: DeviceState) => {
    const values = [...s.last.values()].map((e) => h('span', { class: 'val', title: e.event_type }, `${e.event_type} `, h('b', {}, e.value_num !== null ? fmt(e.value_num, e.unit) : (e.value_text ?? '–'))));
    const tr = h(
      'tr',
      { 'data-device': s.row.device_id },
      h('td', { 'data-label': 'Device' }, h('a', { href: `#/device/${encodeURIComponent(s.row.device_id)}` }, s.row.device_id)),
      presence ? h('td', { 'data-label': 'Presence', class: 'presence-td' }, presenceBadge(s.row.presence, s.row.presence_cause, s.row.presence_since)) : null,
      h('td', { 'data-label': 'Last seen', title: s.row.last_seen }, ago(Date.parse(s.row.last_seen))),
      h('td', { 'data-label': 'Events', class: 'num events' }, String(s.row.events)),
      h('td', { 'data-label': 'Last values', class: 'values' }, ...values),
      h('td', { 'data-label': 'Trend' }, sparkline(s.spark)),
    );
    if (s.tr) s.tr.replaceWith(tr);
    s.tr = tr;
    return tr;
  };
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    const p = presenceFilter.value;
    let shown = 0;
    for (const s of state.values()) {
      const hit = (!q || s.row.device_id.toLowerCase().includes(q) || [...s.last.keys()].some((t) => t.toLowerCase().includes(q))) && (!p || (s.row.presence ?? 'unknown') === p);
      s.tr!.hidden = !hit;
      if (hit) shown++;
    }
    count.textContent = `${shown} of ${state.size} devices`;
  };
  const sorted = () => [...state.values()].sort((a, b) => a.row.device_id.localeCompare(b.row.device_id));
  tbody.replaceChildren(...sorted().map(render));
  filter();
  search.addEventListener('input', filter);
  presenceFilter.addEventListener('change', filter);

  const stop = stream({}, (e) => {
    const known = state.has(e.device_id);
    const s = apply(e);
    s.row.events++;
    if (eventTime(e) >= Date.parse(s.row.last_seen)) s.row.last_seen = e.ts_server;
    if (known) render(s);
    else tbody.replaceChildren(...sorted().map(render));
    filter();
  }, (p) => {
    // A presence transition: the row's presence changes, nothing else.
    const s = state.get(p.device_id);
    if (s === undefined) return;
    s.row.presence = p.presence;
    s.row.presence_cause = p.cause;
    render(s);
    filter();
  });
  // "last seen" ages while nothing arrives.
  const tick = setInterval(() => {
    for (const s of state.values()) {
      const cell = s.tr?.querySelector('td[data-label="Last seen"]');
      if (cell) cell.textContent = ago(Date.parse(s.row.last_seen));
    }
  }, 5000);
  // Presence, its cause and the registry's counts, read again every few seconds.
  const stopPoll = every(DEVICES_POLL_MS, async () => {
    const { devices: now } = await api<{ devices: DeviceRow[] }>('api/v1/devices');
    let added = false;
    for (const row of now) {
      const s = state.get(row.device_id);
      if (!s) {
        state.set(row.device_id, { row, last: new Map(), spark: [] });
        added = true;
        continue;
      }
      const changed = row.presence !== s.row.presence || row.presence_cause !== s.row.presence_cause || row.events > s.row.events || row.last_seen > s.row.last_seen;
      // Counts only grow: a stream event counted here may not be in an answer read just before its commit.
      s.row = { ...row, events: Math.max(row.events, s.row.events), last_seen: row.last_seen > s.row.last_seen ? row.last_seen : s.row.last_seen };
      if (changed) render(s);
    }
    if (added) tbody.replaceChildren(...sorted().map(render));
    filter();
    main.dataset.polls = String(Number(main.dataset.polls ?? 0) + 1);
  });
  return () => {
    stop();
    stopPoll();
    clearInterval(tick);
  };
}
