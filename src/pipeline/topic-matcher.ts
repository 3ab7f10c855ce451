/**
 * Matches a topic against the events filter (MQTT wildcards) and extracts the
 * device id at the level of the filter's first `+`.
 *
 * @example
 * const m = compileTopicFilter('qs/v1/+/events');
 * m('qs/v1/esp32-01/events') // { deviceId: 'esp32-01' }
 * m('qs/v1/esp32-01/acks')   // undefined
 */
export type TopicMatch = { deviceId: string | undefined };

export function compileTopicFilter(filter: string): (topic: string) => TopicMatch | undefined {
  const levels = filter.split('/');
  const devicePos = levels.indexOf('+');
  const hashAtEnd = levels[levels.length - 1] === '#';
  const fixed = hashAtEnd ? levels.length - 1 : levels.length;
  // MQTT: wildcards at the first level never match topics starting with $.
  const guardDollar = levels[0] === '+' || levels[0] === '#';
  // Walks the topic's levels in place (no split: this runs once per message).
  return (topic: string) => {
    if (guardDollar && topic.charCodeAt(0) === 36 /* $ */) return undefined;
    let deviceId: string | undefined;
    let pos = 0;
    for (let i = 0; i < fixed; i++) {
      if (pos === -1) return undefined; // fewer levels than the filter
      const slash = topic.indexOf('/', pos);
      const end = slash === -1 ? topic.length : slash;
      const level = levels[i];
      if (level === '+') {
        if (i === devicePos) deviceId = topic.slice(pos, end);
      } else if (end - pos !== level.length || !topic.startsWith(level, pos)) {
        return undefined;
      }
      pos = slash === -1 ? -1 : slash + 1;
    }
    if (!hashAtEnd && pos !== -1) return undefined; // more levels than the filter
    return { deviceId };
  };
}

/** Fills the ACK topic template. */
export function ackTopic(template: string, deviceId: string): string {
  return template.replace('{device_id}', deviceId);
}
