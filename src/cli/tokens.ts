/**
 * `telehub tokens create|list|revoke`: API tokens for HTTP ingestion and
 * queries. The token is printed once, at creation; only its hash is kept.
 */
import { SCOPES, newToken, type Scope } from '../auth/tokens.js';
import type { Store } from '../storage/store.js';

function values(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === name && args[i + 1] !== undefined) out.push(args[++i]);
  return out;
}

export async function runTokens(store: Store, args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const name = values(rest, '--name')[0];
      const scope = (values(rest, '--scope')[0] ?? 'ingest') as Scope;
      if (!name) {
        err('telehub tokens create: --name is required\n');
        return 2;
      }
      if (!SCOPES.includes(scope)) {
        err(`telehub tokens create: --scope must be one of ${SCOPES.join(', ')}\n`);
        return 2;
      }
      const devices = values(rest, '--device');
      const { token, record } = newToken({ name, scope, devices });
      await store.tokens.create(record);
      out(`${token}\n`);
      err(`Created token ${record.id} "${name}" (scope ${scope}${devices.length ? `, devices ${devices.join(', ')}` : ', any device'}). It is shown only once.\n`);
      return 0;
    }
    case 'list': {
      for (const t of await store.tokens.list()) {
        out(
          JSON.stringify({ id: t.id, name: t.name, scope: t.scope, devices: t.devices, created_at: new Date(t.createdAt).toISOString(), revoked_at: t.revokedAt === null ? null : new Date(t.revokedAt).toISOString() }) + '\n',
        );
      }
      return 0;
    }
    case 'revoke': {
      const target = rest[0];
      if (!target) {
        err('telehub tokens revoke: give a token id or name\n');
        return 2;
      }
      const n = await store.tokens.revoke(target, Date.now());
      if (n === 0) {
        err(`No active token with id or name "${target}".\n`);
        return 1;
      }
      err(`Revoked ${n} token(s).\n`);
      return 0;
    }
    default:
      err('Usage: telehub tokens create --name N [--device D]... [--scope ingest|read|admin] | list | revoke <id-or-name>\n');
      return 2;
  }
}
