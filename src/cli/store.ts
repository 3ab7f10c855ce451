/**
 * Opens the configured store for a command and closes it afterwards. The
 * store modules (and their database drivers) load only here, so `--help` and
 * a usage error answer without loading them.
 */
import type { Store } from '../storage/store.js';
import type { CommandContext } from './command.js';

/** Runs `fn` on the store the settings name, migrated unless `migrate` is false. */
export async function withStore<T>(ctx: CommandContext, fn: (store: Store) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const config = ctx.loadConfig();
  const { openStore } = await import('../storage/open.js');
  const store = openStore(config.store);
  try {
    if (opts.migrate !== false) await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}
