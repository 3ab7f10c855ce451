/**
 * Dead letters grouped by reason code, each with its raw payload; replay one,
 * or all of a reason (POST /api/v1/deadletters/replay, admin scope). The
 * original dead letter is kept for the record; the result of each replay
 * (stored, duplicate, rejected again, …) is shown beside it.
 */
import { api } from '../api.js';
import { h } from '../dom.js';

interface DeadLetter {
  id: number;
  reason: string;
  message: string;
  topic: string;
  device_id: string | null;
  source: string;
  payload: string;
  payload_encoding: string;
  received_at: string;
}
interface ReplayResult {
  id: number;
  status: string;
  event_id?: string;
  reason?: string;
  message?: string;
}

const PAGES = 5;

export async function deadLettersPage(main: HTMLElement): Promise<() => void> {
  const all: DeadLetter[] = [];
  let cursor: string | null = null;
  // Oldest first, a page at a time; a very long list shows its first PAGES × 1000.
  for (let i = 0; i < PAGES; i++) {
    const page: { deadletters: DeadLetter[]; next_cursor: string | null } = await api(`api/v1/deadletters?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...page.deadletters);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  const groups = new Map<string, DeadLetter[]>();
  for (const d of all) groups.set(d.reason, [...(groups.get(d.reason) ?? []), d]);

  const resultOf = new Map<number, HTMLElement>();
  const show = (results: ReplayResult[]) => {
    for (const r of results) {
      const el = resultOf.get(r.id);
      if (el) {
        el.textContent = `${r.status}${r.event_id ? ` ${r.event_id}` : ''}${r.reason ? ` (${r.reason})` : ''}`;
        el.className = `result ${r.status}`;
      }
    }
  };
  const replay = async (body: unknown, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      show((await api<{ results: ReplayResult[] }>('api/v1/deadletters/replay', body)).results);
    } catch (err) {
      button.after(h('span', { class: 'result rejected' }, (err as Error).message));
    } finally {
      button.disabled = false;
    }
  };

  const sections = [...groups.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([reason, dls]) => {
      const all = h('button', {}, `Replay all ${dls.length}`);
      all.addEventListener('click', () => void replay({ reason, limit: Math.min(1000, dls.length) }, all));
      return h(
        'details',
        { class: 'reason', 'data-reason': reason, open: groups.size <= 3 },
        h('summary', {}, h('code', {}, reason), ` — ${dls.length} `, h('span', { class: 'muted' }, dls[0].message)),
        h('div', { class: 'bar' }, all),
        ...dls
          .slice(-200)
          .reverse()
          .map((d) => {
            const one = h('button', { 'data-id': d.id }, 'Replay');
            one.addEventListener('click', () => void replay({ ids: [d.id] }, one));
            const result = h('span', { class: 'result' });
            resultOf.set(d.id, result);
            return h(
              'article',
              { class: 'dl', 'data-id': d.id },
              h('div', { class: 'meta' }, h('span', {}, `#${d.id}`), h('span', {}, new Date(d.received_at).toLocaleString()), h('span', {}, d.device_id ?? '—'), h('code', {}, d.topic), h('span', { class: 'muted' }, d.source), one, result),
              h('p', {}, d.message),
              h('pre', { class: 'payload' }, d.payload_encoding === 'base64' ? `(base64) ${d.payload}` : d.payload),
            );
          }),
      );
    });
  main.replaceChildren(h('section', {}, h('div', { class: 'bar' }, h('h1', {}, 'Dead letters'), h('span', { class: 'muted' }, `${all.length} kept`)), ...(sections.length ? sections : [h('p', { class: 'empty' }, 'No dead letters. Everything received was stored.')])));
  return () => {};
}
