/**
 * API tokens: what `telehub tokens create` prints once, and how a request's
 * token is checked.
 *
 * A token is `thk_<id>_<secret>`: the id (8 bytes, hex) finds the record, the
 * secret (32 random bytes, base64url) is never stored; only its SHA-256 is.
 * SHA-256 without a salt or stretching is right here because the secret has
 * 256 bits of entropy (nothing to brute-force), and it keeps verification
 * cheap on every ingest request. Hashes are compared with timingSafeEqual.
 *
 * @example
 * const { token, record } = newToken({ name: 'garage', scope: 'ingest', devices: ['esp32-01'] });
 * // store `record`, print `token` once
 * verifySecret(parseToken(token)!.secret, record.secretHash) // true
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenRecord {
  id: string;
  name: string;
  scope: Scope;
  /** Devices this token may write for; empty means any device. */
  devices: string[];
  secretHash: Buffer;
  createdAt: number;
  revokedAt: number | null;
}

const TOKEN = /^thk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function newToken(opts: { name: string; scope: Scope; devices?: string[]; now?: number }): { token: string; record: TokenRecord } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return {
    token: `thk_${id}_${secret}`,
    record: { id, name: opts.name, scope: opts.scope, devices: opts.devices ?? [], secretHash: hashSecret(secret), createdAt: opts.now ?? Date.now(), revokedAt: null },
  };
}

/** Splits a presented token into id and secret, or undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(token);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

export function verifySecret(secret: string, expectedHash: Buffer): boolean {
  const h = hashSecret(secret);
  return h.length === expectedHash.length && timingSafeEqual(h, expectedHash);
}

/** What a scope allows: admin ⊇ read, admin ⊇ ingest. */
export function scopeAllows(have: Scope, need: Scope): boolean {
  return have === need || have === 'admin';
}

/** True when the token may write events of `deviceId`. */
export function mayWriteDevice(record: TokenRecord, deviceId: string): boolean {
  return record.devices.length === 0 || record.devices.includes(deviceId);
}
