/**
 * The few lines `telehub start` writes to stderr once everything listens:
 * where to connect (MQTT, MQTT over WebSocket, HTTP) and which store is in
 * use. They go to stderr so stdout stays JSON log lines only.
 *
 * @example
 * process.stderr.write(formatBanner(hub));
 * // telehub is running.
 * //   MQTT       mqtt://localhost:1883 (all interfaces)
 * //   WebSocket  ws://localhost:9001 (all interfaces)
 * //   HTTP       http://localhost:8080 (all interfaces)
 * //   Store      SQLite /home/pi/telehub/data/telehub.db
 */
import type { Config, StoreConfig } from '../core/config.js';

export interface BannerFacts {
  config: Pick<Config, 'http' | 'embedded' | 'mqtt' | 'store'>;
  httpPort: number;
  /** Embedded broker ports as bound (0 / -1 when an external broker is used or WebSocket is off). */
  mqttPort: number;
  mqttWsPort: number;
  /** The first-start admin token: printed once when just created, else where it is kept. */
  adminToken?: { file: string; created?: string };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

function address(scheme: string, host: string, port: number): string {
  if (WILDCARDS.has(host)) return `${scheme}://localhost:${port} (all interfaces)`;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A URL without its password. */
function withoutSecrets(raw: string): string {
  try {
    const u = new URL(raw);
    u.password = '';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

function storeText(store: StoreConfig): string {
  if (store.kind === 'sqlite') return `SQLite ${store.file}`;
  if (store.connectionString) return `PostgreSQL ${withoutSecrets(store.connectionString)}`;
  return `PostgreSQL postgres://${encodeURIComponent(store.user)}@${store.host}:${store.port}/${encodeURIComponent(store.database)}`;
}

/** The banner text, ending with a newline. */
export function formatBanner(f: BannerFacts): string {
  const { config } = f;
  const rows: [string, string][] = [];
  if (config.mqtt) {
    rows.push(['MQTT', `external broker ${withoutSecrets(config.mqtt.url)} as ${config.mqtt.clientId}`]);
    rows.push(['WebSocket', 'off (external broker)']);
  } else {
    rows.push(['MQTT', address('mqtt', config.embedded.host, f.mqttPort)]);
    rows.push(['WebSocket', f.mqttWsPort >= 0 ? address('ws', config.embedded.host, f.mqttWsPort) : 'off']);
  }
  rows.push(['HTTP', address('http', config.http.host, f.httpPort)]);
  rows.push(['Store', storeText(config.store)]);
  if (f.adminToken) {
    rows.push(['Dashboard', `${address('http', config.http.host, f.httpPort).replace(/:(\d+)/, ':$1/')}`]);
    if (f.adminToken.created) rows.push(['Token', `${f.adminToken.created} (admin; shown once, kept in ${f.adminToken.file})`]);
    else rows.push(['Token', `admin token in ${f.adminToken.file}`]);
  }
  return ['telehub is running.', ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`)].join('\n') + '\n';
}
