/** `telehub migrate`: applies the store's schema migrations and exits. */
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { withStore } from '../store.js';

export const migrate: Command = {
  name: 'migrate',
  summary: 'Apply the store schema migrations and exit.',
  description: '`start` migrates too; run this to upgrade the schema ahead of a deployment. Safe to run while telehub runs, and twice.',
  examples: ['telehub migrate', 'DATABASE_URL=postgres://qs:qs_password@db:5432/qs telehub migrate'],
  async run(ctx) {
    return withStore(ctx, async (store) => {
      ctx.out(`Migrated ${store.kind} store to version ${(await store.migrationVersions()).at(-1)}.\n`);
      return EXIT.ok;
    });
  },
};
