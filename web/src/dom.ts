/** Tiny DOM helpers: the pages build their markup with these, no framework. */

type Child = Node | string | null | undefined | false;

/** `h('a', { href: '#/' }, 'Fleet')`: an element with attributes and children (text is escaped by the DOM). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | EventListener | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** "3 s ago", "5 min ago", … */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmt(v: number | null, unit?: string | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  const n = Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4);
  return unit ? `${n} ${unit}` : n;
}

/** "1 h 12 min", "45 s" */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** A presence pill: the state, with its cause (and since when) beside it. */
export function presenceBadge(presence: string | undefined, cause?: string | null, since?: string | null): HTMLElement {
  const p = presence ?? 'unknown';
  return h(
    'span',
    { class: 'presence-cell', 'data-presence': p },
    h('span', { class: `presence ${p}` }, p),
    cause ? h('span', { class: 'muted cause' }, ` ${cause}`) : null,
    since ? h('span', { class: 'muted since', title: since }, ` · ${ago(Date.parse(since))}`) : null,
  );
}
