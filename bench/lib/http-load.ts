/**
 * Drives autocannon (in the bench process) with prepared requests and checks
 * every answer.
 *
 * Each connection gets its own slice of the prepared bodies through
 * `setupClient` + `client.setRequests`: autocannon encodes a request list
 * without `setupRequest` once, up front, so during the run a connection only
 * writes ready buffers (no per-request building, no id replacement) and no
 * body is sent twice. Latencies come from the `response` event (autocannon's
 * own histogram has no p95).
 */
import { createRequire } from 'node:module';
import type { BodySet } from './http-bodies.js';

const require = createRequire(import.meta.url);

// autocannon ships no types; this is the part of its API the bench uses.
interface AcClient {
  responseMax: number;
  setRequests(reqs: AcRequest[]): void;
}
interface AcRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  onResponse?: (status: number, body: string) => void;
}
interface AcResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  mismatches: number;
  statusCodeStats: Record<string, { count: number }>;
}
interface AcInstance extends PromiseLike<AcResult> {
  on(ev: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  stop(): void;
}
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => AcInstance;

export interface HttpLoadOptions {
  url: string;
  path: string;
  headers: Record<string, string>;
  bodies: BodySet;
  connections: number;
  /** 2xx status every answer must have (202 for /ingest, 204 for line protocol). */
  expectStatus: number;
  /** Checks a 2xx body, given the number of events in the request; returns a problem or undefined. */
  checkBody?: (body: string, events: number) => string | undefined;
  timeoutS?: number;
}

export interface HttpLoadResult {
  requests: number;
  responses: number;
  events: number;
  seconds: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  /** CPU seconds of the bench process (autocannon) during the run. */
  generatorCpuSeconds: number;
  problems: string[];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 10) / 10;
}

export async function runHttpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  const n = o.bodies.bodies.length;
  const connections = Math.max(1, Math.min(o.connections, n));
  const bodyProblems: string[] = [];
  let badBodies = 0;
  const requests: AcRequest[] = o.bodies.bodies.map((body, i) => {
    const events = o.bodies.counts[i];
    const req: AcRequest = { method: 'POST', path: o.path, headers: o.headers, body };
    if (o.checkBody) {
      const check = o.checkBody;
      req.onResponse = (status, text) => {
        if (status !== o.expectStatus) return; // counted by status below
        const p = check(text, events);
        if (p !== undefined) {
          badBodies++;
          if (bodyProblems.length < 5) bodyProblems.push(p);
        }
      };
    }
    return req;
  });
  let cursor = 0;
  const latencies = new Float64Array(n);
  let responses = 0;
  const instance = autocannon({
    url: o.url,
    connections,
    amount: n,
    timeout: o.timeoutS ?? 120,
    // The requests a connection sends: the next `responseMax` prepared ones (autocannon builds them now).
    setupClient: (client: AcClient) => {
      const mine = requests.slice(cursor, cursor + client.responseMax);
      cursor += client.responseMax;
      client.setRequests(mine);
    },
    // autocannon notices the end of the run on this tick; its own duration is rounded to it.
    sampleInt: 20,
  });
  // autocannon() built every connection and its requests synchronously; no byte has been sent yet.
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let tLast = t0;
  instance.on('response', (_c, _status, _bytes, ms) => {
    if (responses < n) latencies[responses] = ms;
    responses++;
    tLast = performance.now();
  });
  const r = await instance;
  const cpu = process.cpuUsage(cpu0);
  // From the first request to the last answer.
  const seconds = (tLast - t0) / 1000;

  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count;
  const ok = statusCodes[String(o.expectStatus)] ?? 0;
  const problems: string[] = [];
  if (cursor !== n) problems.push(`bench bug: ${cursor} of ${n} prepared requests were handed to connections`);
  if (responses !== n) problems.push(`${responses} answers for ${n} requests`);
  if (ok !== n) problems.push(`${ok} of ${n} answers were ${o.expectStatus}; status codes: ${JSON.stringify(statusCodes)}`);
  if (r.errors > 0 || r.timeouts > 0) problems.push(`${r.errors} connection errors, ${r.timeouts} timeouts`);
  if (badBodies > 0) problems.push(`${badBodies} answers had an unexpected body, e.g. ${bodyProblems.join(' | ')}`);

  const sorted = latencies.subarray(0, Math.min(responses, n)).sort();
  const events = o.bodies.total;
  return {
    requests: n,
    responses,
    events,
    seconds,
    requestsPerSecond: n / seconds,
    eventsPerSecond: events / seconds,
    latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    non2xx: r.non2xx,
    statusCodes,
    errors: r.errors + r.timeouts,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    problems,
  };
}

/** The answer /ingest must give when every event of the request is stored. */
export function checkIngestAnswer(body: string, events: number): string | undefined {
  // Only the head of the answer: the counters come before the per-event results.
  const m = /"stored":(\d+),"duplicate":(\d+),"rejected":(\d+)/.exec(body.slice(0, 200));
  if (!m) return `no counters in ${body.slice(0, 120)}`;
  if (Number(m[1]) !== events || m[2] !== '0' || m[3] !== '0') return `stored ${m[1]}, duplicate ${m[2]}, rejected ${m[3]} of ${events}`;
  return undefined;
}
