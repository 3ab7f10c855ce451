/**
 * Request bodies for the HTTP ingest bench, built before the clock starts so
 * the load generator only writes prepared bytes. Every event (and every
 * line-protocol point) is unique across the run, so each one is really
 * stored: /ingest event ids carry a run tag and a counter, and line-protocol
 * ids are derived by telehub from measurement, tags, field and timestamp, so
 * each line gets its own timestamp.
 */

export type HttpWorkload = 'single' | 'batch' | 'lp';

export interface BodySet {
  /** One body per request, in order. */
  bodies: Buffer[];
  /** Events (or lines) in each body, parallel to `bodies`. */
  counts: number[];
  /** Events (lines) over all bodies. */
  total: number;
}

/** Simulated devices the events are spread over (as in the MQTT bench). */
const DEVICES = 100;

function seedEvent(tag: string, n: number): string {
  // The same seed-001 shape the MQTT bench's devices publish.
  return `{"schema":1,"event_id":"${tag}-${n}","device_id":"${tag}-d${n % DEVICES}","event_type":"temperature","value":${(20 + (n % 100) / 10).toFixed(1)},"unit":"C"}`;
}

/**
 * `requests` single-event bodies (`perRequest` 1) or JSON-array bodies of
 * `perRequest` events, numbered from `first`.
 */
export function ingestBodies(tag: string, requests: number, perRequest: number, first = 0): BodySet {
  const bodies: Buffer[] = new Array(requests);
  const counts: number[] = new Array(requests);
  let n = first;
  for (let r = 0; r < requests; r++) {
    if (perRequest === 1) {
      bodies[r] = Buffer.from(seedEvent(tag, n++));
    } else {
      const parts: string[] = new Array(perRequest);
      for (let i = 0; i < perRequest; i++) parts[i] = seedEvent(tag, n++);
      bodies[r] = Buffer.from(`[${parts.join(',')}]`);
    }
    counts[r] = perRequest;
  }
  return { bodies, counts, total: requests * perRequest };
}

/**
 * Line-protocol bodies of `perRequest` lines, one field each (so one event
 * per line), as Telegraf would send them with `precision=ms`. Timestamps are
 * `base + n` ms, so no two lines share an event id.
 */
export function lineProtocolBodies(tag: string, requests: number, perRequest: number, first = 0, base = Date.UTC(2026, 0, 1)): BodySet {
  const bodies: Buffer[] = new Array(requests);
  const counts: number[] = new Array(requests);
  let n = first;
  for (let r = 0; r < requests; r++) {
    let s = '';
    for (let i = 0; i < perRequest; i++, n++) {
      s += `climate,device=${tag}-d${n % DEVICES},room=r${n % 7} temperature=${(20 + (n % 100) / 10).toFixed(1)} ${base + n}\n`;
    }
    bodies[r] = Buffer.from(s);
    counts[r] = perRequest;
  }
  return { bodies, counts, total: requests * perRequest };
}
