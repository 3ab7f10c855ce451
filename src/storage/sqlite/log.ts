/**
 * The commit log and processor checkpoints of the SQLite store.
 *
 * Reads run on the reader thread (one statement, so one snapshot); writes
 * (checkpoints with processor state) run on the writer connection through
 * `exec`, one transaction each, so they queue with the batches instead of
 * contending for SQLite's single write lock from another connection.
 */
import { backlogFromRow, checkName, checkpointFromRow, rowToEntry } from '../log-rows.js';
import { CheckpointMovedError, pageOf, wantsAll, type CheckpointRow, type CommitLog, type ProcessorStore, type ProcessorStatement } from '../log.js';
import { asBuffer, type SqlReader } from './reader.js';
import type { ExecStatement } from './index.js';

// Each side is limited before the union so the planner walks the seq indexes
// in order and stops early; the outer ORDER BY merges them. A presence
// transition rides in the columns rowToEntry (log-rows.ts) names.
const READ_SQL = `SELECT * FROM (
    SELECT seq, 'e' AS k, event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta,
           NULL AS id, NULL AS reason, NULL AS message, NULL AS topic, NULL AS source, NULL AS payload
      FROM (SELECT * FROM events WHERE seq > @after ORDER BY seq LIMIT @limit)
    UNION ALL
    SELECT seq, 'd', NULL, device_id, NULL, NULL, NULL, NULL, NULL, NULL, received_at, NULL,
           id, reason, message, topic, source, payload
      FROM (SELECT * FROM deadletters WHERE seq > @after ORDER BY seq LIMIT @limit)
    UNION ALL
    SELECT seq, 'p', NULL, device_id, NULL, NULL, NULL, state, NULL, NULL, at, NULL,
           NULL, cause, from_state, NULL, NULL, NULL
      FROM (SELECT * FROM presence_transitions WHERE seq > @after ORDER BY seq LIMIT @limit)
  ) ORDER BY seq LIMIT @limit`;

// A page without the entries its reader does not want (see the PostgreSQL
// store's READ_PAGE_SQL): the window is read once, its wanted rows returned,
// and a last row (k = 't') tells how far it went and how many entries it held.
// @types: a JSON array of the event types wanted, NULL for all.
const READ_PAGE_SQL = `WITH w AS MATERIALIZED (${READ_SQL})
  SELECT * FROM (
    SELECT * FROM w
     WHERE (k = 'e' AND (@types IS NULL OR event_type IN (SELECT value FROM json_each(@types)))) OR (k = 'd' AND @dl) OR (k = 'p' AND @pr)
    UNION ALL
    SELECT max(seq), 't', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(*), NULL, NULL, NULL, NULL, NULL FROM w
  ) ORDER BY seq, k`;

const BACKLOG_SQL = `SELECT
    (SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE seq > @after LIMIT @cap)) AS ne,
    (SELECT COUNT(*) FROM (SELECT 1 FROM deadletters WHERE seq > @after LIMIT @cap)) AS nd,
    (SELECT seq FROM events WHERE seq > @after ORDER BY seq LIMIT 1) AS es,
    (SELECT ts_server FROM events WHERE seq > @after ORDER BY seq LIMIT 1) AS et,
    (SELECT seq FROM deadletters WHERE seq > @after ORDER BY seq LIMIT 1) AS ds,
    (SELECT received_at FROM deadletters WHERE seq > @after ORDER BY seq LIMIT 1) AS dt,
    (SELECT COUNT(*) FROM (SELECT 1 FROM presence_transitions WHERE seq > @after LIMIT @cap)) AS np,
    (SELECT seq FROM presence_transitions WHERE seq > @after ORDER BY seq LIMIT 1) AS ps,
    (SELECT at FROM presence_transitions WHERE seq > @after ORDER BY seq LIMIT 1) AS pt`;

export function sqliteLog(reader: SqlReader, exec: (list: ExecStatement[]) => Promise<void>): { log: CommitLog; processors: ProcessorStore } {
  const log: CommitLog = {
    async read(after, limit) {
      const rows = await reader.all(READ_SQL, { after, limit });
      return rows.map((r) => rowToEntry(r, (v) => asBuffer(v as Uint8Array)));
    },
    async readPage(after, limit, interest) {
      if (wantsAll(interest)) return pageOf(after, await log.read(after, limit), interest);
      const types = interest.events === 'all' ? null : JSON.stringify(interest.events);
      const rows = await reader.all(READ_PAGE_SQL, { after, limit, types, dl: interest.deadLetters ? 1 : 0, pr: interest.presence ? 1 : 0 });
      const trailer = rows.pop();
      if (trailer?.k !== 't') throw new Error('the log page has no trailer row');
      return { entries: rows.map((r) => rowToEntry(r, (v) => asBuffer(v as Uint8Array))), to: trailer.seq === null ? after : Number(trailer.seq), scanned: Number(trailer.id) };
    },
    async head() {
      const rows = await reader.all('SELECT seq FROM telehub_log_head WHERE id = 1', []);
      return rows.length === 0 ? 0 : Number(rows[0].seq);
    },
    async backlog(after, cap) {
      const rows = await reader.all(BACKLOG_SQL, { after, cap });
      return backlogFromRow(rows[0], cap);
    },
  };
  const get = async (name: string): Promise<number | undefined> => {
    const rows = await reader.all('SELECT seq FROM processor_checkpoints WHERE name = ?', [name]);
    return rows.length === 0 ? undefined : Number(rows[0].seq);
  };
  const processors: Omit<ProcessorStore, 'select'> = {
    async register(name) {
      checkName(name, 'processor');
      await exec([{ sql: 'INSERT INTO processor_checkpoints (name, seq, updated_at) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING', params: [name, Date.now()] }]);
      return (await get(name)) ?? 0;
    },
    get,
    async list() {
      const rows = await reader.all('SELECT name, seq, updated_at, state, errors, last_error, last_error_at FROM processor_checkpoints ORDER BY name', []);
      return rows.map(checkpointFromRow);
    },
    async commit(name, fromSeq, toSeq, statements: readonly ProcessorStatement[]) {
      // The checkpoint moves first and must change exactly one row: a second
      // runner (or a rebuild) that moved it makes this transaction undo itself.
      const list: ExecStatement[] = [
        { sql: 'UPDATE processor_checkpoints SET seq = ?, updated_at = ? WHERE name = ? AND seq = ?', params: [toSeq, Date.now(), name, fromSeq], expect: 1 },
        ...statements.map((s) => ({ sql: s.sql, params: s.params, expect: s.expect })),
      ];
      try {
        await exec(list);
      } catch (err) {
        if ((err as { code?: string }).code === 'TELEHUB_CHECKPOINT_MOVED') throw new CheckpointMovedError(name, fromSeq);
        throw err;
      }
    },
    async execute(statements) {
      if (statements.length > 0) await exec(statements.map((s) => ({ sql: s.sql, params: s.params })));
    },
    async recordState(name, state, error) {
      await exec([
        error === undefined
          ? { sql: 'UPDATE processor_checkpoints SET state = ? WHERE name = ?', params: [state, name] }
          : { sql: 'UPDATE processor_checkpoints SET state = ?, errors = errors + 1, last_error = ?, last_error_at = ? WHERE name = ?', params: [state, error.slice(0, 2000), Date.now(), name] },
      ]);
    },
    async reset(name, tables) {
      checkName(name, 'processor');
      for (const t of tables) checkName(t, 'table');
      await exec([
        ...tables.map((t) => ({ sql: `DELETE FROM ${t}`, params: [] })),
        { sql: 'INSERT INTO processor_checkpoints (name, seq, updated_at) VALUES (?, 0, ?) ON CONFLICT (name) DO UPDATE SET seq = 0, updated_at = excluded.updated_at, errors = 0, last_error = NULL, last_error_at = NULL', params: [name, Date.now()] },
      ]);
    },
  };
  return { log, processors: { ...processors, select: (sql, params) => reader.all(sql, params) } };
}

