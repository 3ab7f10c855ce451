/** A mistake in how a command was called: the CLI prints the message and the usage, and exits 64 (EX_USAGE). */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
  }
}
