/**
 * `telehub simulate`: a fleet of virtual devices (src/simulator/) against a
 * running telehub, ending with what was sent, acknowledged and lost.
 */
import { choiceOption, intOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { PROFILE_NAMES, PROFILES } from '../../simulator/profiles/index.js';
import type { SimReport } from '../../simulator/stats.js';

const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

/** A positive decimal option (`--rate 0.2`), or `fallback` when not given. */
function numberOption(values: Record<string, unknown>, name: string, max: number, fallback: number | undefined): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0) || n > max) throw new UsageError(`--${name} must be a number above 0 and at most ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

function urlOption(values: Record<string, unknown>, name: string, protocols: string[]): string | undefined {
  const raw = stringOption(values as Record<string, string>, name);
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--${name} must be a URL such as ${protocols[0]}//127.0.0.1, not ${JSON.stringify(raw)}`);
  }
  if (!protocols.includes(u.protocol)) throw new UsageError(`--${name} must start with ${protocols.join(' or ')}, not ${JSON.stringify(raw)}`);
  return raw;
}

export const simulate: Command = {
  name: 'simulate',
  summary: 'Run a fleet of virtual devices against telehub and report what was acknowledged and lost.',
  description:
    'Each device publishes seed-001 events (kept in an outbox and resent until ACKed), seed-003 telemetry at QoS 1 and its status, ' +
    'sets a will, and carries out commands once per command_id. Profiles: ' +
    PROFILE_NAMES.map((p) => `${p} (${PROFILES[p].description})`).join('; ') +
    '. Runs for --duration seconds, or until SIGINT/SIGTERM, then waits up to 10 s for the last ACKs and prints sent, acknowledged, duplicates, lost and ACK latency p50/p99. ' +
    'Exits 0 when nothing was lost, 1 when something was (or the broker could not be reached).',
  options: {
    devices: { type: 'string', short: 'n', value: 'N', description: 'How many devices, 1 to 100000 (default 10).' },
    rate: { type: 'string', value: 'R', description: 'Readings per second per device, e.g. 0.2 for one every 5 s (default 1, at most 1000).' },
    profile: { type: 'string', value: 'NAME', description: `What the devices measure: ${PROFILE_NAMES.join(', ')} (default sensor).` },
    duration: { type: 'string', value: 'S', description: 'Stop after this many seconds (default: run until SIGINT/SIGTERM).' },
    broker: { type: 'string', value: 'URL', description: `MQTT broker (default ${DEFAULT_BROKER}; with --http only when given).` },
    http: { type: 'string', value: 'URL', description: "Send events by HTTP (POST URL/ingest) instead of MQTT; needs --token." },
    token: { type: 'string', value: 'T', description: 'Bearer token (scope ingest) for --http.' },
    prefix: { type: 'string', value: 'P', description: 'Device ids are P-<profile>-<n> (default sim).' },
    trips: { type: 'string', value: 'N', description: 'car profile: each car drives N trips placed in the past, sent as fast as --rate (messages per second per car, default 200) allows; ends when all are acknowledged. Without it cars drive in real time.' },
    truth: { type: 'string', value: 'FILE', description: 'car profile: write the true trips (start, end, distance per car) to FILE as JSON.' },
    json: { type: 'boolean', description: 'Print the report as one JSON object.' },
  },
  examples: [
    'telehub simulate --devices 50 --rate 0.5 --profile energy --duration 60',
    'telehub simulate -n 5 --http http://127.0.0.1:8080 --token "$TOKEN" --duration 10',
    'telehub simulate --profile car -n 5 --trips 3 --truth trips-truth.json',
  ],
  async run(ctx) {
    const devices = intOption(ctx.values, 'devices', { min: 1, max: 100_000 }, 10);
    const profile = choiceOption(ctx.values, 'profile', PROFILE_NAMES, 'sensor');
    const trips = ctx.values.trips === undefined ? undefined : intOption(ctx.values, 'trips', { min: 1, max: 1000 }, 1);
    const truthFile = stringOption(ctx.values, 'truth');
    if ((trips !== undefined || truthFile !== undefined) && profile !== 'car') throw new UsageError('--trips and --truth are for --profile car');
    const rate = numberOption(ctx.values, 'rate', 1000, trips !== undefined ? 200 : 1)!;
    const durationS = numberOption(ctx.values, 'duration', 31_536_000, undefined);
    const http = urlOption(ctx.values, 'http', ['http:', 'https:']);
    const token = stringOption(ctx.values, 'token');
    if (http && !token) throw new UsageError('--http needs --token (create one with telehub tokens create --name sim)');
    if (token && !http) throw new UsageError('--token is only used with --http');
    const brokerUrl = urlOption(ctx.values, 'broker', ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:']) ?? (http ? undefined : DEFAULT_BROKER);
    const prefix = stringOption(ctx.values, 'prefix') ?? 'sim';
    if (!/^[\w.-]+$/.test(prefix)) throw new UsageError('--prefix may hold letters, digits, _, . and - only (it becomes part of MQTT topics)');

    const { startSimulation } = await import('../../simulator/run.js');
    const { formatReport } = await import('../../simulator/stats.js');
    const sim = await startSimulation({ devices, rate, profile, durationS, brokerUrl, http: http ? { url: http, token: token! } : undefined, idPrefix: prefix, trips, truthFile });
    ctx.err(`Simulating ${devices} ${profile} device(s) at ${rate}/s each${durationS ? ` for ${durationS} s` : '; SIGINT to stop'}.\n`);
    // `done` resolves after --duration (never without it); a signal stops early. Either way the same report.
    const onSignal = () => void sim.stop().then(stopResult.resolve, stopResult.reject);
    let stopResult!: { resolve(r: SimReport): void; reject(e: unknown): void };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const report = await Promise.race([sim.done, new Promise<SimReport>((resolve, reject) => (stopResult = { resolve, reject }))]);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ctx.out(ctx.values.json ? JSON.stringify(report) + '\n' : formatReport(report) + '\n');
    return report.lost === 0 ? EXIT.ok : EXIT.failure;
  },
};

