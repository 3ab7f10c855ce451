/** Why a backup or restore could not run, as the CLI maps it to an exit code. */
export type BackupErrorKind =
  /** The file or the target does not fit (wrong kind of backup, target not empty): exit 65. */
  | 'data'
  /** A tool is missing (pg_dump, pg_restore): exit 69. */
  | 'unavailable'
  /** The store is not where the settings say: exit 78. */
  | 'config'
  /** The tool or the engine failed: exit 1. */
  | 'failed';

/** A backup or restore error the user can act on: one line, no stack. */
export class BackupError extends Error {
  constructor(
    readonly kind: BackupErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

const SQLITE_MAGIC = 'SQLite format 3\u0000';
const PGDMP_MAGIC = 'PGDMP';

/** What a backup file is, from its first bytes. */
export function backupKind(head: Buffer): 'sqlite' | 'postgres' | 'unknown' {
  if (head.subarray(0, 16).toString('latin1') === SQLITE_MAGIC) return 'sqlite';
  if (head.subarray(0, 5).toString('latin1') === PGDMP_MAGIC) return 'postgres';
  return 'unknown';
}
