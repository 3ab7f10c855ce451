import pino, { type Logger } from 'pino';

/** Structured JSON logs, one event a line; secrets are redacted by path. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'telehub' },
    redact: { paths: ['password', '*.password', 'connectionString', '*.connectionString'], censor: '<hidden>' },
  });
}
