/**
 * The commit log and processor checkpoints of the PostgreSQL store.
 *
 * A read is one statement, so one snapshot: with the log lock of the write
 * path (index.ts, LOG_LOCK_KEY) every number below the highest one visible is
 * final, and the reader may move past it. Processor transactions commit with
 * `synchronous_commit = off`: a server crash can undo the newest of them, state
 * and checkpoint together (then applied again), never one without the other.
 */
import type pg from 'pg';
import { CheckpointMovedError, pageOf, wantsAll, type CommitLog, type ProcessorStore } from '../log.js';
import { backlogFromRow, checkName, checkpointFromRow, rowToEntry } from '../log-rows.js';
import { inTransaction } from './transaction.js';

const ms = (col: string) => `round(extract(epoch FROM ${col}) * 1000)::float8`;

// Each side orders by the table's column (not the float8 output alias), so it
// is a walk of the seq index that stops after $2 rows. A presence transition
// rides in the columns rowToEntry (log-rows.ts) names.
const READ_SQL = `SELECT * FROM (
    (SELECT seq::float8 AS seq, 'e' AS k, event_id, device_id, schema, event_type, value_num, value_text, unit,
            ${ms('ts_device')} AS ts_device, ${ms('ts_server')} AS ts_server, COALESCE(meta::text, '{}') AS meta,
            NULL::float8 AS id, NULL AS reason, NULL AS message, NULL AS topic, NULL AS source, NULL::bytea AS payload
       FROM events WHERE events.seq > $1 ORDER BY events.seq LIMIT $2)
    UNION ALL
    (SELECT seq::float8, 'd', NULL, device_id, NULL, NULL, NULL, NULL, NULL, NULL, ${ms('received_at')}, NULL,
            id::float8, reason, message, topic, source, payload
       FROM deadletters WHERE deadletters.seq > $1 ORDER BY deadletters.seq LIMIT $2)
    UNION ALL
    (SELECT seq::float8, 'p', NULL, device_id, NULL, NULL, NULL, state, NULL, NULL, ${ms('at')}, NULL,
            NULL, cause, from_state, NULL, NULL, NULL
       FROM presence_transitions WHERE presence_transitions.seq > $1 ORDER BY presence_transitions.seq LIMIT $2)
  ) AS log ORDER BY seq LIMIT $2`;

// A page without the entries its reader does not want: the window READ_SQL
// reads is taken once (materialized), the wanted rows of it are returned,
// and a last row (k = 't') tells how far the window went and how many
// entries it held. $3: the event types wanted (NULL: all), $4: dead
// letters, $5: presence transitions.
const READ_PAGE_SQL = `WITH w AS MATERIALIZED (${READ_SQL})
  SELECT * FROM w
   WHERE (k = 'e' AND ($3::text[] IS NULL OR event_type = ANY($3::text[]))) OR (k = 'd' AND $4::bool) OR (k = 'p' AND $5::bool)
  UNION ALL
  SELECT max(seq), 't', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(*)::float8, NULL, NULL, NULL, NULL, NULL FROM w
  ORDER BY seq, k`;

const BACKLOG_SQL = `SELECT
    (SELECT count(*)::float8 FROM (SELECT 1 FROM events WHERE seq > $1 LIMIT $2) a) AS ne,
    (SELECT count(*)::float8 FROM (SELECT 1 FROM deadletters WHERE seq > $1 LIMIT $2) b) AS nd,
    (SELECT count(*)::float8 FROM (SELECT 1 FROM presence_transitions WHERE seq > $1 LIMIT $2) c) AS np,
    e.seq::float8 AS es, ${ms('e.ts_server')} AS et, d.seq::float8 AS ds, ${ms('d.received_at')} AS dt,
    p.seq::float8 AS ps, ${ms('p.at')} AS pt
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT seq, ts_server FROM events WHERE seq > $1 ORDER BY seq LIMIT 1) e ON true
  LEFT JOIN LATERAL (SELECT seq, received_at FROM deadletters WHERE seq > $1 ORDER BY seq LIMIT 1) d ON true
  LEFT JOIN LATERAL (SELECT seq, at FROM presence_transitions WHERE seq > $1 ORDER BY seq LIMIT 1) p ON true`;

export function postgresLog(pool: pg.Pool): { log: CommitLog; processors: ProcessorStore } {
  const log: CommitLog = {
    async read(after, limit) {
      const { rows } = await pool.query({ name: 'telehub_log_read_p', text: READ_SQL, values: [after, limit] });
      return rows.map((r: Record<string, unknown>) => rowToEntry(r, (v) => v as Buffer));
    },
    async readPage(after, limit, interest) {
      if (wantsAll(interest)) return pageOf(after, await log.read(after, limit), interest);
      const types = interest.events === 'all' ? null : [...interest.events];
      const { rows } = await pool.query({ name: 'telehub_log_page_p', text: READ_PAGE_SQL, values: [after, limit, types, interest.deadLetters, interest.presence] });
      const trailer = rows.pop() as { k: string; seq: number | null; id: number };
      if (trailer?.k !== 't') throw new Error('the log page has no trailer row');
      return { entries: rows.map((r: Record<string, unknown>) => rowToEntry(r, (v) => v as Buffer)), to: trailer.seq ?? after, scanned: trailer.id };
    },
    async head() {
      const { rows } = await pool.query<{ h: number }>(
        'SELECT COALESCE(GREATEST((SELECT max(seq) FROM events), (SELECT max(seq) FROM deadletters), (SELECT max(seq) FROM presence_transitions)), 0)::float8 AS h',
      );
      return rows[0].h;
    },
    async backlog(after, cap) {
      const { rows } = await pool.query({ name: 'telehub_log_backlog_p', text: BACKLOG_SQL, values: [after, cap] });
      return backlogFromRow(rows[0], cap);
    },
  };
  const get = async (name: string): Promise<number | undefined> => {
    const { rows } = await pool.query<{ seq: number }>('SELECT seq::float8 AS seq FROM processor_checkpoints WHERE name = $1', [name]);
    return rows.length === 0 ? undefined : rows[0].seq;
  };
  const processors: Omit<ProcessorStore, 'select'> = {
    async register(name) {
      checkName(name, 'processor');
      await pool.query('INSERT INTO processor_checkpoints (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING', [name]);
      return (await get(name)) ?? 0;
    },
    get,
    async list() {
      const { rows } = await pool.query(
        `SELECT name, seq::float8 AS seq, ${ms('updated_at')} AS updated_at, state, errors::float8 AS errors, last_error, ${ms('last_error_at')} AS last_error_at
           FROM processor_checkpoints ORDER BY name`,
      );
      return rows.map(checkpointFromRow);
    },
    async commit(name, fromSeq, toSeq, statements) {
      // The checkpoint's UPDATE goes first, so a second runner of the same
      // processor waits on this row lock and then finds the checkpoint moved,
      // rather than applying twice. It rides with BEGIN and SET LOCAL in one
      // simple query (its values are checked literals), and a commit with no
      // statements adds COMMIT to it: one round trip instead of four.
      checkName(name, 'processor');
      for (const s of [fromSeq, toSeq]) if (!Number.isSafeInteger(s) || s < 0) throw new Error(`invalid checkpoint seq: ${s}`);
      const head = `BEGIN; SET LOCAL synchronous_commit = off; UPDATE processor_checkpoints SET seq = ${toSeq}, updated_at = now() WHERE name = '${name}' AND seq = ${fromSeq}`;
      const alone = statements.length === 0;
      await inTransaction(
        pool,
        async (c, begun) => {
          if (begun[2].rowCount !== 1) throw new CheckpointMovedError(name, fromSeq);
          for (const s of statements) {
            const r = await c.query(s.sql, s.params);
            if (s.expect !== undefined && r.rowCount !== s.expect) throw new CheckpointMovedError(name, fromSeq);
          }
        },
        // Alone, the checkpoint's move is the whole transaction: COMMIT rides
        // along (a checkpoint found moved then commits a transaction that
        // changed nothing).
        { begin: alone ? `${head}; COMMIT` : head, commit: !alone },
      );
    },
    async execute(statements) {
      if (statements.length === 0) return;
      await inTransaction(pool, async (c) => {
        for (const s of statements) await c.query(s.sql, s.params);
      });
    },
    async recordState(name, state, error) {
      if (error === undefined) await pool.query('UPDATE processor_checkpoints SET state = $1 WHERE name = $2', [state, name]);
      else {
        await pool.query('UPDATE processor_checkpoints SET state = $1, errors = errors + 1, last_error = $2, last_error_at = now() WHERE name = $3', [state, error.slice(0, 2000), name]);
      }
    },
    async reset(name, tables) {
      checkName(name, 'processor');
      for (const t of tables) checkName(t, 'table');
      await inTransaction(pool, async (c) => {
        // The checkpoint row first: a runner committing meanwhile waits, then sees it moved.
        await c.query(
          'INSERT INTO processor_checkpoints (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO UPDATE SET seq = 0, updated_at = now(), errors = 0, last_error = NULL, last_error_at = NULL',
          [name],
        );
        for (const t of tables) await c.query(`DELETE FROM ${t}`);
      });
    },
  };
  return { log, processors: { ...processors, select: async (sql, params) => (await pool.query(sql, params)).rows } };
}
