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

/** GET or POST JSON; 401 throws Unauthorized (the page then asks for a token). */
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, body === undefined ? { headers: headers() } : { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
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

export interface DeviceRow {
  device_id: string;
  first_seen: string;
  last_seen: string;
  events: number;
  /** From the device registry, once it exists. */
  presence?: string;
  presence_cause?: string;
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
