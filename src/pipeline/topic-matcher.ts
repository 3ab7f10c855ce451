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
  return (topic: string) => {
    const parts = topic.split('/');
    if (hashAtEnd ? parts.length < fixed : parts.length !== fixed) return undefined;
    // MQTT: wildcards at the first level never match topics starting with $.
    if (topic.startsWith('$') && (levels[0] === '+' || levels[0] === '#')) return undefined;
    for (let i = 0; i < fixed; i++) {
      if (levels[i] !== '+' && levels[i] !== parts[i]) return undefined;
    }
    return { deviceId: devicePos >= 0 ? parts[devicePos] : undefined };
  };
}

/** Fills the ACK topic template. */
export function ackTopic(template: string, deviceId: string): string {
  return template.replace('{device_id}', deviceId);
}
