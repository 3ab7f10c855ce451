/**
 * Writes exported rows as CSV, NDJSON or Parquet to a stream, as they come:
 * text formats a page of lines at a time, Parquet a row group at a time
 * (hyparquet-writer pulls one group from the rows, encodes it, and waits for
 * the stream before pulling the next), so memory is bounded by one page or
 * one row group, not by the export.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import type { ExportColumn, ExportRow } from './rows.js';

export const EXPORT_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Rows per Parquet row group: big enough for good compression, small enough to keep memory flat. */
const ROW_GROUP_ROWS = 50_000;
/** Text is handed to the stream in chunks of about this many characters. */
const TEXT_CHUNK = 256 * 1024;

/** Writes `chunk`, waiting for 'drain' when the stream's buffer is full (backpressure). */
async function write(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF;
 * null is an empty field, times are ISO-8601. Hand-written: a few lines,
 * where a CSV library would be a dependency for the same.
 */
function csvField(v: string | number | Date | null): string {
  if (v === null) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return String(v);
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function csvLine(columns: readonly ExportColumn[], row: ExportRow): string {
  return columns.map((c) => csvField(row[c.name])).join(',') + '\r\n';
}

function ndjsonLine(columns: readonly ExportColumn[], row: ExportRow): string {
  const o: Record<string, unknown> = {};
  for (const c of columns) {
    const v = row[c.name];
    o[c.name] = c.type === 'JSON' && typeof v === 'string' ? JSON.parse(v) : v instanceof Date ? v.toISOString() : v;
  }
  return JSON.stringify(o) + '\n';
}

async function writeText(rows: AsyncIterable<ExportRow>, columns: readonly ExportColumn[], out: Writable, line: (row: ExportRow) => string, header?: string): Promise<number> {
  let buf = header ?? '';
  let n = 0;
  for await (const row of rows) {
    buf += line(row);
    n++;
    if (buf.length >= TEXT_CHUNK) {
      await write(out, buf);
      buf = '';
    }
  }
  if (buf) await write(out, buf);
  return n;
}

/** A hyparquet-writer Writer that hands its bytes to `out` after every row group and at the end. */
function streamWriter(out: Writable): ByteWriter {
  const w = new ByteWriter();
  const flush = async () => {
    if (w.index === 0) return;
    // Copy: the buffer is reused for the next row group.
    const chunk = new Uint8Array(w.buffer, 0, w.index).slice();
    w.index = 0;
    await write(out, chunk);
  };
  Object.assign(w, { flush, finish: flush });
  return w;
}

const PARQUET_TYPE = { STRING: 'STRING', DOUBLE: 'DOUBLE', INT64: 'INT64', TIMESTAMP: 'TIMESTAMP', JSON: 'STRING' } as const;

async function writeParquet(rows: AsyncIterable<ExportRow>, columns: readonly ExportColumn[], out: Writable): Promise<number> {
  let n = 0;
  const int64 = columns.filter((c) => c.type === 'INT64').map((c) => c.name);
  async function* counted(): AsyncGenerator<Record<string, unknown>> {
    for await (const row of rows) {
      n++;
      if (int64.length === 0) yield row;
      else {
        const r: Record<string, unknown> = { ...row };
        for (const name of int64) r[name] = r[name] === null ? null : BigInt(r[name] as number);
        yield r;
      }
    }
  }
  await parquetWriteRows({
    writer: streamWriter(out),
    rows: counted(),
    columns: columns.map((c) => ({ name: c.name, type: PARQUET_TYPE[c.type], nullable: c.nullable })),
    rowGroupSize: ROW_GROUP_ROWS,
    createdBy: 'telehub export (hyparquet-writer)',
  });
  return n;
}

/** Writes every row to `out` in `format`; resolves with the number of rows once the last byte is handed to the stream. */
export function writeExport(rows: AsyncIterable<ExportRow>, columns: readonly ExportColumn[], format: ExportFormat, out: Writable): Promise<number> {
  switch (format) {
    case 'csv':
      return writeText(rows, columns, out, (r) => csvLine(columns, r), columns.map((c) => c.name).join(',') + '\r\n');
    case 'ndjson':
      return writeText(rows, columns, out, (r) => ndjsonLine(columns, r));
    case 'parquet':
      return writeParquet(rows, columns, out);
  }
}
