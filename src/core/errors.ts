/**
 * Stable reason codes. Every code a dead letter, an HTTP answer or a log line
 * can carry is declared here once; `docs/errors.md` lists them all and a test
 * (`errors.test.ts`) fails when the two drift apart.
 *
 * @example
 * reject('missing_field', 'event_id is required')
 */
export const REASON_CODES = {
  invalid_utf8: 'The payload is not valid UTF-8 text.',
  invalid_json: 'The payload is not valid JSON.',
  not_an_object: 'The JSON payload is not an object (an array, string, number, boolean or null was sent).',
  missing_field: 'A required field (schema, event_id, device_id, event_type) is absent, null or an empty string.',
  wrong_type: 'A field has the wrong JSON type (for example a numeric event_id, or meta that is not an object).',
  unsupported_schema: 'The schema version is not one telehub understands (only 1 today).',
  topic_device_mismatch: 'The device_id in the payload differs from the device id in the topic it was published to.',
  payload_too_large: 'The payload is larger than TELEHUB_MAX_PAYLOAD_BYTES.',
  invalid_timestamp:
    'ts_device is neither an ISO-8601 date-time with a valid date and time of day nor an epoch number (seconds below 1e11, else milliseconds) between 2000-01-01 and 9999-12-31.',
  value_not_finite: 'value (or a number inside meta) is a JSON number outside the range of a double (for example 1e999).',
  meta_too_large: 'meta serialises to more than TELEHUB_MAX_META_BYTES or nests deeper than TELEHUB_MAX_META_DEPTH.',
  field_too_long: 'An id-like field (event_id, device_id, event_type, unit) is longer than TELEHUB_MAX_ID_LENGTH characters, or value text is longer than TELEHUB_MAX_VALUE_TEXT_LENGTH.',
  invalid_string: 'A string contains a NUL character or an unpaired UTF-16 surrogate, which the stores cannot keep faithfully.',
  invalid_line_protocol:
    'A line of an InfluxDB line-protocol body is malformed: no measurement or no fields, a tag without a value, duplicate tags, a field value that is not a number, boolean or closed string, an integer outside int64 (or uint64 for `u`), text after the timestamp, or an unknown precision. The message names the problem and its column.',
  event_id_conflict:
    'The event_id is already stored for an event of another device or with other content (a redelivery with the same content is answered duplicate instead); the event was not stored.',
  store_rejected: 'The store refused the event permanently (a data error it reported); the message carries its words.',
} as const;

export type ReasonCode = keyof typeof REASON_CODES;

export const ALL_REASON_CODES = Object.keys(REASON_CODES) as ReasonCode[];

/** A permanent refusal of one input, with a stable code and a human message. */
export interface Rejection {
  ok: false;
  reason: ReasonCode;
  message: string;
}

export function reject(reason: ReasonCode, message: string): Rejection {
  return { ok: false, reason, message };
}

/**
 * Raised at start-up when a setting is invalid. Each problem is one line that
 * starts with the setting's name (`TELEHUB_HTTP_PORT="99999": must be at most
 * 65535`); the command prints one line per problem and exits 78 (EX_CONFIG).
 */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.length === 1 ? list[0] : `Invalid configuration:\n  - ${list.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = list;
  }
}
