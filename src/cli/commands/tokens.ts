/**
 * `telehub tokens create|list|revoke`: API tokens for HTTP ingestion and
 * queries. The token is printed once, at creation; only its hash is kept.
 * Names are unique among active tokens (the store enforces it), so a name
 * can stand for its token in `revoke`.
 */
import { SCOPES, newToken, type Scope } from '../../auth/tokens.js';
import { TokenNameTakenError } from '../../storage/store.js';
import { choiceOption, listOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { DataError, EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

const MAX_NAME_LENGTH = 100;

/** A token name the user can type back into `revoke` and tell apart from an id. */
function tokenName(raw: string): string {
  if (raw.length > MAX_NAME_LENGTH) throw new UsageError(`--name must be at most ${MAX_NAME_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new UsageError('--name must not contain control characters');
  // `revoke` takes an id or a name: a name shaped like an id would be ambiguous.
  if (/^[0-9a-f]{16}$/.test(raw)) throw new UsageError('--name must not look like a token id (16 hex digits)');
  return raw;
}

const create: Command = {
  name: 'tokens create',
  summary: 'Create a token and print it (once: only its hash is stored).',
  description:
    'The token goes to stdout, a note about it to stderr. Names are unique among active (not revoked) tokens: ' +
    'a name in use exits with code 65 (EX_DATAERR) and changes nothing. Scopes: ingest writes events, read queries them, admin does both.',
  options: {
    name: { type: 'string', value: 'NAME', required: true, description: `Name of the token, unique among active tokens (at most ${MAX_NAME_LENGTH} characters).` },
    scope: { type: 'string', value: 'SCOPE', description: `What it may do: ${SCOPES.join(', ')} (default ingest).` },
    device: { type: 'string', value: 'ID', multiple: true, description: 'A device it may write for; repeat for several. None means any device.' },
  },
  examples: ['telehub tokens create --name garage --device esp32-01 --device esp32-02', 'telehub tokens create --name grafana --scope read'],
  async run(ctx) {
    const name = tokenName(stringOption(ctx.values, 'name')!);
    const scope: Scope = choiceOption(ctx.values, 'scope', SCOPES, 'ingest');
    const devices = listOption(ctx.values, 'device');
    const { token, record } = newToken({ name, scope, devices });
    await withStore(ctx, async (store) => {
      try {
        await store.tokens.create(record);
      } catch (err) {
        if (err instanceof TokenNameTakenError) throw new DataError(`a token named "${name}" exists already; choose another name or revoke it first (telehub tokens revoke ${name})`);
        throw err;
      }
    });
    ctx.out(`${token}\n`);
    ctx.err(`Created token ${record.id} "${name}" (scope ${scope}${devices.length ? `, devices ${devices.join(', ')}` : ', any device'}). It is shown only once.\n`);
    return EXIT.ok;
  },
};

const list: Command = {
  name: 'tokens list',
  summary: 'List tokens (never their secrets) as JSON lines, oldest first, revoked ones included.',
  examples: ['telehub tokens list'],
  async run(ctx) {
    const tokens = await withStore(ctx, (store) => store.tokens.list());
    for (const t of tokens) {
      ctx.out(
        JSON.stringify({ id: t.id, name: t.name, scope: t.scope, devices: t.devices, created_at: new Date(t.createdAt).toISOString(), revoked_at: t.revokedAt === null ? null : new Date(t.revokedAt).toISOString() }) + '\n',
      );
    }
    return EXIT.ok;
  },
};

const revoke: Command = {
  name: 'tokens revoke',
  summary: 'Revoke a token by id or name; requests with it are refused within 5 seconds.',
  description: 'Exits with code 65 (EX_DATAERR) when no active token has that id or name.',
  arguments: [{ name: 'id-or-name', description: 'The token id (16 hex digits, as in tokens list) or its name.', required: true }],
  examples: ['telehub tokens revoke garage', 'telehub tokens revoke 3f2a9c0d1e4b5a67'],
  async run(ctx) {
    const target = ctx.positionals[0];
    const n = await withStore(ctx, (store) => store.tokens.revoke(target, Date.now()));
    if (n === 0) throw new DataError(`no active token with id or name "${target}" (see telehub tokens list)`);
    ctx.err(`Revoked ${n} token(s).\n`);
    return EXIT.ok;
  },
};

export const tokens: Command = {
  name: 'tokens',
  summary: 'Create, list and revoke API tokens for HTTP ingestion and queries.',
  examples: ['telehub tokens create --name garage', 'telehub tokens list', 'telehub tokens revoke garage'],
  subcommands: [create, list, revoke],
};
