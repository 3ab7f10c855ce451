/**
 * The dashboard's entry: a hash router (#/, #/device/<id>, #/deadletters,
 * #/health, #/trips), the token prompt, and the error display. Each page is
 * a function that renders into <main> and returns its clean-up (closing its
 * stream and timers).
 */
import { api, apiPaths, setToken, token, Unauthorized } from './api.js';
import { h } from './dom.js';
import { deadLettersPage } from './pages/deadletters.js';
import { devicePage } from './pages/device.js';
import { fleetPage } from './pages/fleet.js';
import { healthPage } from './pages/health.js';
import './style.css';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const signout = document.getElementById('signout') as HTMLButtonElement;
let cleanup: () => void = () => {};
let generation = 0;

/** Asks for a token once; it is kept in this browser's localStorage. */
function askToken(message: string): void {
  const input = h('input', { type: 'password', name: 'token', placeholder: 'thk_…', autocomplete: 'off', required: true, 'aria-label': 'Token' });
  const form = h(
    'form',
    { class: 'login' },
    h('h1', {}, 'Sign in'),
    h('p', {}, message),
    h('p', { class: 'muted' }, 'telehub printed an admin token when it first started (also in admin-token in its data directory); `telehub tokens create --scope read` makes a read-only one.'),
    input,
    h('button', { type: 'submit' }, 'Open dashboard'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    void route();
  });
  main.replaceChildren(form);
  input.focus();
}

async function tripsPage(el: HTMLElement): Promise<() => void> {
  // Filled in by the trips work; until then a plain table of what the API answers.
  const body = await api<{ trips?: Record<string, unknown>[] }>('api/v1/trips');
  const rows = body.trips ?? [];
  const cols = rows.length ? Object.keys(rows[0]) : [];
  el.replaceChildren(h('section', {}, h('h1', {}, 'Trips'), rows.length ? h('div', { class: 'scroll' }, h('table', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c))), ...rows.map((r) => h('tr', {}, ...cols.map((c) => h('td', {}, typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c]))))))) : h('p', { class: 'empty' }, 'No trips yet.')));
  return () => {};
}

async function route(): Promise<void> {
  const my = ++generation;
  cleanup();
  cleanup = () => {};
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, arg] = hash.split('/');
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === (page || 'fleet'));
  signout.hidden = token() === null;
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  main.removeAttribute('data-ready');
  try {
    let done: () => void;
    if (page === 'device' && arg) done = await devicePage(main, decodeURIComponent(arg));
    else if (page === 'deadletters') done = await deadLettersPage(main);
    else if (page === 'health') done = await healthPage(main);
    else if (page === 'trips') done = await tripsPage(main);
    else done = await fleetPage(main);
    if (my !== generation) return done();
    cleanup = done;
    main.dataset.ready = page || 'fleet';
  } catch (err) {
    if (my !== generation) return;
    if (err instanceof Unauthorized) {
      const had = token() !== null;
      setToken(null);
      askToken(had ? 'That token was refused (revoked or mistyped). Enter another.' : 'This telehub needs a token to show its data.');
    } else {
      main.replaceChildren(h('p', { class: 'error' }, `Could not load this page: ${(err as Error).message}`));
    }
  }
}

signout.addEventListener('click', () => {
  setToken(null);
  void route();
});
window.addEventListener('hashchange', () => void route());
// Panels for APIs that arrive later (trips, …) show up when the server has them.
void apiPaths().then((paths) => {
  if (paths.has('/api/v1/trips')) nav.insertBefore(h('a', { href: '#/trips', 'data-page': 'trips' }, 'Trips'), nav.children[1]);
});
void route();
