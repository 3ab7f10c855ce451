#!/usr/bin/env node
/**
 * The `telehub` command.
 *
 *   telehub [start]            run the pipeline (default)
 *   telehub migrate            apply store migrations and exit
 *   telehub events [--device D] [--limit N]      print recent stored events
 *   telehub events --follow [--device D] [--since SEQ]   tail the commit log
 *   telehub processors [list] [--json]           processors: checkpoint, lag, state
 *   telehub processors rebuild NAME              replay a processor from the start of the log
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
import { parseArgs } from 'node:util';
import { followLog, Wakeup } from './follow.js';
import { runProcessors } from './processors.js';
import { UsageError } from './usage.js';

const EVENTS_HELP = `Usage: telehub events [--device D] [--limit N]
       telehub events --follow [--device D] [--since SEQ]

  Without --follow: the N most recent stored events (default 20), newest first.
  --follow: every entry committed from now on (or after log number SEQ),
  events and dead letters, one JSON line each with its seq, until Ctrl-C.
`;

/** A non-negative integer option, or a usage error naming it. */
function intOption(v: string | undefined, name: string, usage: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`${name} must be a non-negative integer (got "${v}")`, usage);
  return Number(v);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [cmd = 'start', ...args] = argv;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write('Usage: telehub [start|migrate|events|deadletters|config|tokens|processors]\nSee README.md and docs/configuration.md.\n');
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
      let parsed;
      try {
        parsed = parseArgs({ args, options: { device: { type: 'string' }, limit: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, since: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
      } catch (err) {
        throw new UsageError((err as Error).message, EVENTS_HELP);
      }
      const o = parsed.values;
      if (o.help) {
        process.stdout.write(EVENTS_HELP);
        return 0;
      }
      const since = intOption(o.since, '--since', EVENTS_HELP);
      const limit = intOption(o.limit, '--limit', EVENTS_HELP);
      if (since !== undefined && !o.follow) throw new UsageError('--since goes with --follow', EVENTS_HELP);
      if (limit !== undefined && o.follow) throw new UsageError('--limit does not go with --follow', EVENTS_HELP);
      if (o.follow) {
        const store = openStore(config.store);
        await store.migrate();
        const stop = new Wakeup();
        const onSignal = () => stop.ring();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await followLog(store, { device: o.device, since, pollMs: config.log.pollMs, stop }, (line) => process.stdout.write(line));
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await store.close();
        }
        return 0;
      }
      const store = openStore(config.store);
      await store.migrate();
      const rows = await store.recentEvents(limit ?? 20, o.device);
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
    case 'processors': {
      return await runProcessors(
        async () => {
          const store = openStore(config.store);
          await store.migrate();
          return store;
        },
        config,
        args,
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
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
    if (err instanceof UsageError) {
      process.stderr.write(`telehub: ${err.message}\n${err.usage}`);
      process.exit(64); // EX_USAGE
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`telehub: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
