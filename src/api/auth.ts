/**
 * Token authentication for HTTP routes. Tokens are looked up by id through
 * the store and cached for a few seconds, so a busy ingest route costs one
 * hash and one map lookup per request; a revocation takes effect within
 * TOKEN_CACHE_MS.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { parseToken, scopeAllows, verifySecret, type Scope, type TokenRecord } from '../auth/tokens.js';
import type { TokenRepository } from '../storage/store.js';
import { ApiError } from './errors.js';
import { storeUnavailable } from '../core/http-error.js';

export const TOKEN_CACHE_MS = 5000;

/** Who a tokenless request is when TELEHUB_DASHBOARD_AUTH=off (never stored, never matches a real id). */
const ANONYMOUS: TokenRecord = { id: 'anonymous', name: 'anonymous (TELEHUB_DASHBOARD_AUTH=off)', scope: 'admin', devices: [], secretHash: Buffer.alloc(0), createdAt: 0, revokedAt: null };

export interface HookOptions {
  allowQuery?: boolean;
  ready?: () => boolean;
  presented?: (req: FastifyRequest) => string | undefined;
}

export class TokenAuth {
  /** Token records resolved by hook(), per request (gone with the request). */
  private readonly records = new WeakMap<FastifyRequest, TokenRecord>();
  private cache = new Map<string, { record: TokenRecord | undefined; at: number }>();

  /** `isRetriable`: store errors that mean "down, try again" (answered 503 with Retry-After, not 500). */
  /**
   * `isRetriable`: store errors that mean "down, try again" (answered 503 with Retry-After, not 500).
   * `openReads`: TELEHUB_DASHBOARD_AUTH=off — a request with no token at all is let through on
   * routes that need read or admin scope (the dashboard's reads and dead-letter replay); ingest
   * routes still need a token, and a token that is presented is still checked.
   */
  constructor(
    private readonly tokens: TokenRepository,
    private readonly isRetriable: (err: unknown) => boolean = () => false,
    private readonly openReads = false,
  ) {}

  /**
   * The token of a request: `Authorization: Bearer <t>` or `Token <t>`
   * (InfluxDB clients), or `?token=` where `allowQuery` (browsers' WebSockets).
   */
  static presented(req: FastifyRequest, allowQuery = false): string | undefined {
    const h = req.headers.authorization;
    if (typeof h === 'string') {
      const m = /^(?:Bearer|Token)\s+(\S+)\s*$/i.exec(h);
      if (m) return m[1];
    }
    if (allowQuery) {
      const q = (req.query as Record<string, unknown> | undefined)?.token;
      if (typeof q === 'string') return q;
    }
    return undefined;
  }

  /**
   * An `onRequest` hook that authenticates a route before Fastify reads the
   * request body (bodies are parsed between onRequest and preValidation), so
   * a caller without a valid token is answered 401/403 with its body unread;
   * the error handler then closes the connection if the body is still
   * arriving (see closeIfBodyUnread in errors.ts). The handler gets the
   * record with tokenOf(req).
   *
   * `ready`: checked first; when false the route answers 503 (store starting
   * or stopping) without a token lookup, as the handler itself would.
   * `presented`: where a route takes its token other than from Authorization
   * (InfluxDB v1's `?p=` or Basic auth).
   */
  hook(scope: Scope, opts: HookOptions = {}): onRequestAsyncHookHandler {
    return async (req) => {
      if (opts.ready && !opts.ready()) throw storeUnavailable();
      this.records.set(req, await this.require(req, scope, { allowQuery: opts.allowQuery, token: opts.presented?.(req) }));
    };
  }

  /** The token record hook() resolved for this request. */
  tokenOf(req: FastifyRequest): TokenRecord {
    const record = this.records.get(req);
    // A route that calls this without the hook is a programming error, not a client's.
    if (!record) throw new Error(`no token resolved for ${req.method} ${req.url}: the route lacks auth.hook()`);
    return record;
  }

  /**
   * Resolves the caller's token record or throws 401/403. `token`: the
   * presented token when the route found it elsewhere than the headers.
   */
  async require(req: FastifyRequest, scope: Scope, opts: { allowQuery?: boolean; token?: string } = {}): Promise<TokenRecord> {
    const presented = opts.token ?? TokenAuth.presented(req, opts.allowQuery);
    if (presented === undefined && this.openReads && scope !== 'ingest') return ANONYMOUS;
    if (presented === undefined) throw new ApiError(401, 'unauthorized', 'a token is required: Authorization: Bearer <token>');
    const parsed = parseToken(presented);
    if (!parsed) throw new ApiError(401, 'unauthorized', 'the token is not valid');
    const record = await this.lookup(parsed.id);
    if (!record || record.revokedAt !== null || !verifySecret(parsed.secret, record.secretHash)) {
      throw new ApiError(401, 'unauthorized', 'the token is not valid or has been revoked');
    }
    if (!scopeAllows(record.scope, scope)) throw new ApiError(403, 'forbidden', `this token has scope ${record.scope}; this route needs ${scope}`);
    return record;
  }

  private async lookup(id: string): Promise<TokenRecord | undefined> {
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && now - hit.at < TOKEN_CACHE_MS) return hit.record;
    const record = await this.tokens.get(id).catch((err: unknown) => {
      throw this.isRetriable(err) ? storeUnavailable() : err;
    });
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { record, at: now });
    return record;
  }
}
