/**
 * `telehub export`'s reading and writing against both real stores: raw
 * events (filters, keyset pages across rows that share a timestamp, text
 * that needs CSV quoting) and the 1m tier, in CSV, NDJSON and Parquet; the
 * Parquet files are read back with an independent reader (parquet-wasm,
 * the Rust `parquet` crate compiled to WebAssembly, through apache-arrow),
 * not with the writer's own library. And the writers stream: bytes reach
 * the output before the rows are all read.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { ParquetFile, readParquet, readSchema } from 'parquet-wasm';
import type { TelemetryEvent } from '../core/event.js';
import { aggregateOf, statsOf } from '../processors/rollups/aggregate.js';
import { rollups, ROLLUPS } from '../processors/rollups/index.js';
import { readRaw, RollupRefresher } from '../processors/rollups/refresher.js';
import { DEFAULT_TIERS } from '../processors/rollups/tiers.js';
import { PostgresStore } from '../storage/postgres/index.js';
import { SqliteStore } from '../storage/sqlite/index.js';
import type { Store } from '../storage/store.js';
import { stopTestPostgres, testDatabase } from '../../test/helpers/postgres.js';
import { EXPORT_FORMATS, writeExport, type ExportFormat } from './formats.js';
import { exportColumns, exportRows, RAW_COLUMNS, type ExportQuery } from './rows.js';

after(() => stopTestPostgres());

const MIN = 60_000;
const T0 = Date.UTC(2025, 5, 1, 10);
const NOW = T0 + 3 * 3_600_000;

async function openStore(kind: 'sqlite' | 'postgres', dir: string): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const store = new SqliteStore(path.join(dir, 'telehub.db'));
    await store.migrate();
    return { store, cleanup: () => store.close() };
  }
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize: 4 });
  await store.migrate();
  return { store, cleanup: async () => (await store.close(), await db.drop()) };
}

/** 1500 events over 3 devices and 2 types in 2 hours; every 4 share a timestamp (keyset ties); some text needs quoting. */
function makeEvents(): TelemetryEvent[] {
  return Array.from({ length: 1500 }, (_, i) => {
    const t = T0 + Math.floor(i / 4) * 19_000;
    const text = i % 11 === 0;
    return {
      eventId: `ev-${String(i).padStart(5, '0')}-${(i * 7919) % 1000}`,
      deviceId: `dev-${i % 3}`,
      schema: 1,
      eventType: i % 2 ? 'temperature' : 'state',
      valueNum: text ? null : ((i * 37) % 1000) / 7 - 50,
      valueText: text ? `on, "really"\nline ${i}` : null,
      unit: text ? null : 'C',
      tsDevice: i % 13 === 0 ? null : t,
      tsServer: t,
      meta: i % 5 === 0 ? JSON.stringify({ fw: '1.2', seq: i }) : '{}',
    };
  });
}

/** The rows a raw export must hold, computed from what was written: filtered, in (time, event_id) order. */
function expectedRaw(events: TelemetryEvent[], q: ExportQuery) {
  const time = (e: TelemetryEvent) => e.tsDevice ?? e.tsServer;
  return events
    .filter((e) => time(e) >= q.from && time(e) < q.to && (q.deviceId === undefined || e.deviceId === q.deviceId) && (q.eventType === undefined || e.eventType === q.eventType))
    .sort((a, b) => time(a) - time(b) || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0))
    .map((e) => ({
      event_id: e.eventId,
      device_id: e.deviceId,
      event_type: e.eventType,
      value_num: e.valueNum,
      value_text: e.valueText,
      unit: e.unit,
      ts_device: e.tsDevice,
      ts_server: e.tsServer,
      meta: JSON.parse(e.meta) as unknown,
    }));
}

/** A small RFC 4180 reader for the test (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += c;
  }
  assert.equal(field + row.join(''), '', 'the CSV ends with CRLF');
  return rows;
}

/** Reads back an export file as plain records with epoch-ms times, whatever its format. */
async function readBack(file: string, format: ExportFormat): Promise<Array<Record<string, unknown>>> {
  if (format === 'ndjson') {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      for (const k of ['ts_device', 'ts_server', 'bucket_start', 'first_t', 'last_t']) if (typeof o[k] === 'string') o[k] = Date.parse(o[k] as string);
      return o;
    });
  }
  if (format === 'csv') {
    const [header, ...lines] = parseCsv(readFileSync(file, 'utf8'));
    return lines.map((cells) => {
      const o: Record<string, unknown> = {};
      header.forEach((h, i) => {
        const v = cells[i];
        const type = RAW_COLUMNS.find((c) => c.name === h)?.type;
        o[h] = v === '' && h !== 'meta' ? null : type === 'DOUBLE' ? Number(v) : type === 'TIMESTAMP' ? Date.parse(v) : type === 'JSON' ? JSON.parse(v) : v;
      });
      return o;
    });
  }
  const bytes = readFileSync(file);
  const columns = tableFromIPC(readSchema(bytes).intoIPCStream()).schema.fields.map((f) => f.name);
  assert.deepEqual(columns, exportColumns(columns.includes('tier') ? '1m' : 'raw').map((c) => c.name));
  const pf = await ParquetFile.fromFile(new Blob([bytes]));
  // parquet-wasm's readParquet fails on a file without row groups (an empty export); its metadata reads it.
  if (pf.metadata().fileMetadata().numRows() === 0) return [];
  const table = tableFromIPC(readParquet(bytes).intoIPCStream());
  return table.toArray().map((r) => {
    const o = r.toJSON() as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) if (typeof v === 'bigint') o[k] = Number(v);
    if (typeof o.meta === 'string') o.meta = JSON.parse(o.meta);
    return o;
  });
}

async function exportToFile(store: Store, q: ExportQuery, format: ExportFormat, file: string): Promise<number> {
  const out = createWriteStream(file);
  const n = await writeExport(exportRows(store, q), exportColumns(q.tier), format, out);
  out.end();
  await finished(out);
  return n;
}

async function runRollups(store: Store): Promise<void> {
  const p = rollups(DEFAULT_TIERS);
  let at = await store.processors.register(ROLLUPS);
  for (;;) {
    const entries = await store.log.read(at, 500);
    if (entries.length === 0) break;
    const to = entries[entries.length - 1].seq;
    await store.processors.commit(ROLLUPS, at, to, await p.apply(entries, store.kind));
    at = to;
  }
  const refresher = new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW, maxBucketsPerRun: 1000 });
  while ((await refresher.refreshOnce()).more);
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`export on ${kind}`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-export-'));
    const events = makeEvents();
    let store: Store;
    let cleanup: () => Promise<void>;
    after(async () => {
      await cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('exports raw events exactly, in every format, across pages and filters', async () => {
      ({ store, cleanup } = await openStore(kind, dir));
      await store.writeBatch({ events: events.slice(0, 800), deadLetters: [] });
      await store.writeBatch({ events: events.slice(800), deadLetters: [] });
      const queries: ExportQuery[] = [
        { tier: 'raw', from: T0, to: T0 + 2 * 3_600_000, pageSize: 97 },
        { tier: 'raw', from: T0 + 10 * MIN, to: T0 + 70 * MIN, deviceId: 'dev-1', eventType: 'temperature', pageSize: 7 },
        { tier: 'raw', from: T0 + 2 * 3_600_000, to: NOW },
      ];
      for (const q of queries) {
        const expected = expectedRaw(events, q);
        for (const format of EXPORT_FORMATS) {
          const file = path.join(dir, `raw.${format}`);
          assert.equal(await exportToFile(store, q, format, file), expected.length);
          assert.deepStrictEqual(await readBack(file, format), expected, `${format} ${JSON.stringify(q)}`);
        }
      }
      assert.equal(expectedRaw(events, queries[0]).length, 1500, 'the first range holds every event');
      assert.equal(expectedRaw(events, queries[2]).length, 0, 'the last range is empty (a file with the columns only)');
    });

    it('exports the 1m tier: one row per device, type and bucket, equal to the raw events under it', async () => {
      await runRollups(store);
      const q: ExportQuery = { tier: '1m', from: T0, to: NOW, pageSize: 50 };
      for (const format of ['ndjson', 'parquet'] as const) {
        const file = path.join(dir, `1m.${format}`);
        await exportToFile(store, q, format, file);
        const rows = await readBack(file, format);
        const keys = rows.map((r) => `${r.device_id}/${r.event_type}/${r.bucket_start}`);
        assert.deepEqual(keys, [...keys].sort((a, b) => (a < b ? -1 : 1)).sort((a, b) => a.split('/').slice(0, 2).join('/').localeCompare(b.split('/').slice(0, 2).join('/')) || Number(a.split('/')[2]) - Number(b.split('/')[2])));
        assert.equal(new Set(keys).size, rows.length, 'no row twice');
        assert.equal(rows.reduce((s, r) => s + (r.count as number), 0), 1500, 'every event counted once');
        for (const r of rows) {
          const b = r.bucket_start as number;
          const raw = statsOf(aggregateOf(await readRaw(store.processors, store.kind, r.device_id as string, r.event_type as string, b, b + MIN)));
          assert.equal(r.tier, '1m');
          assert.equal(r.count, raw.count);
          assert.equal(r.min, raw.min);
          assert.equal(r.max, raw.max);
          assert.equal(r.avg, raw.avg);
          assert.equal(r.first, raw.first);
          assert.equal(r.last, raw.last);
        }
      }
    });
  });
}

describe('export writers stream', () => {
  for (const format of EXPORT_FORMATS) {
    it(`${format}: the first bytes leave before the rows are all read, and every row is written`, async () => {
      const total = 200_000;
      let pulled = 0;
      async function* rows() {
        for (let i = 0; i < total; i++) {
          pulled++;
          yield { event_id: `e${i}`, device_id: 'd', event_type: 't', value_num: i, value_text: null, unit: null, ts_device: null, ts_server: new Date(T0 + i), meta: '{}' };
        }
      }
      let pulledAtFirstWrite: number | undefined;
      let bytes = 0;
      const sink = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, cb) {
          pulledAtFirstWrite ??= pulled;
          bytes += chunk.length;
          setImmediate(cb); // a slow reader: the writers must wait for 'drain'
        },
      });
      assert.equal(await writeExport(rows(), RAW_COLUMNS, format, sink), total);
      assert.ok(pulledAtFirstWrite !== undefined && pulledAtFirstWrite < total / 2, `first write after ${pulledAtFirstWrite} of ${total} rows`);
      assert.ok(bytes > 0);
    });
  }
});
