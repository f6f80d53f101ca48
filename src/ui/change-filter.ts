/**
 * The tenant page's query (`?since=&until=&verdict=&user=&q=&sort=&dir=`): parsed with defaults (the
 * last 30 days, newest first), applied to change rows, and written back as a query string for links.
 * Bad values are reported, never guessed at. Pure.
 */
import type { ChangeRow } from './data.js';

/** The default period: a month of changes, what a monthly review looks at. */
const DEFAULT_PERIOD_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;
/** A search longer than this is no search a person typed; it is cut, not matched. */
const MAX_TEXT = 200;

export const VERDICTS = ['verified', 'unverified', 'break-glass'] as const;
export const SORT_KEYS = ['time', 'workload', 'user', 'verdict', 'commit', 'approver'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** A parsed filter. */
export interface ChangeFilter {
  since: Date;
  until: Date;
  verdict?: (typeof VERDICTS)[number];
  user?: string;
  q?: string;
  sort: SortKey;
  dir: 'asc' | 'desc';
}

/** A date as typed: `YYYY-MM-DD` (the whole day, UTC) or an RFC 3339 time. */
function parseDate(text: string, endOfDay: boolean): Date | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = new Date(`${text}T00:00:00Z`);
    if (Number.isNaN(d.getTime())) return undefined;
    return endOfDay ? new Date(d.getTime() + DAY_MS - 1) : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The filter from a query, with one message per value that was refused (its default then applies). */
export function parseChangeFilter(params: URLSearchParams, now: Date): { filter: ChangeFilter; errors: string[] } {
  const errors: string[] = [];
  const text = (k: string) => (params.get(k) ?? '').trim().slice(0, MAX_TEXT);
  const until = text('until') ? parseDate(text('until'), true) : now;
  if (!until) errors.push('until: use YYYY-MM-DD or an RFC 3339 time');
  const end = until ?? now;
  const since = text('since') ? parseDate(text('since'), false) : new Date(end.getTime() - DEFAULT_PERIOD_DAYS * DAY_MS);
  if (!since) errors.push('since: use YYYY-MM-DD or an RFC 3339 time');
  const filter: ChangeFilter = { since: since ?? new Date(end.getTime() - DEFAULT_PERIOD_DAYS * DAY_MS), until: end, sort: 'time', dir: 'desc' };
  const verdict = text('verdict');
  if ((VERDICTS as readonly string[]).includes(verdict)) filter.verdict = verdict as ChangeFilter['verdict'];
  else if (verdict) errors.push(`verdict: one of ${VERDICTS.join(', ')}`);
  if (text('user')) filter.user = text('user');
  if (text('q')) filter.q = text('q');
  const sort = text('sort');
  if ((SORT_KEYS as readonly string[]).includes(sort)) filter.sort = sort as SortKey;
  else if (sort) errors.push(`sort: one of ${SORT_KEYS.join(', ')}`);
  const dir = text('dir');
  if (dir === 'asc' || dir === 'desc') filter.dir = dir;
  else if (dir) errors.push('dir: asc or desc');
  if (filter.since > filter.until) errors.push('since is after until: nothing can match');
  return { filter, errors };
}

function sortValue(row: ChangeRow, key: SortKey): string {
  switch (key) {
    case 'time':
      return row.time;
    case 'workload':
      return `${row.namespace}/${row.kind}/${row.name}`;
    case 'user':
      return row.user ?? '';
    case 'verdict':
      return row.verdict ?? '';
    case 'commit':
      return row.commit ?? '';
    case 'approver':
      return row.approver ?? '';
  }
}

/** The rows the filter keeps (the period is the source's business too; checked again here), sorted. */
export function applyChangeFilter(rows: readonly ChangeRow[], f: ChangeFilter): ChangeRow[] {
  const q = f.q?.toLowerCase();
  const kept = rows.filter((r) => {
    const t = Date.parse(r.time);
    if (!Number.isNaN(t) && (t < f.since.getTime() || t > f.until.getTime())) return false;
    if (f.verdict && r.verdict !== f.verdict) return false;
    if (f.user && r.user !== f.user) return false;
    if (q) {
      const hay = [r.namespace, r.kind, r.name, r.user, r.commit, r.approver, r.reason, r.changeId, ...r.imagesBefore, ...r.imagesAfter, ...r.changes].filter(Boolean).join('\n').toLowerCase();
      if (!hay.includes(q)) return false;
    }
    return true;
  });
  const sign = f.dir === 'asc' ? 1 : -1;
  // Ties fall back to time, so equal keys still list in a stable, meaningful order.
  return kept.sort((a, b) => sign * (sortValue(a, f.sort).localeCompare(sortValue(b, f.sort)) || a.time.localeCompare(b.time)));
}

/** The filter as a query string (for export links and sort headers); `override` replaces some values. */
export function filterQuery(f: ChangeFilter, override: Partial<Record<'sort' | 'dir', string>> = {}): string {
  const p = new URLSearchParams();
  p.set('since', f.since.toISOString());
  p.set('until', f.until.toISOString());
  if (f.verdict) p.set('verdict', f.verdict);
  if (f.user) p.set('user', f.user);
  if (f.q) p.set('q', f.q);
  p.set('sort', override.sort ?? f.sort);
  p.set('dir', override.dir ?? f.dir);
  return p.toString();
}
