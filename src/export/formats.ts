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

/**
 * hyparquet-writer 0.17 writes the empty row-group list of a file without
 * rows with Thrift element type 0 (no type); strict readers (Apache Arrow's Rust
 * reader, so parquet-wasm, DuckDB-like engines) refuse it. In such a footer
 * the list follows `num_rows = 0` (field 3, i64 0: 0x16 0x00) as field 4's
 * header 0x19 and the list header 0x00 (size 0, type 0); 0x0C says size 0,
 * STRUCT, as the format wants. Applied only to a file without rows.
 */
function fixEmptyRowGroupList(footer: Uint8Array): void {
  for (let i = footer.length - 4; i >= 0; i--) {
    if (footer[i] === 0x16 && footer[i + 1] === 0x00 && footer[i + 2] === 0x19 && (footer[i + 3] === 0x00 || footer[i + 3] === 0x03)) {
      footer[i + 3] = 0x0c;
      return;
    }
  }
}

/** A hyparquet-writer Writer that hands its bytes to `out` after every row group and at the end. */
function streamWriter(out: Writable, isEmpty: () => boolean): ByteWriter {
  const w = new ByteWriter();
  const flush = async (last: boolean) => {
    if (w.index === 0) return;
    // Copy: the buffer is reused for the next row group.
    const chunk = new Uint8Array(w.buffer, 0, w.index).slice();
    w.index = 0;
    if (last && isEmpty()) fixEmptyRowGroupList(chunk);
    await write(out, chunk);
  };
  Object.assign(w, { flush: () => flush(false), finish: () => flush(true) });
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
    writer: streamWriter(out, () => n === 0),
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
