/**
 * Binding telehub's listeners (MQTT TCP, MQTT WebSocket, HTTP) and turning a
 * failure to bind into a one-line configuration error that names the port
 * and the setting to change: a port already taken is the user's to fix, not
 * a crash (exit 78, EX_CONFIG, like any other configuration error).
 *
 * @example
 * await listen(server, 1883, '0.0.0.0', 'mqtt');          // throws ListenError
 * throw listenProblem(err, { what: 'MQTT', portSetting: 'TELEHUB_MQTT_PORT', hostSetting: 'TELEHUB_MQTT_HOST' });
 */
import type { Server } from 'node:net';
import { ConfigError } from './errors.js';

/** A listener that could not bind; `listener` says which one, the cause keeps the system error. */
export class ListenError extends Error {
  constructor(
    readonly listener: string,
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`${listener} listener could not bind ${host}:${port}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'ListenError';
  }
}

/**
 * Starts `server` listening; rejects with a ListenError (and leaves no
 * 'error' listener behind) when the port or address cannot be bound.
 */
export function listen(server: Server, port: number, host: string, listener: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(listener, host, port, err.code, err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export interface ListenTarget {
  /** What listens, as a user knows it: "MQTT", "MQTT WebSocket", "HTTP". */
  what: string;
  portSetting: string;
  hostSetting: string;
}

/**
 * The configuration error a bind failure stands for (port taken, privileged
 * port, address not on this machine), or the error unchanged when it is
 * something else. `err` is a ListenError or a system error from `listen`
 * (Fastify passes those through with their `code`, `port` and `address`).
 */
export function listenProblem(err: unknown, target: ListenTarget, at?: { host: string; port: number }): unknown {
  const e = err as (NodeJS.ErrnoException & { port?: number; address?: string }) | undefined;
  const code = err instanceof ListenError ? err.code : e?.code;
  const port = err instanceof ListenError ? err.port : (e?.port ?? at?.port);
  const host = err instanceof ListenError ? err.host : (e?.address ?? at?.host);
  const where = `${target.what} port ${port} on ${host}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(`${where} is already in use: stop what holds it, or set ${target.portSetting} to a free port.`);
    case 'EACCES':
      return new ConfigError(`${where} needs privileges to bind: set ${target.portSetting} to a port above 1023.`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`${target.what} address ${host} is not an address of this machine: set ${target.hostSetting} to one (or 0.0.0.0).`);
    default:
      return err;
  }
}
