import type pg from 'pg';
import { commandValues, INSERT_COMMAND_COLUMNS, rowToCommand, transitionSql, type CommandRepository, type CommandRow } from '../commands.js';

/** Command rows in PostgreSQL (times as BIGINT epoch ms, as the dispatcher computes with them). */
export function postgresCommands(pool: pg.Pool): CommandRepository {
  return {
    async create(c) {
      const values = commandValues(c);
      await pool.query(`INSERT INTO commands (${INSERT_COMMAND_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    },
    async get(id) {
      const r = await pool.query<CommandRow>('SELECT * FROM commands WHERE command_id = $1', [id]);
      return r.rows[0] ? rowToCommand(r.rows[0]) : undefined;
    },
    async listByDevice(deviceId, limit) {
      return (await pool.query<CommandRow>('SELECT * FROM commands WHERE device_id = $1 ORDER BY id DESC LIMIT $2', [deviceId, limit])).rows.map(rowToCommand);
    },
    async open() {
      return (await pool.query<CommandRow>("SELECT * FROM commands WHERE state IN ('queued', 'sent', 'delivered') ORDER BY id")).rows.map(rowToCommand);
    },
    async firstOpen(deviceId) {
      const r = await pool.query<CommandRow>("SELECT * FROM commands WHERE device_id = $1 AND state IN ('queued', 'sent', 'delivered') ORDER BY id LIMIT 1", [deviceId]);
      return r.rows[0] ? rowToCommand(r.rows[0]) : undefined;
    },
    async transition(id, from, patch) {
      const { sql, params } = transitionSql(id, from, patch, (i) => `$${i}`);
      // One statement: under READ COMMITTED a concurrent UPDATE of the row is
      // waited for and the WHERE re-checked, so only one transition wins.
      const r = await pool.query<CommandRow>(`${sql} RETURNING *`, params);
      return r.rows[0] ? rowToCommand(r.rows[0]) : undefined;
    },
  };
}
