import type Database from 'better-sqlite3';
import { commandValues, INSERT_COMMAND_COLUMNS, rowToCommand, transitionSql, type CommandRepository, type CommandRow } from '../commands.js';

/** Command rows in SQLite, on the store's own connection (few and small). */
export function sqliteCommands(db: () => Database.Database): CommandRepository {
  return {
    async create(c) {
      db().prepare(`INSERT INTO commands (${INSERT_COMMAND_COLUMNS}) VALUES (${commandValues(c).map(() => '?').join(', ')})`).run(...commandValues(c));
    },
    async get(id) {
      const r = db().prepare('SELECT * FROM commands WHERE command_id = ?').get(id) as CommandRow | undefined;
      return r ? rowToCommand(r) : undefined;
    },
    async listByDevice(deviceId, limit) {
      return (db().prepare('SELECT * FROM commands WHERE device_id = ? ORDER BY id DESC LIMIT ?').all(deviceId, limit) as CommandRow[]).map(rowToCommand);
    },
    async open() {
      return (db().prepare("SELECT * FROM commands WHERE state IN ('queued', 'sent', 'delivered') ORDER BY id").all() as CommandRow[]).map(rowToCommand);
    },
    async firstOpen(deviceId) {
      const r = db().prepare("SELECT * FROM commands WHERE device_id = ? AND state IN ('queued', 'sent', 'delivered') ORDER BY id LIMIT 1").get(deviceId) as CommandRow | undefined;
      return r ? rowToCommand(r) : undefined;
    },
    async transition(id, from, patch) {
      const { sql, params } = transitionSql(id, from, patch, () => '?');
      // One statement with RETURNING: the check and the change are atomic.
      const r = db().prepare(`${sql} RETURNING *`).get(...params) as CommandRow | undefined;
      return r ? rowToCommand(r) : undefined;
    },
  };
}
