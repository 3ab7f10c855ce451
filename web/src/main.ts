/**
 * The dashboard's entry: a hash router (#/, #/device/<id>, #/trips,
 * #/trips/<id>, #/alerts, #/deadletters, #/health), the token prompt, and
 * the error display. Each page is
 * a function that renders into <main> and returns its clean-up (closing its
 * stream and timers).
 */
import { apiPaths, setToken, token, Unauthorized } from './api.js';
import { h } from './dom.js';
import { alertsPage } from './pages/alerts.js';
import { deadLettersPage } from './pages/deadletters.js';
import { devicePage } from './pages/device.js';
import { fleetPage } from './pages/fleet.js';
import { healthPage } from './pages/health.js';
import { tripsPage } from './pages/trips.js';
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

async function route(): Promise<void> {
  const my = ++generation;
  cleanup();
  cleanup = () => {};
  const hash = location.hash.replace(/^#\/?/, '').split('?')[0];
  const [page, arg] = hash.split('/');
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === (page || 'fleet'));
  signout.hidden = token() === null;
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  main.removeAttribute('data-ready');
  delete main.dataset.polls;
  try {
    let done: () => void;
    if (page === 'device' && arg) done = await devicePage(main, decodeURIComponent(arg));
    else if (page === 'deadletters') done = await deadLettersPage(main);
    else if (page === 'health') done = await healthPage(main);
    else if (page === 'trips') done = await tripsPage(main, arg ? decodeURIComponent(arg) : undefined);
    else if (page === 'alerts') done = await alertsPage(main);
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
// Pages for APIs a server may not have (trips, alerts) are listed when it has them.
void apiPaths().then((paths) => {
  const deadLetters = nav.querySelector('[data-page="deadletters"]');
  if (paths.has('/api/v1/trips')) nav.insertBefore(h('a', { href: '#/trips', 'data-page': 'trips' }, 'Trips'), deadLetters);
  if (paths.has('/api/v1/alerts')) nav.insertBefore(h('a', { href: '#/alerts', 'data-page': 'alerts' }, 'Alerts'), deadLetters);
  const page = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] || 'fleet';
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page);
});
void route();
