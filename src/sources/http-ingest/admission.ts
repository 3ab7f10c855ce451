/**
 * HTTP requests and TELEHUB_MAX_INFLIGHT. MQTT intake pauses at the cap (the
 * broker keeps the rest); an HTTP request cannot be left unread for long, so
 * a request that arrives at the cap waits a short while for room and is then
 * answered 503 with Retry-After, nothing of it taken. Clients retry 503
 * (Telegraf, the InfluxDB libraries, the seed's devices), and memory stays
 * bounded by the cap plus the bodies of the requests waiting.
 *
 * A request admitted below the cap submits all its events, so it may take
 * the in-flight count past the cap by up to its own size.
 */
import { ApiError } from '../../core/http-error.js';
import type { BatchWriter } from '../../pipeline/batch-writer.js';

/** How long a request waits at the cap before it is refused. */
export const DEFAULT_ADMISSION_WAIT_MS = 2000;

/** Resolves true once the writer has room, false if it has none after `waitMs`. */
export async function admit(writer: BatchWriter, waitMs: number): Promise<boolean> {
  if (writer.hasCapacity) return true;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([writer.waitForCapacity(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  return writer.hasCapacity;
}

export function overloaded(): ApiError {
  return new ApiError(
    503,
    'overloaded',
    'telehub holds TELEHUB_MAX_INFLIGHT events not yet committed; nothing of this request was taken',
    undefined,
    { 'retry-after': '1' },
  );
}
