/**
 * A node as seed 003's firmware should be, on a real MQTT.js connection:
 * subscribes to `iot/node/{id}/command`, runs each command_id at most once
 * (a resend of one it has run is answered again with the stored outcome,
 * not run again), and answers on `iot/node/{id}/status`. `executions`
 * counts real runs per command_id, what the exactly-once tests check.
 */
import mqtt, { type MqttClient } from 'mqtt';

/** `run-unanswered`: runs a command (once) but sends no answer, as a node whose answer was lost. */
export type NodeBehaviour = 'succeed' | 'fail' | 'silent' | 'run-unanswered';

/** What a node remembers across reconnects (its flash): runs and outcomes by command_id. */
export interface NodeMemory {
  executions: Map<string, number>;
  outcomes: Map<string, string>;
}

export interface CommandNode {
  client: MqttClient;
  /** Every command message received (resends included), in order. */
  received: Array<{ command: string; command_id: string; params: unknown }>;
  executions: Map<string, number>;
  behaviour: NodeBehaviour;
  close(): Promise<void>;
}

export async function commandNode(url: string, deviceId: string, behaviour: NodeBehaviour = 'succeed', memory: NodeMemory = { executions: new Map(), outcomes: new Map() }): Promise<CommandNode> {
  const client = await mqtt.connectAsync(url, { clientId: `node-${deviceId}-${process.pid}-${Math.random().toString(16).slice(2)}`, clean: true, reconnectPeriod: 0 });
  const node: CommandNode = {
    client,
    received: [],
    executions: memory.executions,
    behaviour,
    close: () => client.endAsync(),
  };
  const outcomes = memory.outcomes;
  client.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString()) as { command: string; command_id: string; params: unknown };
    node.received.push(m);
    if (node.behaviour === 'silent') return;
    const status = `iot/node/${deviceId}/status`;
    let answer = outcomes.get(m.command_id);
    if (answer === undefined) {
      node.executions.set(m.command_id, (node.executions.get(m.command_id) ?? 0) + 1);
      answer = JSON.stringify(
        node.behaviour !== 'fail'
          ? { command_id: m.command_id, status: 'succeeded', result: { ran: m.command } }
          : { command_id: m.command_id, status: 'failed', result: { error: 'relay stuck' } },
      );
      outcomes.set(m.command_id, answer);
      if (node.behaviour === 'run-unanswered') return;
      client.publish(status, JSON.stringify({ command_id: m.command_id, status: 'received' }), { qos: 1 });
    }
    if (node.behaviour === 'run-unanswered') return;
    client.publish(status, answer, { qos: 1 });
  });
  await client.subscribeAsync(`iot/node/${deviceId}/command`, { qos: 1 });
  return node;
}
