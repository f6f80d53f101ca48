/** The operator's view of a workload's history: one row per revision, from records and their labels. Pure. */
import type { StoredRelease } from './storage.js';

export interface HistoryRow {
  revision: number;
  updated: string;
  status: string;
  tenant?: string;
  commit?: string;
  approver?: string;
  user?: string;
  fieldManager?: string;
  changeId?: string;
  verified?: boolean;
  breakGlass?: boolean;
  description: string;
  chart?: string;
}

/** Rows in revision order; provenance comes from tracegate's release labels (absent on Helm's own revisions). */
export function historyRows(history: readonly StoredRelease[], prefix: string): HistoryRow[] {
  return [...history]
    .sort((a, b) => a.release.version - b.release.version)
    .map(({ release, labels }) => {
      const l = (name: string) => labels[`${prefix}${name}`] || undefined;
      const meta = release.chart?.metadata;
      const row: HistoryRow = {
        revision: release.version,
        updated: release.info.last_deployed ?? '',
        status: release.info.status ?? 'unknown',
        description: release.info.description ?? '',
        ...(meta?.name ? { chart: `${meta.name}-${meta.version ?? ''}` } : {}),
      };
      const set = (key: keyof HistoryRow, v: string | undefined) => {
        if (v !== undefined) (row as unknown as Record<string, unknown>)[key] = v;
      };
      set('tenant', l('tenant'));
      set('commit', l('commit'));
      set('approver', l('approver'));
      set('user', l('changed-by'));
      set('fieldManager', l('field-manager'));
      set('changeId', l('change-id'));
      if (l('verified') !== undefined) row.verified = l('verified') === 'true';
      if (l('break-glass') === 'true') row.breakGlass = true;
      return row;
    });
}

/** A fixed-width table like `helm history`, with tracegate's provenance columns. */
export function formatHistoryTable(rows: readonly HistoryRow[]): string {
  const header = ['REVISION', 'UPDATED', 'STATUS', 'TENANT', 'COMMIT', 'APPROVER', 'USER', 'MANAGER', 'DESCRIPTION'];
  const body = rows.map((r) => [
    String(r.revision),
    r.updated.replace(/\.\d+Z$/, 'Z'),
    r.status,
    r.tenant ?? '-',
    r.commit ?? '-',
    r.approver ?? '-',
    r.user ?? '-',
    r.fieldManager ?? '-',
    `${r.verified === false ? '[unverified] ' : ''}${r.breakGlass ? '[break-glass] ' : ''}${r.description}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...body.map(line)].join('\n')}\n`;
}
