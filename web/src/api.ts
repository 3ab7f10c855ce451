/**
 * The dashboard's access to telehub's HTTP API: the token (asked for once,
 * kept in localStorage), JSON requests, the live stream, and which optional
 * APIs this server has (read from its OpenAPI document, so panels for
 * presence, trips, commands and processors appear once their routes exist).
 */

const TOKEN_KEY = 'telehub.token';

export class Unauthorized extends Error {}

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null): void {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

/** GET or POST JSON (DELETE with `method`); 401 throws Unauthorized (the page then asks for a token). */
export async function api<T>(path: string, body?: unknown, method?: 'DELETE'): Promise<T> {
  const init: RequestInit = method ? { method, headers: headers() } : body === undefined ? { headers: headers() } : { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) };
  const res = await fetch(path, init);
  if (res.status === 401) throw new Unauthorized('a token is needed');
  if (!res.ok) {
    const err = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new Error(`${res.status}: ${err?.error?.message ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

/** One stored event as the API and the stream give it. */
export interface EventRow {
  event_id: string;
  device_id: string;
  event_type: string;
  value_num: number | null;
  value_text: string | null;
  unit: string | null;
  ts_device: string | null;
  ts_server: string;
  meta: Record<string, unknown>;
}

/** The event's time, as the API orders it: ts_device, else ts_server. */
export const eventTime = (e: EventRow): number => Date.parse(e.ts_device ?? e.ts_server);

/** A device as GET /api/v1/devices answers (the registry's fields are absent on a server without it). */
export interface DeviceRow {
  device_id: string;
  first_seen: string;
  last_seen: string;
  events: number;
  /** online, silent, offline or unknown (unknown also while device-registry is not running). */
  presence?: string;
  presence_cause?: string | null;
  presence_since?: string | null;
  last_data_at?: string | null;
  last_heard_at?: string | null;
  wifi_rssi?: number | null;
  uptime_s?: number | null;
  firmware?: string | null;
  status_at?: string | null;
  interval_ms?: number;
  interval_source?: string;
  timeout_ms?: number;
}

/** A command and its lifecycle (GET /api/v1/devices/{id}/commands). */
export interface CommandRow {
  command_id: string;
  device_id: string;
  command: string;
  params: unknown;
  state: 'queued' | 'sent' | 'delivered' | 'succeeded' | 'failed' | 'expired' | 'cancelled';
  attempts: number;
  queued_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  finished_at: string | null;
  expires_at: string;
  cause: string | null;
  result: unknown;
}

/** States a command can still leave. */
export const OPEN_COMMAND_STATES = new Set(['queued', 'sent', 'delivered']);

export interface TripRow {
  id: string;
  device_id: string;
  version: number;
  in_progress: boolean;
  start: string;
  end: string;
  start_position: { lat: number; lon: number } | null;
  end_position: { lat: number; lon: number } | null;
  duration_s: number;
  moving_s: number;
  distance_km: number;
  distance_source: string;
  avg_speed_kmh: number | null;
  max_speed_kmh: number | null;
  max_rpm: number | null;
  max_coolant_c: number | null;
  fuel_used_pct: number | null;
  points: number;
  gaps: { from: string; to: string; duration_s: number; distance_km: number }[];
}

export interface AlertState {
  rule: string;
  device_id: string;
  state: 'ok' | 'pending' | 'firing';
  since: string | null;
  changed_at: string;
  value: number | null;
  value_text: string | null;
  last_time: string;
}

export interface AlertRule {
  name: string;
  devices: string;
  event_type?: string;
  above?: number;
  below?: number;
  clear?: number;
  presence?: string[];
  for: string;
  notify?: string[];
  origin: 'config' | 'api';
}

export interface AlertChange {
  id: number;
  rule: string;
  device_id: string;
  state: 'firing' | 'resolved';
  value: number | null;
  value_text: string | null;
  at: string;
  deliveries: { target: string; delivered_at: string | null; attempts: number; last_error: string | null }[];
}

export interface SeriesAnswer {
  from: string;
  to: string;
  bucket_seconds: number;
  /** Which rollup tier answered, once tiers exist. */
  tiers_used?: string[];
  buckets: { time: string; count: number; avg: number; min: number; max: number }[];
}

/**
 * The live stream (WebSocket), reconnecting after a drop. Browsers cannot set
 * headers on a WebSocket, so the token goes in `?token=`.
 */
/** A presence transition as the stream sends it (`kind` `presence`). */
export interface PresenceMessage {
  seq: number;
  kind: 'presence';
  device_id: string;
  presence: string;
  cause: string;
  from: string;
  at: string;
}

export function stream(filter: { device?: string }, onEvent: (e: EventRow) => void, onPresence?: (p: PresenceMessage) => void): () => void {
  let ws: WebSocket | undefined;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    const url = new URL('api/v1/stream', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = query({ device: filter.device, token: token() ?? undefined });
    ws = new WebSocket(url);
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data as string) as EventRow | PresenceMessage;
      if ('kind' in msg && msg.kind === 'presence') onPresence?.(msg);
      else onEvent(msg as EventRow);
    };
    ws.onclose = () => {
      if (!closed) retry = setTimeout(open, 2000);
    };
    ws.onopen = () => document.body.setAttribute('data-stream', 'open');
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    ws?.close();
  };
}

let openapi: Promise<Set<string>> | undefined;

/** The API paths this server has (`/api/v1/trips`, …), from its OpenAPI document. */
export function apiPaths(): Promise<Set<string>> {
  openapi ??= fetch('api/openapi.json')
    .then((r) => (r.ok ? (r.json() as Promise<{ paths?: Record<string, unknown> }>) : { paths: {} }))
    .then((doc) => new Set(Object.keys(doc.paths ?? {})))
    .catch(() => new Set<string>());
  return openapi;
}

/**
 * Runs `fn` every `ms` (never two at once; a failed round is skipped, the
 * next one tries again). Returns the stop. Presence, commands and alert
 * states are read this way: they change without a stream event (a device
 * going silent is the absence of one).
 */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const round = async () => {
    try {
      await fn();
    } catch {
      // the next round tries again
    }
    if (!stopped) timer = setTimeout(() => void round(), ms);
  };
  timer = setTimeout(() => void round(), ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
