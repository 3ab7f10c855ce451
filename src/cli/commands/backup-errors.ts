/** Maps a BackupError to the CLI's one-line errors and sysexits codes. */
import { BackupError } from '../../storage/backup/errors.js';
import { CliError, DataError, EXIT } from '../errors.js';

const CODE = { data: EXIT.dataError, unavailable: EXIT.unavailable, config: EXIT.config, failed: EXIT.failure } as const;

/** Runs `fn`, turning a BackupError into a CliError with its exit code. */
export async function asCliErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BackupError) throw err.kind === 'data' ? new DataError(err.message) : new CliError(err.message, CODE[err.kind]);
    throw err;
  }
}
