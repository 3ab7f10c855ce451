/**
 * Trips (docs/trips.md): the list with each trip's summary, filtered by
 * vehicle, with the vehicle's current state (idle, driving, paused); and one
 * trip: its summary, its track drawn as SVG on a local projection (no map
 * tiles: none are reachable offline), and its speed profile (uPlot, from the
 * trip's speed events). Hovering the profile moves a marker along the track.
 */
import { api, query, type EventRow, type SeriesAnswer, type TripRow } from '../api.js';
import { ChartGroup, TimeChart, type Range } from '../chart.js';
import { duration, fmt, h } from '../dom.js';

const LIST_DAYS = 30;
const SVG = 'http://www.w3.org/2000/svg';

const km = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} km`;
const kmh = (v: number | null) => (v === null ? '–' : `${v.toFixed(0)} km/h`);

export async function tripsPage(main: HTMLElement, tripId?: string): Promise<() => void> {
  return tripId ? tripDetail(main, tripId) : tripList(main);
}

async function tripList(main: HTMLElement): Promise<() => void> {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const device = params.get('device') ?? '';
  const from = Date.now() - LIST_DAYS * 86_400_000;
  const [all, mine] = await Promise.all([
    api<{ trips: TripRow[] }>(`api/v1/trips?${query({ from, limit: 1000 })}`),
    device ? api<{ trips: TripRow[]; state?: { state: string; since: string | null; trip_id: string | null } }>(`api/v1/trips?${query({ device, from, limit: 1000 })}`) : undefined,
  ]);
  const vehicles = [...new Set(all.trips.map((t) => t.device_id))].sort();
  const trips = [...(mine ?? all).trips].sort((a, b) => b.start.localeCompare(a.start));
  const pick = h('select', { 'aria-label': 'Vehicle', id: 'vehicle' }, h('option', { value: '' }, 'All vehicles'), ...vehicles.map((v) => h('option', { value: v, selected: v === device }, v)));
  pick.addEventListener('change', () => {
    location.hash = pick.value ? `#/trips?device=${encodeURIComponent(pick.value)}` : '#/trips';
  });
  const totalKm = trips.reduce((a, t) => a + t.distance_km, 0);
  const state = mine?.state;
  main.replaceChildren(
    h(
      'section',
      {},
      h('div', { class: 'bar' }, h('h1', {}, 'Trips'), pick, h('span', { class: 'muted' }, `${trips.length} trips, ${km(totalKm)} in the last ${LIST_DAYS} days`)),
      state ? h('p', { class: 'vehicle-state', 'data-state': state.state }, `${device} is `, h('b', {}, state.state), state.since ? ` since ${new Date(state.since).toLocaleString()}` : '') : null,
      trips.length
        ? h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'trips fleet' },
              h('thead', {}, h('tr', {}, h('th', {}, 'Start'), h('th', {}, 'Vehicle'), h('th', { class: 'num' }, 'Distance'), h('th', { class: 'num' }, 'Duration'), h('th', { class: 'num' }, 'Moving'), h('th', { class: 'num' }, 'Avg'), h('th', { class: 'num' }, 'Max'), h('th', { class: 'num' }, 'Fuel'), h('th', {}, ''))),
              h(
                'tbody',
                {},
                ...trips.map((t) =>
                  h(
                    'tr',
                    { 'data-trip': t.id },
                    h('td', { 'data-label': 'Start' }, h('a', { href: `#/trips/${encodeURIComponent(t.id)}` }, new Date(t.start).toLocaleString())),
                    h('td', { 'data-label': 'Vehicle' }, t.device_id),
                    h('td', { 'data-label': 'Distance', class: 'num', title: `from ${t.distance_source}` }, km(t.distance_km)),
                    h('td', { 'data-label': 'Duration', class: 'num' }, duration(t.duration_s)),
                    h('td', { 'data-label': 'Moving', class: 'num' }, duration(t.moving_s)),
                    h('td', { 'data-label': 'Avg', class: 'num' }, kmh(t.avg_speed_kmh)),
                    h('td', { 'data-label': 'Max', class: 'num' }, kmh(t.max_speed_kmh)),
                    h('td', { 'data-label': 'Fuel', class: 'num' }, t.fuel_used_pct === null ? '–' : `${t.fuel_used_pct.toFixed(1)} %`),
                    h('td', { 'data-label': '' }, t.in_progress ? h('span', { class: 'presence online' }, 'in progress') : t.gaps.length ? h('span', { class: 'muted' }, `${t.gaps.length} gap${t.gaps.length > 1 ? 's' : ''}`) : ''),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'empty' }, 'No trips in this range. Trips are cut from cars\' speed and position (docs/trips.md).'),
    ),
  );
  return () => {};
}

interface TrackPoint {
  ts: string;
  lat: number;
  lon: number;
}

async function tripDetail(main: HTMLElement, id: string): Promise<() => void> {
  const { trip, track } = await api<{ trip: TripRow; track: TrackPoint[] }>(`api/v1/trips/${encodeURIComponent(id)}`);
  const from = Date.parse(trip.start);
  const to = Date.parse(trip.end) + 1;
  // The profile from the trip's own speed readings; a very long trip from the series API's buckets.
  const ev = await api<{ events: EventRow[]; next_cursor: string | null }>(`api/v1/events?${query({ device: trip.device_id, type: 'speed', from, to, limit: 10000 })}`);
  let times: number[];
  let speeds: number[];
  let stepMs: number;
  if (ev.next_cursor === null) {
    const pts = ev.events.filter((e) => e.value_num !== null).map((e) => [Date.parse(e.ts_device ?? e.ts_server), e.value_num!] as const).sort((a, b) => a[0] - b[0]);
    times = pts.map((p) => p[0]);
    speeds = pts.map((p) => p[1]);
    stepMs = 1000;
  } else {
    const s = await api<SeriesAnswer>(`api/v1/series?${query({ device: trip.device_id, type: 'speed', from, to })}`);
    times = s.buckets.map((b) => Date.parse(b.time));
    speeds = s.buckets.map((b) => b.avg);
    stepMs = s.bucket_seconds * 1000;
  }

  const fact = (label: string, value: string) => h('div', { class: 'tile' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
  const mapBox = h('div', { class: 'track-box' });
  const profile = h('div', { class: 'chart', 'data-type': 'speed' });
  main.replaceChildren(
    h(
      'section',
      {},
      h('div', { class: 'bar' }, h('a', { href: '#/trips' }, '← Trips'), h('h1', {}, `${trip.device_id}: ${new Date(trip.start).toLocaleString()}`), trip.in_progress ? h('span', { class: 'presence online' }, 'in progress') : null),
      h(
        'div',
        { class: 'tiles' },
        fact('Distance', `${km(trip.distance_km)} (${trip.distance_source})`),
        fact('Duration', duration(trip.duration_s)),
        fact('Moving', duration(trip.moving_s)),
        fact('Average / max', `${kmh(trip.avg_speed_kmh)} / ${kmh(trip.max_speed_kmh)}`),
        fact('Max rpm', trip.max_rpm === null ? '–' : fmt(trip.max_rpm)),
        fact('Max coolant', trip.max_coolant_c === null ? '–' : `${fmt(trip.max_coolant_c)} °C`),
        fact('Fuel used', trip.fuel_used_pct === null ? '–' : `${trip.fuel_used_pct.toFixed(1)} %`),
        fact('Points / gaps', `${trip.points} / ${trip.gaps.length}`),
      ),
      h('div', { class: 'trip-view' }, mapBox, profile),
    ),
  );

  const drawn = drawTrack(track);
  mapBox.append(drawn.svg);
  const range: Range = { from, to };
  const group = new ChartGroup(() => undefined);
  const chart = new TimeChart(profile, 'speed', 'km/h', group);
  chart.setBuckets(times, speeds, stepMs, range);
  // The profile's cursor moves a marker to where the car was at that time.
  const move = () => {
    const left = chart.plot.cursor.left ?? -1;
    if (left < 0) return drawn.mark(null);
    drawn.mark(chart.plot.posToVal(left, 'x') * 1000);
  };
  chart.plot.over.addEventListener('mousemove', move);
  chart.plot.over.addEventListener('mouseleave', () => drawn.mark(null));
  return () => chart.destroy();
}

/**
 * The track on an equirectangular projection centred on the trip (x scaled
 * by cos(latitude), so shapes are true at city scale), fitted to the box,
 * with start and end markers and a scale bar.
 */
function drawTrack(track: TrackPoint[]): { svg: SVGSVGElement; mark: (timeMs: number | null) => void } {
  const el = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };
  const W = 600;
  const H = 400;
  const PAD = 20;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'track', role: 'img', 'aria-label': 'Track of the trip', 'data-points': track.length });
  svg.append(el('rect', { x: 0, y: 0, width: W, height: H, class: 'track-bg' }));
  if (track.length === 0) {
    const t = el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'track-empty' });
    t.textContent = 'No position fixes in this trip.';
    svg.append(t);
    return { svg, mark: () => undefined };
  }
  const lat0 = track.reduce((a, p) => a + p.lat, 0) / track.length;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const xs = track.map((p) => p.lon * k);
  const ys = track.map((p) => -p.lat);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(maxX - minX, maxY - minY, 1e-6);
  const scale = Math.min((W - 2 * PAD) / Math.max(maxX - minX, span / 10), (H - 2 * PAD) / Math.max(maxY - minY, span / 10));
  const ox = (W - (maxX - minX) * scale) / 2;
  const oy = (H - (maxY - minY) * scale) / 2;
  const px = (i: number) => ox + (xs[i] - minX) * scale;
  const py = (i: number) => oy + (ys[i] - minY) * scale;
  svg.append(el('polyline', { points: track.map((_, i) => `${px(i).toFixed(1)},${py(i).toFixed(1)}`).join(' '), class: 'track-line' }));
  const last = track.length - 1;
  svg.append(el('circle', { cx: px(0), cy: py(0), r: 6, class: 'track-start' }));
  svg.append(el('rect', { x: px(last) - 5, y: py(last) - 5, width: 10, height: 10, class: 'track-end' }));
  // Scale bar: a round distance near a fifth of the width (1 degree of latitude = 111.32 km).
  const kmPerUnit = 111.32;
  const target = ((W / 5) / scale) * kmPerUnit;
  const nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500].reduce((a, b) => (Math.abs(b - target) < Math.abs(a - target) ? b : a));
  const len = (nice / kmPerUnit) * scale;
  svg.append(el('line', { x1: PAD, y1: H - PAD, x2: PAD + len, y2: H - PAD, class: 'track-scale' }));
  const label = el('text', { x: PAD, y: H - PAD - 6, class: 'track-scale-label' });
  label.textContent = nice < 1 ? `${nice * 1000} m` : `${nice} km`;
  svg.append(label);
  const marker = el('circle', { cx: -10, cy: -10, r: 5, class: 'track-marker' });
  svg.append(marker);
  const times = track.map((p) => Date.parse(p.ts));
  return {
    svg,
    mark(t) {
      if (t === null) return marker.setAttribute('visibility', 'hidden');
      let i = 0;
      while (i < last && times[i + 1] <= t) i++;
      marker.setAttribute('visibility', 'visible');
      marker.setAttribute('cx', px(i).toFixed(1));
      marker.setAttribute('cy', py(i).toFixed(1));
    },
  };
}
