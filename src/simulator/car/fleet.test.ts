/**
 * The car fleet over MQTT when the broker goes away after the cars connected
 * (telehub killed and started again, as test/chaos/trips-kill.test.ts does):
 * the cars reconnect, resend what was not acknowledged and finish, nothing
 * lost. A bare Aedes broker stands in for telehub's embedded one.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { startCarFleet } from './fleet.js';
import { compactPayload } from './wire.js';

async function serve(port = 0): Promise<{ broker: Aedes; server: Server; port: number; published: Set<string>; kill: () => Promise<void> }> {
  const broker = await Aedes.createBroker({});
  const sockets = new Set<Socket>();
  const published = new Set<string>();
  broker.on('publish', (p, client) => {
    if (client) published.add(`${p.topic} ${p.payload.toString()}`);
  });
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    broker.handle(s);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    broker,
    server,
    port: (server.address() as AddressInfo).port,
    published,
    // Gone at once, as a killed process: connections cut, nothing answered.
    kill: async () => {
      server.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

describe('car fleet', () => {
  it('survives its broker going away and coming back: reconnects, resends, loses nothing', { timeout: 60_000 }, async () => {
    const first = await serve();
    const fleet = await startCarFleet({ cars: 2, trips: 1, brokerUrl: `mqtt://127.0.0.1:${first.port}`, idPrefix: 'fleet-t', rate: 500 });
    let second: Awaited<ReturnType<typeof serve>> | undefined;
    try {
      const total = fleet.devices.reduce((n, c) => n + c.plan.messages.length, 0);
      while (fleet.stats.telemetryAcked < total / 3) await new Promise((r) => setTimeout(r, 10));
      // The broker gone, each car's next reconnect attempt is refused (an 'error' on its client) before it comes back.
      const refused = fleet.devices.map((c) => new Promise((r) => (c as unknown as { client: MqttClient }).client.once('error', r)));
      await first.kill();
      await Promise.all(refused);
      second = await serve(first.port);
      let timer: NodeJS.Timeout | undefined;
      const report = await Promise.race([
        fleet.done,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the cars did not finish: ${JSON.stringify(fleet.stats.report(2))}`)), 20_000))),
      ]).finally(() => clearTimeout(timer));
      assert.equal(report.lost, 0, JSON.stringify(report));
      assert.equal(fleet.stats.telemetryAcked, total);
      // Every message reached one broker or the other.
      const expected = new Set(fleet.devices.flatMap((c) => c.plan.messages.map((m) => `fleet/v1/${c.id}/telemetry ${compactPayload(m)}`)));
      assert.ok(second.published.size > 0, 'the second broker got the rest');
      assert.deepEqual(new Set([...first.published, ...second.published]), expected);
    } finally {
      await fleet.stop();
      await second?.kill();
    }
  });
});
