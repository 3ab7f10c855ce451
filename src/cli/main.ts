#!/usr/bin/env node
/**
 * The `telehub` command: `telehub --help` lists the commands, and
 * `telehub <command> --help` shows each one's options (see commands/ and
 * docs/cli.md). Exit codes follow sysexits(3): 64 for a wrong command line,
 * 65 for data that clashes with the store, 78 for an invalid setting.
 */
import { KEEP_RUNNING } from './command.js';
import { runCli } from './run.js';

// `telehub events | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  stdout: process.stdout,
});
if (code !== KEEP_RUNNING) process.exitCode = code;
