/**
 * Reads a route table of docs/http-api.md: the first Markdown table under
 * the heading that starts with `heading`, whose rows begin
 * `| \`METHOD /path\` | 200, 400, … |`. Strict on purpose: a row that does
 * not have that shape throws rather than being skipped, so a typo in the
 * doc cannot quietly drop a route from what the tests compare.
 */
export interface DocumentedRoute {
  /** Lower case, as in the OpenAPI document. */
  method: string;
  path: string;
  /** Sorted, as strings (the OpenAPI document's response keys). */
  statuses: string[];
}

export function parseRouteTable(markdown: string, heading: string): DocumentedRoute[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{2,4} /.test(l) && l.replace(/^#+ /, '').startsWith(heading));
  if (start < 0) throw new Error(`no heading "${heading}" in the document`);
  const rows: DocumentedRoute[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,4} /.test(line)) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (!inTable) {
      inTable = true; // the header row
      continue;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue; // the separator row
    const route = /^`(GET|POST|PUT|PATCH|DELETE) (\/[^`\s]*)`$/.exec(cells[0] ?? '');
    const statuses = (cells[1] ?? '').split(',').map((s) => s.trim());
    if (!route || !statuses.every((s) => /^[1-5]\d\d$/.test(s))) throw new Error(`row of "${heading}" is not "| \`METHOD /path\` | 200, 400 |": ${line}`);
    rows.push({ method: route[1].toLowerCase(), path: route[2], statuses: statuses.sort() });
  }
  if (rows.length === 0) throw new Error(`no rows under "${heading}"`);
  return rows;
}
