/**
 * The bytes of a change-history export — CSV (RFC 4180) and JSON — and their digest. The CLI and the
 * web view render through here, so the same rows give the same bytes and the same digest. Pure.
 */
import { createHash } from 'node:crypto';
import type { ChangeRow } from './rows.js';

/** The columns of the CSV, in order: every ChangeRow field. */
export const CSV_COLUMNS = [
  'time',
  'tenant',
  'namespace',
  'kind',
  'name',
  'revision',
  'status',
  'verdict',
  'user',
  'fieldManager',
  'commit',
  'approver',
  'pipelineRun',
  'changeId',
  'reason',
  'imagesBefore',
  'imagesAfter',
  'changes',
  'rollout',
] as const satisfies readonly (keyof ChangeRow)[];

/**
 * Characters a spreadsheet reads as the start of a formula (or that hide one behind a control
 * character), per OWASP's "CSV Injection" page: such a cell is prefixed with a single quote. Also when
 * they follow leading white space (spreadsheets trim it: ` =1`, NBSP, the ideographic space) or
 * zero-width characters, and in their full-width forms (＝＋－＠), which East Asian locales read as
 * the ASCII ones.
 */
const FORMULA_START = /^[\s\u200b-\u200d\u2060\ufeff]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r]/;
/**
 * RFC 4180 §2.6: a field holding a double quote, comma or line break is quoted. Semicolons and tabs
 * too: spreadsheets in semicolon-delimited locales (de-DE, fr-FR) split there, and a quoted field is
 * one cell whatever the delimiter, so `x;=1+1` can never become a cell `=1+1`.
 */
const NEEDS_QUOTES = /[",;\t\r\n]/;
/**
 * Quoting alone is not enough there: a spreadsheet that splits at `;` honours a quote only at the
 * start of its own field, so `…,"bob;=HYPERLINK(…)"` still gives it a field `=HYPERLINK(…)"`; one that
 * splits lines inside quotes likewise. So a formula start after a `;`, tab or line break inside a cell
 * is neutralised like one at its start: `bob;'=HYPERLINK(…)`.
 */
const FORMULA_AFTER_SEPARATOR = /([;\t\r\n])(?=[\s\u200b-\u200d\u2060\ufeff]*[=+\-@\uff1d\uff0b\uff0d\uff20])/g;

/** One CSV cell: neutralised against formula injection, then quoted as RFC 4180 requires. */
export function csvCell(value: string): string {
  const inner = value.replace(FORMULA_AFTER_SEPARATOR, "$1'");
  const safe = FORMULA_START.test(inner) ? `'${inner}` : inner;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function cellText(row: ChangeRow, column: (typeof CSV_COLUMNS)[number]): string {
  const v = row[column];
  if (v === undefined) return '';
  // Images never hold spaces (`container=image`); changes may hold anything but are one line each.
  if (column === 'imagesBefore' || column === 'imagesAfter') return (v as string[]).join(' ');
  if (column === 'changes') return (v as string[]).join('; ');
  return String(v);
}

/** The CSV of `rows`: a header row, one record per row, CRLF after every record (RFC 4180 §2.1–2.3). */
export function renderCsv(rows: readonly ChangeRow[]): string {
  const lines = [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(cellText(r, c))).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

/** What a JSON export says about itself. */
export interface ExportMeta {
  tenant?: string;
  namespaces?: readonly string[];
  /** RFC 3339; absent for "from the beginning" / "until now". */
  since?: string;
  until?: string;
  generatedAt: string;
  /** The digest of the policy set the export was made against, when known. */
  policyDigest?: string;
  /** True when the row cap cut the export; `nextSince` starts the next part. */
  truncated?: boolean;
  nextSince?: string;
}

/** A row with its fields in the CSV's order, absent ones left out: the same rows give the same bytes. */
function orderedRow(row: ChangeRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of CSV_COLUMNS) if (row[c] !== undefined) out[c] = row[c];
  return out;
}

/** The JSON export: `{ tenant, since, until, generatedAt, policyDigest?, …, rows }`, two-space indented, a final newline. */
export function renderJson(meta: ExportMeta, rows: readonly ChangeRow[]): string {
  const doc = {
    tenant: meta.tenant ?? null,
    ...(meta.namespaces !== undefined ? { namespaces: [...meta.namespaces] } : {}),
    since: meta.since ?? null,
    until: meta.until ?? null,
    generatedAt: meta.generatedAt,
    ...(meta.policyDigest !== undefined ? { policyDigest: meta.policyDigest } : {}),
    truncated: meta.truncated ?? false,
    ...(meta.nextSince !== undefined ? { nextSince: meta.nextSince } : {}),
    rows: rows.map(orderedRow),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** `sha256:<hex>` of the exact bytes (a string is hashed as its UTF-8 bytes). */
export function exportDigest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
