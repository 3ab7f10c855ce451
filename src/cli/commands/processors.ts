/**
 * `telehub processors [list] [--json]` and `telehub processors rebuild NAME`.
 *
 * list: each processor's checkpoint, lag (entries behind, age of the oldest
 * entry not applied) and state with its last error, read from the store, so
 * it works beside a running telehub.
 *
 * rebuild: empties the processor's state, sets its checkpoint to 0 and
 * replays the commit log into it up to the head. A telehub running meanwhile
 * notices its checkpoint moved and carries on from there; the compare-and-set
 * on the checkpoint keeps both from applying an entry twice.
 */
import pino from 'pino';
import { processorToJson } from '../../api/routes/processors.js';
import { ProcessorRunner } from '../../log/runner.js';
import { KNOWN_PROCESSORS, makeProcessors } from '../../processors/index.js';
import type { Command, CommandContext } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

function table(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

async function listProcessors(ctx: CommandContext): Promise<number> {
  const json = ctx.values.json === true;
  await withStore(ctx, async (store) => {
    // No processor runs here: every figure comes from the store.
    const status = await new ProcessorRunner(store, [], { batchSize: 1, pollMs: 1000, retryMinMs: 1, retryMaxMs: 1 }, pino({ level: 'silent' })).status();
    if (json) {
      for (const s of status) ctx.out(JSON.stringify(processorToJson(s)) + '\n');
      return;
    }
    const head = await store.log.head();
    const rows = [['NAME', 'CHECKPOINT', 'LAG', 'LAG_S', 'STATE', 'ERRORS', 'LAST_ERROR']];
    for (const s of status) {
      const j = processorToJson(s);
      rows.push([j.name, String(j.checkpoint), String(j.lag_entries), j.lag_seconds.toFixed(1), j.state, String(j.errors), j.last_error ? `${j.last_error.at} ${j.last_error.message}` : '-']);
    }
    ctx.out(table(rows));
    ctx.out(`Commit log head: ${head}.${status.length === 0 ? ' No processor has run on this store yet.' : ''}\n`);
  });
  return EXIT.ok;
}

const jsonOption = { json: { type: 'boolean', description: 'One JSON object per processor instead of the table.' } } as const;
const LIST_DESCRIPTION =
  'Each processor: its checkpoint (the commit-log number it has applied up to), its lag (entries after the checkpoint, and the age in seconds of the oldest one not applied), ' +
  'its state (running, retrying or stopped, as its runner last recorded it), its failed attempts and last error; then the head of the commit log. Works while telehub runs.';

const list: Command = {
  name: 'processors list',
  summary: 'List the processors with their checkpoint, lag, state and last error.',
  description: LIST_DESCRIPTION,
  options: jsonOption,
  examples: ['telehub processors list', 'telehub processors list --json'],
  run: listProcessors,
};

const rebuild: Command = {
  name: 'processors rebuild',
  summary: 'Empty a processor’s state and replay the whole commit log into it.',
  description:
    'Safe while telehub runs: the running processor notices its checkpoint moved and carries on from there, and no entry is applied twice. ' +
    `Progress goes to stderr, the final checkpoint to stdout. Known processors: ${KNOWN_PROCESSORS.join(', ')}.`,
  arguments: [{ name: 'NAME', description: `The processor (${KNOWN_PROCESSORS.join(', ')}).`, required: true }],
  examples: ['telehub processors rebuild device-counters'],
  async run(ctx) {
    const name = ctx.positionals[0];
    if (!KNOWN_PROCESSORS.includes(name)) throw new UsageError(`unknown processor "${name}" (known: ${KNOWN_PROCESSORS.join(', ')})`);
    const config = ctx.loadConfig();
    const at = await withStore(ctx, async (store) => {
      const [processor] = makeProcessors([name], { tiers: config.tiers, processors: store.processors, config, intervalBounds: config.presence });
      await store.processors.reset(name, processor.tables);
      const head = await store.log.head();
      ctx.err(`Rebuilding ${name} from the start of the commit log (head ${head}).\n`);
      const runner = new ProcessorRunner(
        store,
        [processor],
        { batchSize: config.log.processorBatch, pollMs: config.log.pollMs, retryMinMs: config.pipeline.retryMinMs, retryMaxMs: config.pipeline.retryMaxMs },
        pino({ level: 'silent' }),
      );
      let lastReport = Date.now();
      return runner.catchUp(name, (cp) => {
        if (Date.now() - lastReport < 1000) return;
        lastReport = Date.now();
        ctx.err(`  ${name}: at ${cp} of ${head}\n`);
      });
    });
    ctx.out(`Rebuilt ${name}: checkpoint ${at}.\n`);
    return EXIT.ok;
  },
};

export const processors: Command = {
  name: 'processors',
  summary: 'Processors following the commit log: list them (the default), or rebuild one.',
  description: `Without a subcommand: the list (as processors list). ${LIST_DESCRIPTION}`,
  options: jsonOption,
  examples: ['telehub processors', 'telehub processors --json', 'telehub processors rebuild device-counters'],
  subcommands: [list, rebuild],
  run: listProcessors,
};
