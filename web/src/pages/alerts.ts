/**
 * Alerts (docs/alerts.md): the rules (config file and API), every (rule,
 * device) state (ok, pending, firing; firing first), filterable by state,
 * and the latest changes with their deliveries per target. Read again every
 * few seconds: a rule with `for` fires on the server's clock, not on an
 * event the stream would bring.
 */
import { api, every, type AlertChange, type AlertRule, type AlertState } from '../api.js';
import { ago, fmt, h } from '../dom.js';

const POLL_MS = 3000;
const ORDER = { firing: 0, pending: 1, ok: 2 } as const;

function condition(r: AlertRule): string {
  if (r.presence) return `presence ${r.presence.join(' or ')}`;
  const c = r.above !== undefined ? `${r.event_type} > ${r.above}` : `${r.event_type} < ${r.below}`;
  return r.clear !== undefined ? `${c} (clears ${r.above !== undefined ? '<' : '>'} ${r.clear})` : c;
}

export async function alertsPage(main: HTMLElement): Promise<() => void> {
  const filter = h('select', { 'aria-label': 'State', id: 'alert-filter' }, h('option', { value: '' }, 'All states'), ...['firing', 'pending', 'ok'].map((s) => h('option', { value: s }, s)));
  const summary = h('span', { class: 'muted' });
  const rulesBox = h('div', {});
  const statesBox = h('div', {});
  const historyBox = h('div', {});
  main.replaceChildren(
    h('section', {}, h('div', { class: 'bar' }, h('h1', {}, 'Alerts'), filter, summary), h('h2', {}, 'States'), statesBox, h('h2', {}, 'Rules'), rulesBox, h('h2', {}, 'Latest changes'), historyBox),
  );

  let states: AlertState[] = [];
  const showStates = () => {
    const shown = states.filter((s) => !filter.value || s.state === filter.value).sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.rule.localeCompare(b.rule) || a.device_id.localeCompare(b.device_id));
    const firing = states.filter((s) => s.state === 'firing').length;
    summary.textContent = `${firing} firing, ${states.filter((s) => s.state === 'pending').length} pending, ${states.length} in all`;
    statesBox.replaceChildren(
      shown.length
        ? h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'alert-table fleet' },
              h('thead', {}, h('tr', {}, h('th', {}, 'State'), h('th', {}, 'Rule'), h('th', {}, 'Device'), h('th', { class: 'num' }, 'Value'), h('th', {}, 'Since'), h('th', {}, 'Last reading'))),
              h(
                'tbody',
                {},
                ...shown.map((s) =>
                  h(
                    'tr',
                    { 'data-rule': s.rule, 'data-device': s.device_id, 'data-state': s.state },
                    h('td', { 'data-label': 'State' }, h('span', { class: `alert-state ${s.state}` }, s.state)),
                    h('td', { 'data-label': 'Rule' }, s.rule),
                    h('td', { 'data-label': 'Device' }, h('a', { href: `#/device/${encodeURIComponent(s.device_id)}` }, s.device_id)),
                    h('td', { 'data-label': 'Value', class: 'num' }, s.value !== null ? fmt(s.value) : (s.value_text ?? '–')),
                    h('td', { 'data-label': 'Since', title: s.since ?? s.changed_at }, s.state === 'ok' ? ago(Date.parse(s.changed_at)) : s.since ? ago(Date.parse(s.since)) : '–'),
                    h('td', { 'data-label': 'Last reading', title: s.last_time }, ago(Date.parse(s.last_time))),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'empty' }, states.length ? 'None in this state.' : 'No rule has seen a device yet.'),
    );
  };
  filter.addEventListener('change', showStates);

  const load = async () => {
    const [s, r, e] = await Promise.all([
      api<{ alerts: AlertState[] }>('api/v1/alerts'),
      api<{ rules: AlertRule[] }>('api/v1/alerts/rules'),
      api<{ events: AlertChange[] }>('api/v1/alerts/events?limit=50'),
    ]);
    states = s.alerts;
    showStates();
    rulesBox.replaceChildren(
      r.rules.length
        ? h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'rules fleet' },
              h('thead', {}, h('tr', {}, h('th', {}, 'Rule'), h('th', {}, 'Devices'), h('th', {}, 'Condition'), h('th', {}, 'For'), h('th', {}, 'Notify'), h('th', {}, 'From'))),
              h(
                'tbody',
                {},
                ...r.rules.map((rule) =>
                  h(
                    'tr',
                    { 'data-rule': rule.name },
                    h('td', { 'data-label': 'Rule' }, h('b', {}, rule.name)),
                    h('td', { 'data-label': 'Devices' }, h('code', {}, rule.devices)),
                    h('td', { 'data-label': 'Condition' }, condition(rule)),
                    h('td', { 'data-label': 'For' }, rule.for),
                    h('td', { 'data-label': 'Notify' }, rule.notify?.join(', ') ?? 'all'),
                    h('td', { 'data-label': 'From' }, rule.origin === 'config' ? 'config file' : 'API'),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'empty' }, 'No rules. Add them in the config file (alerts.rules) or with POST /api/v1/alerts/rules.'),
    );
    historyBox.replaceChildren(
      e.events.length
        ? h(
            'ul',
            { class: 'alert-history' },
            ...e.events.map((c) =>
              h(
                'li',
                { 'data-rule': c.rule, 'data-device': c.device_id, 'data-state': c.state },
                h('span', { class: `alert-state ${c.state}` }, c.state),
                ` ${c.rule} on `,
                h('a', { href: `#/device/${encodeURIComponent(c.device_id)}` }, c.device_id),
                h('span', { class: 'muted' }, ` ${c.value !== null ? fmt(c.value) : (c.value_text ?? '')} at ${new Date(c.at).toLocaleString()} `),
                ...c.deliveries.map((d) =>
                  h('span', { class: `delivery ${d.delivered_at ? 'delivered' : 'waiting'}`, title: d.last_error ?? (d.delivered_at ? `delivered ${d.delivered_at}` : 'not delivered yet') }, `${d.target}${d.delivered_at ? ' ✓' : ` ✗${d.attempts ? ` ×${d.attempts}` : ''}`}`),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No changes yet.'),
    );
    main.dataset.polls = String(Number(main.dataset.polls ?? 0) + 1);
  };
  await load();
  return every(POLL_MS, load);
}
