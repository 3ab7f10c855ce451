/**
 * How the `telehub` command ends when the user has to fix something: one line
 * on stderr, `telehub <command>: <what to fix>`, and a sysexits(3) code, never
 * a stack trace.
 */

/** Exit codes, from sysexits(3), so scripts can tell the causes apart. */
export const EXIT = {
  ok: 0,
  /** Something else went wrong (e.g. the store is unreachable). */
  failure: 1,
  /** EX_USAGE: the command line is wrong (unknown command or option, bad option value). */
  usage: 64,
  /** EX_DATAERR: the command line is well formed but its data clashes with what is stored. */
  dataError: 65,
  /** EX_UNAVAILABLE: a tool the command needs is missing (pg_dump, pg_restore). */
  unavailable: 69,
  /** EX_CONFIG: a setting (environment variable) is invalid. */
  config: 78,
} as const;

/** An error the user fixes; `exitCode` says which kind. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line (EX_USAGE, 64). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** Well-formed input that clashes with stored data, e.g. a token name already in use (EX_DATAERR, 65). */
export class DataError extends CliError {
  constructor(message: string) {
    super(message, EXIT.dataError);
    this.name = 'DataError';
  }
}
