/**
 * `telehub processors [list] [--json]` and `telehub processors rebuild NAME`.
 *
 * list: each processor's checkpoint, lag (entries behind, age of the oldest
 * entry not applied) and state with its last error, read from the store, so
 * it works beside a running telehub.
 *
 * rebuild: empties the processor's state, sets its checkpoint to 0 and
 * replays the commit log into it up to the head, in one-batch transactions.
 * A telehub running meanwhile notices its checkpoint moved and carries on
 * from there; the compare-and-set on the checkpoint keeps both from applying
 * an entry twice.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Config } from '../core/config.js';
import { processorToJson } from '../api/routes/processors.js';
import { ProcessorRunner } from '../log/runner.js';
import { KNOWN_PROCESSORS, makeProcessors } from '../processors/index.js';
import type { Store } from '../storage/store.js';
import { UsageError } from './usage.js';

export const PROCESSORS_HELP = `Usage: telehub processors [list] [--json]
       telehub processors rebuild NAME

  list        Each processor: checkpoint, lag (entries and seconds), state and last error.
              --json prints one JSON object per line.
  rebuild     Empty NAME's state and replay the whole commit log into it
              (safe while telehub runs). Known processors: ${KNOWN_PROCESSORS.join(', ')}.
`;

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export async function runProcessors(openStore: () => Promise<Store>, config: Config, args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message, PROCESSORS_HELP);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(PROCESSORS_HELP);
    return 0;
  }
  const [sub = 'list', ...rest] = positionals;
  if (sub === 'list') {
    if (rest.length > 0) throw new UsageError(`telehub processors list takes no argument (got ${rest.join(' ')})`, PROCESSORS_HELP);
    const store = await openStore();
    try {
      // No processor runs here: every figure comes from the store.
      const status = await new ProcessorRunner(store, [], { batchSize: 1, pollMs: 1000, retryMinMs: 1, retryMaxMs: 1 }, pino({ level: 'silent' })).status();
      const head = await store.log.head();
      if (values.json) {
        for (const s of status) out(JSON.stringify(processorToJson(s)) + '\n');
        return 0;
      }
      const rows = [['NAME', 'CHECKPOINT', 'LAG', 'LAG_S', 'STATE', 'ERRORS', 'LAST_ERROR']];
      for (const s of status) {
        const j = processorToJson(s);
        rows.push([j.name, String(j.checkpoint), String(j.lag_entries), j.lag_seconds.toFixed(1), j.state, String(j.errors), j.last_error ? `${j.last_error.at} ${j.last_error.message}` : '-']);
      }
      out(pad(rows));
      out(`Commit log head: ${head}.${status.length === 0 ? ' No processor has run on this store yet.' : ''}\n`);
      return 0;
    } finally {
      await store.close();
    }
  }
  if (sub === 'rebuild') {
    const [name, ...extra] = rest;
    if (name === undefined) throw new UsageError('telehub processors rebuild needs the name of a processor', PROCESSORS_HELP);
    if (extra.length > 0) throw new UsageError(`telehub processors rebuild takes one name (got ${rest.join(' ')})`, PROCESSORS_HELP);
    if (!KNOWN_PROCESSORS.includes(name)) throw new UsageError(`unknown processor "${name}" (known: ${KNOWN_PROCESSORS.join(', ')})`, PROCESSORS_HELP);
    const store = await openStore();
    try {
      const [processor] = makeProcessors([name]);
      await store.processors.reset(name, processor.tables);
      const head = await store.log.head();
      err(`Rebuilding ${name} from the start of the commit log (head ${head}).\n`);
      const runner = new ProcessorRunner(store, [processor], { batchSize: config.log.processorBatch, pollMs: config.log.pollMs, retryMinMs: config.pipeline.retryMinMs, retryMaxMs: config.pipeline.retryMaxMs }, pino({ level: 'silent' }));
      let lastReport = Date.now();
      const at = await runner.catchUp(name, (cp) => {
        if (Date.now() - lastReport < 1000) return;
        lastReport = Date.now();
        err(`  ${name}: at ${cp} of ${head}\n`);
      });
      out(`Rebuilt ${name}: checkpoint ${at}.\n`);
      return 0;
    } finally {
      await store.close();
    }
  }
  throw new UsageError(`unknown subcommand "${sub}" of telehub processors`, PROCESSORS_HELP);
}
