/**
 * Every `telehub` command, in the order `telehub --help` lists them. A new
 * command is one file in this folder and one line here; its options and
 * examples then show in its `--help`, and the docs test wants it in
 * docs/cli.md.
 */
import type { Command } from '../command.js';
import { alerts } from './alerts.js';
import { backup } from './backup.js';
import { command } from './command.js';
import { config } from './config.js';
import { deadletters } from './deadletters.js';
import { events } from './events.js';
import { exportCommand } from './export.js';
import { migrate } from './migrate.js';
import { processors } from './processors.js';
import { restore } from './restore.js';
import { tiers } from './tiers.js';
import { simulate } from './simulate.js';
import { start } from './start.js';
import { tokens } from './tokens.js';
import { trips } from './trips.js';

export const COMMANDS: readonly Command[] = [start, migrate, events, deadletters, processors, tiers, trips, alerts, tokens, command, simulate, exportCommand, backup, restore, config];
