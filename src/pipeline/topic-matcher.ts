/**
 * Matches a topic against a route's filter (MQTT wildcards) and extracts the
 * device id at the route's device level (by default the filter's first `+`).
 *
 * @example
 * const m = compileTopicFilter('qs/v1/+/events');
 * m('qs/v1/esp32-01/events') // { deviceId: 'esp32-01' }
 * m('qs/v1/esp32-01/acks')   // undefined
 */
export type TopicMatch = { deviceId: string | undefined };

/**
 * Returns the device id (undefined when the level is absent or the filter
 * names none) when the topic matches, `false` when it does not. No object
 * per call: this runs once per message for every route until one matches.
 *
 * @param deviceLevel 0-based level of the device id: a `+` level, or one
 *   under a trailing `#`; default the first `+`; -1 for none.
 */
export function compileTopicMatcher(filter: string, deviceLevel?: number): (topic: string) => string | undefined | false {
  const levels = filter.split('/');
  const devicePos = deviceLevel ?? levels.indexOf('+');
  const hashAtEnd = levels[levels.length - 1] === '#';
  const fixed = hashAtEnd ? levels.length - 1 : levels.length;
  // MQTT: wildcards at the first level never match topics starting with $.
  const guardDollar = levels[0] === '+' || levels[0] === '#';
  // Walks the topic's levels in place (no split: this runs once per message).
  return (topic: string) => {
    if (guardDollar && topic.charCodeAt(0) === 36 /* $ */) return false;
    let deviceId: string | undefined;
    let pos = 0;
    for (let i = 0; i < fixed; i++) {
      if (pos === -1) return false; // fewer levels than the filter
      const slash = topic.indexOf('/', pos);
      const end = slash === -1 ? topic.length : slash;
      const level = levels[i];
      if (level === '+') {
        if (i === devicePos) deviceId = topic.slice(pos, end);
      } else if (end - pos !== level.length || !topic.startsWith(level, pos)) {
        return false;
      }
      pos = slash === -1 ? -1 : slash + 1;
    }
    if (!hashAtEnd) return pos === -1 ? deviceId : false; // more levels than the filter
    // A device level under the trailing #: walk on to it.
    for (let i = fixed; i <= devicePos && pos !== -1; i++) {
      const slash = topic.indexOf('/', pos);
      if (i === devicePos) deviceId = topic.slice(pos, slash === -1 ? topic.length : slash);
      pos = slash === -1 ? -1 : slash + 1;
    }
    return deviceId;
  };
}

/** As compileTopicMatcher, giving `{ deviceId }` or undefined. */
export function compileTopicFilter(filter: string, deviceLevel?: number): (topic: string) => TopicMatch | undefined {
  const match = compileTopicMatcher(filter, deviceLevel);
  return (topic) => {
    const d = match(topic);
    return d === false ? undefined : { deviceId: d };
  };
}

/** Fills the ACK topic template. */
export function ackTopic(template: string, deviceId: string): string {
  return template.replace('{device_id}', deviceId);
}
