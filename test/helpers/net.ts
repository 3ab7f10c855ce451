import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A TCP port free on 127.0.0.1 right now and promised to no one else, for a
 * child process or server that binds it later (tests and the bench).
 *
 * Asking the OS for port 0 and closing it again is not enough when test files
 * run side by side: between the close and the child's bind, another test
 * process may be handed the same port by its own `listen(0)`, or use it as the
 * local port of an outgoing connection, and the child then exits with "port
 * in use" (or, worse, a test talks to another test's telehub). So:
 * - ports come from below the kernel's ephemeral range
 *   (`/proc/sys/net/ipv4/ip_local_port_range`), which outgoing connections
 *   and `listen(0)` never use;
 * - each is reserved across processes by a lock file created exclusively
 *   (`$TMPDIR/telehub-test-ports/<port>`, holding the pid), removed when this
 *   process exits; a lock whose process is gone (killed before it could
 *   remove its locks) is cleared when met, and the port taken at a later call
 *   (taking it at once could race another process clearing the same lock);
 * - and it must bind on 127.0.0.1 now (a service of the machine may hold it).
 * Where the range below is too small, it falls back to `listen(0)`.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  const span = low - RESERVED_FROM;
  if (span < 1000) return osPort();
  const dir = lockDir();
  mkdirSync(dir, { recursive: true });
  // From a random start, upwards (wrapping): processes starting together seldom walk the same ports.
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = RESERVED_FROM + ((start + i) % span);
    if (!reserve(dir, port)) continue;
    if (await bindable(port)) return port;
    // Held by something that is not a test (a service of the machine): keep the lock so no one tries it again.
  }
  return osPort();
}

/** Ports below this are left alone (well-known and registered services). */
export const RESERVED_FROM = 20000;
/** Where the locks are (`TELEHUB_TEST_PORT_LOCKS` for the helper's own test). */
const lockDir = () => process.env.TELEHUB_TEST_PORT_LOCKS || path.join(tmpdir(), 'telehub-test-ports');
const held: string[] = [];
let exitHook = false;

/** The first port of the kernel's ephemeral range; 0 where it cannot be read (not Linux). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 0;
  } catch {
    return 0; // not Linux: the OS's own pick
  }
}

/** Takes the lock file for `port`; false when another live process holds it. */
function reserve(dir: string, port: number): boolean {
  const file = path.join(dir, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    clearIfStale(file);
    return false;
  }
  held.push(file);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const f of held) rmSync(f, { force: true });
    });
  }
  return true;
}

/** Removes a lock left by a process that is gone (killed before its exit hook ran); the port is picked again later, not now. */
function clearIfStale(file: string): void {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid === process.pid) return; // ours
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        return; // alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPERM') return; // alive, someone else's
      }
    }
    // Its process is gone; a lock written this instant (empty, being written) is left alone.
    if (Date.now() - statSync(file).mtimeMs > 5_000) rmSync(file, { force: true });
  } catch {
    // removed meanwhile
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
