/**
 * `telehub start`: runs the whole pipeline in this process until SIGTERM or
 * SIGINT (a second signal exits at once).
 */
import { describeTypo, type SettingTypo } from '../../core/setting-typos.js';
import { formatBanner } from '../banner.js';
import { KEEP_RUNNING, type Command } from '../command.js';

export const start: Command = {
  name: 'start',
  summary: 'Run the pipeline: MQTT intake, HTTP API and store (the default command).',
  description:
    'Runs until SIGTERM or SIGINT, then commits and acknowledges what is in flight (up to TELEHUB_SHUTDOWN_TIMEOUT_MS). ' +
    'Configured by environment variables (docs/configuration.md); an invalid setting stops it with exit code 78. ' +
    'Logs are JSON lines on stdout.',
  options: {
    demo: { type: 'boolean', description: 'Also run a small simulated fleet (docs/simulator.md) on the same broker, so data shows at once.' },
  },
  examples: ['telehub start', 'telehub start --demo', 'MQTT_URL=mqtt://mosquitto:1883 DATABASE_URL=postgres://qs:qs_password@db:5432/qs telehub start'],
  async run(ctx) {
    // Typo warnings go to the log like everything else start-up says, once
    // the log level (itself a setting) is known.
    let typos: SettingTypo[] = [];
    const config = ctx.loadConfig((found) => (typos = found));
    // Loaded here, not at the top: the HTTP stack takes a second to load,
    // which every other command's --help would pay for.
    const [{ startTelehub }, { createLogger }] = await Promise.all([import('../../app.js'), import('../../core/logger.js')]);
    const log = createLogger(config.logLevel);
    for (const typo of typos) log.warn(typo, describeTypo(typo));
    const hub = await startTelehub(config, { log });
    let demo: { stop(): Promise<void> } | undefined;
    if (ctx.values.demo === true) {
      const { startDemoFleet } = await import('../../simulator/demo.js');
      // The embedded broker listens on all addresses by default: reach it on loopback.
      const host = !config.embedded.host || config.embedded.host === '0.0.0.0' || config.embedded.host === '::' ? '127.0.0.1' : config.embedded.host;
      const url = config.mqtt ? config.mqtt.url : `mqtt://${host.includes(':') ? `[${host}]` : host}:${hub.mqttPort}`;
      try {
        demo = await startDemoFleet(url, hub.log);
      } catch (err) {
        await hub.stop();
        throw err;
      }
    }
    // Where to connect, on stderr: stdout stays JSON log lines only.
    ctx.err(formatBanner(hub));
    let signalled = false;
    const onSignal = (sig: string) => {
      if (signalled) {
        hub.log.warn({ signal: sig }, 'Second signal: exiting now.');
        process.exit(1);
      }
      signalled = true;
      hub.log.info({ signal: sig }, 'Signal received.');
      (demo ? demo.stop() : Promise.resolve()).then(() => hub.stop()).then(
        () => process.exit(0),
        (err) => {
          hub.log.error({ err }, 'Stop failed.');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    return KEEP_RUNNING;
  },
};
