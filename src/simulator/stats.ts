/**
 * What a simulation counts, shared by all its devices. An item is one
 * seed-001 event (acknowledged by its ACK topic message or HTTP result) or
 * one seed-003 telemetry message (acknowledged by the broker's PUBACK: seed
 * 003 nodes get no ACK of their own).
 */

/** The end-of-run summary (`telehub simulate` prints it). */
export interface SimReport {
  devices: number;
  /** Distinct items sent (resends not counted again). */
  sent: number;
  /** Distinct items acknowledged (`stored` or `duplicate`, or a PUBACK for telemetry). */
  acknowledged: number;
  /** ACKs that said `duplicate` (a resend of something already stored). */
  duplicates: number;
  /** Sent and never acknowledged by the end of the run (after the drain wait). */
  lost: number;
  /** Times an item was sent again while waiting for its ACK. */
  resent: number;
  /** Events answered `conflict` or `rejected` (dead-lettered by telehub: a bug in the simulator or telehub). */
  refused: number;
  events: { sent: number; acknowledged: number };
  telemetry: { sent: number; acknowledged: number };
  /** ACK latency from first send to acknowledgement, in milliseconds. */
  latencyMs: { p50: number | null; p99: number | null };
  commands: { received: number; executed: number; repeated: number };
}

export class SimStats {
  eventsSent = 0;
  eventsAcked = 0;
  telemetrySent = 0;
  telemetryAcked = 0;
  duplicates = 0;
  resent = 0;
  refused = 0;
  commandsReceived = 0;
  /** Commands whose id had already run: answered again, not executed. */
  commandsRepeated = 0;
  /** Executions per `device/command_id`: a test checks each is 1. */
  readonly executions = new Map<string, number>();
  private readonly latencies: number[] = [];

  latency(ms: number): void {
    this.latencies.push(ms);
  }

  executed(deviceId: string, commandId: string): void {
    const k = `${deviceId}/${commandId}`;
    this.executions.set(k, (this.executions.get(k) ?? 0) + 1);
  }

  report(devices: number): SimReport {
    const sorted = Float64Array.from(this.latencies).sort();
    const sent = this.eventsSent + this.telemetrySent;
    const acknowledged = this.eventsAcked + this.telemetryAcked;
    let executed = 0;
    for (const n of this.executions.values()) executed += n;
    return {
      devices,
      sent,
      acknowledged,
      duplicates: this.duplicates,
      lost: sent - acknowledged - this.refused,
      resent: this.resent,
      refused: this.refused,
      events: { sent: this.eventsSent, acknowledged: this.eventsAcked },
      telemetry: { sent: this.telemetrySent, acknowledged: this.telemetryAcked },
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) },
      commands: { received: this.commandsReceived, executed, repeated: this.commandsRepeated },
    };
  }
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}

/** The report as the few lines `telehub simulate` prints. */
export function formatReport(r: SimReport): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
  return [
    `devices       ${r.devices}`,
    `sent          ${r.sent} (events ${r.events.sent}, telemetry ${r.telemetry.sent})`,
    `acknowledged  ${r.acknowledged} (events ${r.events.acknowledged}, telemetry ${r.telemetry.acknowledged})`,
    `duplicates    ${r.duplicates}`,
    `lost          ${r.lost}`,
    `resent        ${r.resent}`,
    `refused       ${r.refused}`,
    `ack latency   p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}`,
    `commands      received ${r.commands.received}, executed ${r.commands.executed}, repeated ${r.commands.repeated}`,
  ].join('\n');
}
