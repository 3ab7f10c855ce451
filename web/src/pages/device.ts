/**
 * Device page: one uPlot chart per numeric event type of the device,
 * back-filled from the series API for the chosen range, then fed live from
 * the stream. Dragging across a chart zooms every chart to that range and
 * fetches it again at a finer bucket. Beside the charts: the device's
 * status from the registry (presence with its cause, last seen, RSSI,
 * uptime, firmware), its commands (send one, watch it go queued → sent →
 * delivered → succeeded), and its alert states, each read again every few
 * seconds, and shown only where the server has the API.
 */
import { api, apiPaths, eventTime, every, OPEN_COMMAND_STATES, query, stream, type AlertState, type CommandRow, type DeviceRow, type EventRow, type SeriesAnswer } from '../api.js';
import { ChartGroup, TimeChart, type Range } from '../chart.js';
import { ago, duration, fmt, h, presenceBadge } from '../dom.js';

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
  const panels = h('div', { class: 'panels' });
  main.replaceChildren(
    h('section', {}, h('div', { class: 'bar' }, h('h1', {}, deviceId), picker, reset, rangeText), status, grid, panels),
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
  const stops: (() => void)[] = [];
  if (paths.has('/api/v1/devices/{id}')) {
    const info = h('div', { class: 'info' });
    status.prepend(info);
    const showInfo = async () => {
      const d = await api<DeviceRow>(`api/v1/devices/${encodeURIComponent(deviceId)}`).catch((err: Error) => (err.message.startsWith('404') ? null : Promise.reject(err)));
      if (d === null) return void info.replaceChildren(h('p', { class: 'muted' }, 'Not in the device registry yet.'));
      info.replaceChildren(statusList(d));
    };
    await showInfo();
    stops.push(every(3000, showInfo));
  }
  if (paths.has('/api/v1/devices/{id}/commands')) stops.push(await commandsPanel(panels, deviceId));
  if (paths.has('/api/v1/alerts')) stops.push(await alertsPanel(panels, deviceId));

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
    for (const s of stops) s();
    for (const c of charts.values()) c.destroy();
  };
}

/** The registry's view of the device: presence and cause, last seen, RSSI, uptime, firmware, interval. */
function statusList(d: DeviceRow): HTMLElement {
  const item = (key: string, label: string, value: Node | string) => [h('dt', {}, label), h('dd', { 'data-field': key }, value)];
  const t = (iso: string | null | undefined) => (iso ? h('span', { title: iso }, ago(Date.parse(iso))) : '–');
  return h(
    'dl',
    { class: 'device-status' },
    ...item('presence', 'Presence', presenceBadge(d.presence, d.presence_cause, d.presence_since)),
    ...item('last_seen', 'Last seen', t(d.last_seen)),
    ...item('last_data_at', 'Last data', t(d.last_data_at)),
    ...item('wifi_rssi', 'RSSI', d.wifi_rssi === null || d.wifi_rssi === undefined ? '–' : `${d.wifi_rssi} dBm`),
    ...item('uptime_s', 'Uptime', d.uptime_s === null || d.uptime_s === undefined ? '–' : duration(d.uptime_s)),
    ...item('firmware', 'Firmware', d.firmware ?? '–'),
    ...item('interval', 'Interval', d.interval_ms === undefined ? '–' : `${duration(d.interval_ms / 1000)} (${d.interval_source})`),
    ...item('events', 'Events', String(d.events)),
  );
}

const COMMAND_STEPS = ['queued', 'sent', 'delivered', 'succeeded'] as const;

/** A command's lifecycle as steps: queued → sent → delivered → succeeded (or where it ended otherwise). */
function lifecycle(c: CommandRow): HTMLElement {
  const reached = (step: string) => (step === 'queued' ? true : step === 'sent' ? c.sent_at !== null : step === 'delivered' ? c.delivered_at !== null : c.state === 'succeeded');
  const ended = !OPEN_COMMAND_STATES.has(c.state) && c.state !== 'succeeded';
  return h(
    'span',
    { class: 'lifecycle' },
    ...COMMAND_STEPS.filter((s) => !(ended && s === 'succeeded')).map((s) => h('span', { class: `step${reached(s) ? ' done' : ''}` }, s)),
    ended ? h('span', { class: `step end ${c.state}` }, c.state + (c.cause ? ` (${c.cause})` : '')) : null,
  );
}

/** Send a command (admin token) and watch its lifecycle; polled faster while one is open. */
async function commandsPanel(panels: HTMLElement, deviceId: string): Promise<() => void> {
  const base = `api/v1/devices/${encodeURIComponent(deviceId)}/commands`;
  const name = h('input', { name: 'command', placeholder: 'command, e.g. ping', required: true, 'aria-label': 'Command', list: 'known-commands', autocomplete: 'off' });
  const params = h('input', { name: 'params', placeholder: 'params (JSON), e.g. {"seconds": 30}', 'aria-label': 'Parameters (JSON)', autocomplete: 'off' });
  const ttl = h('input', { name: 'ttl_s', type: 'number', min: 1, placeholder: 'TTL s', 'aria-label': 'Time to live (seconds)' });
  const send = h('button', { type: 'submit' }, 'Send');
  const note = h('span', { class: 'muted note' });
  const form = h('form', { class: 'command-form' }, name, params, ttl, send, note, h('datalist', { id: 'known-commands' }, ...['ping', 'set_interval', 'reboot'].map((c) => h('option', { value: c }))));
  const list = h('tbody');
  panels.append(
    h('section', { class: 'panel commands' }, h('h2', {}, 'Commands'), form, h('div', { class: 'scroll' }, h('table', { class: 'commands' }, h('thead', {}, h('tr', {}, h('th', {}, 'Command'), h('th', {}, 'State'), h('th', {}, 'Lifecycle'), h('th', {}, 'Queued'), h('th', { class: 'num' }, 'Attempts'), h('th', {}, 'Result'))), list))),
  );
  let open = false;
  const show = async () => {
    const { commands } = await api<{ commands: CommandRow[] }>(`${base}?limit=20`);
    open = commands.some((c) => OPEN_COMMAND_STATES.has(c.state));
    list.replaceChildren(
      ...(commands.length
        ? commands.map((c) =>
            h(
              'tr',
              { 'data-command': c.command_id, 'data-state': c.state },
              h('td', { 'data-label': 'Command' }, h('code', {}, c.command), c.params && Object.keys(c.params).length ? h('span', { class: 'muted' }, ` ${JSON.stringify(c.params)}`) : null),
              h('td', { 'data-label': 'State', class: `state ${c.state}` }, c.state),
              h('td', { 'data-label': 'Lifecycle' }, lifecycle(c)),
              h('td', { 'data-label': 'Queued', title: c.queued_at }, new Date(c.queued_at).toLocaleTimeString()),
              h('td', { 'data-label': 'Attempts', class: 'num' }, String(c.attempts)),
              h('td', { 'data-label': 'Result' }, c.result === null || c.result === undefined ? '' : h('code', {}, JSON.stringify(c.result))),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No commands sent to this device yet.'))]),
    );
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void (async () => {
      let p: unknown = {};
      try {
        p = params.value.trim() ? JSON.parse(params.value) : {};
      } catch {
        note.textContent = 'params must be a JSON object';
        return;
      }
      send.disabled = true;
      try {
        const c = await api<CommandRow>(base, { command: name.value.trim(), params: p, ...(ttl.value ? { ttl_s: Number(ttl.value) } : {}) });
        note.textContent = `queued as ${c.command_id}`;
        await show();
      } catch (err) {
        note.textContent = (err as Error).message;
      } finally {
        send.disabled = false;
      }
    })();
  });
  await show();
  // Every 500 ms while a command is open (its states follow each other quickly), else every 5 s.
  let last = 0;
  return every(500, async () => {
    if (!open && Date.now() - last < 5000) return;
    last = Date.now();
    await show();
  });
}

/** The device's alert states (one per rule that has seen it). */
async function alertsPanel(panels: HTMLElement, deviceId: string): Promise<() => void> {
  const body = h('div', {});
  panels.append(h('section', { class: 'panel alerts' }, h('h2', {}, h('a', { href: '#/alerts' }, 'Alerts')), body));
  const show = async () => {
    const { alerts } = await api<{ alerts: AlertState[] }>(`api/v1/alerts?${query({ device: deviceId })}`);
    body.replaceChildren(
      alerts.length
        ? h('ul', { class: 'alert-states' }, ...alerts.map((a) => h('li', { 'data-rule': a.rule, 'data-state': a.state }, h('span', { class: `alert-state ${a.state}` }, a.state), ` ${a.rule}`, h('span', { class: 'muted' }, ` ${a.value !== null ? fmt(a.value) : (a.value_text ?? '')} · since ${a.since ? ago(Date.parse(a.since)) : ago(Date.parse(a.changed_at))}`))))
        : h('p', { class: 'muted' }, 'No alert rule has seen this device.'),
    );
  };
  await show();
  return every(3000, show);
}
