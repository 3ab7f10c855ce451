/** `telehub migrate [--dry-run]`: applies the store's schema migrations and exits, or prints what it would do. */
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { withStore } from '../store.js';

export const migrate: Command = {
  name: 'migrate',
  summary: 'Apply the store schema migrations and exit.',
  description:
    '`start` migrates too; run this to upgrade the schema ahead of a deployment. Safe to run while telehub runs, and twice. ' +
    'With --dry-run it changes nothing and prints the pending migrations, and for PostgreSQL\'s partitioning (migration 13) the plan with this database\'s figures.',
  options: { 'dry-run': { type: 'boolean', description: 'Print the plan (pending migrations, rows per day, what moves) without changing the store.' } },
  examples: ['telehub migrate', 'telehub migrate --dry-run', 'DATABASE_URL=postgres://qs:qs_password@db:5432/qs telehub migrate'],
  async run(ctx) {
    if (ctx.values['dry-run'] === true) {
      const { migrationPlan } = await import('../../storage/migrations/plan.js');
      return withStore(
        ctx,
        async (store) => {
          ctx.out((await migrationPlan(store)).join('\n') + '\n');
          return EXIT.ok;
        },
        { migrate: false },
      );
    }
    return withStore(ctx, async (store) => {
      ctx.out(`Migrated ${store.kind} store to version ${(await store.migrationVersions()).at(-1)}.\n`);
      return EXIT.ok;
    });
  },
};
