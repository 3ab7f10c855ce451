#!/usr/bin/env node
/**
 * The `telehub` command.
 *
 *   telehub [start]            run the pipeline (default)
 *   telehub migrate            apply store migrations and exit
 *   telehub events [--device D] [--limit N]      print recent stored events
 *   telehub deadletters [--reason R] [--limit N] print recent dead letters
 *   telehub config             print the effective configuration (secrets hidden)
 *   telehub tokens create --name N [--device D]... [--scope ingest|read|admin]
 *   telehub tokens list
 *   telehub tokens revoke <id-or-name>
 */
import { startTelehub } from '../app.js';
import { loadConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { deadLetterToJson } from '../core/event.js';
import { openStore } from '../storage/open.js';
import { formatBanner } from './banner.js';
import { runTokens } from './tokens.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [cmd = 'start', ...args] = argv;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write('Usage: telehub [start|migrate|events|deadletters|config|tokens]\nSee README.md and docs/configuration.md.\n');
    return 0;
  }
  const config = loadConfig(process.env);
  switch (cmd) {
    case 'start': {
      const hub = await startTelehub(config);
      process.stderr.write(formatBanner(hub));
      let signalled = false;
      const onSignal = (sig: string) => {
        if (signalled) {
          hub.log.warn({ signal: sig }, 'Second signal: exiting now.');
          process.exit(1);
        }
        signalled = true;
        hub.log.info({ signal: sig }, 'Signal received.');
        hub.stop().then(
          () => process.exit(0),
          (err) => {
            hub.log.error({ err }, 'Stop failed.');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
      return -1; // keep running
    }
    case 'migrate': {
      const store = openStore(config.store);
      await store.migrate();
      process.stdout.write(`Migrated ${store.kind} store to version ${(await store.migrationVersions()).at(-1)}.\n`);
      await store.close();
      return 0;
    }
    case 'events': {
      const store = openStore(config.store);
      await store.migrate();
      const rows = await store.recentEvents(Number(flag(args, '--limit') ?? 20), flag(args, '--device'));
      for (const e of rows) {
        process.stdout.write(
          JSON.stringify({
            event_id: e.eventId,
            device_id: e.deviceId,
            event_type: e.eventType,
            value_num: e.valueNum,
            value_text: e.valueText,
            unit: e.unit,
            ts_device: e.tsDevice === null ? null : new Date(e.tsDevice).toISOString(),
            ts_server: new Date(e.tsServer).toISOString(),
            meta: JSON.parse(e.meta),
          }) + '\n',
        );
      }
      await store.close();
      return 0;
    }
    case 'deadletters': {
      const store = openStore(config.store);
      await store.migrate();
      const rows = await store.listDeadLetters({ reason: flag(args, '--reason'), limit: Number(flag(args, '--limit') ?? 20) });
      for (const d of rows) process.stdout.write(JSON.stringify({ id: d.id, ...deadLetterToJson(d, { full: true }) }) + '\n');
      await store.close();
      return 0;
    }
    case 'tokens': {
      const store = openStore(config.store);
      await store.migrate();
      try {
        return await runTokens(store, args, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      } finally {
        await store.close();
      }
    }
    case 'config': {
      const redacted = JSON.parse(JSON.stringify(config)) as Record<string, any>;
      if (redacted.mqtt?.password) redacted.mqtt.password = '<hidden>';
      if (redacted.store?.password) redacted.store.password = '<hidden>';
      if (redacted.store?.connectionString) redacted.store.connectionString = '<hidden>';
      process.stdout.write(JSON.stringify(redacted, null, 2) + '\n');
      return 0;
    }
    default:
      process.stderr.write(`Unknown command "${cmd}". Try: telehub --help\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`telehub: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
