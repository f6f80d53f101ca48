/** The operator's view of a workload's history: one row per revision, from records and their labels. Pure. */
import { isRecord } from '../k8s/types.js';
import { PROVENANCE_KEY_DEFAULTS } from '../policy/defaults.js';
import { findWorkloadDoc, splitManifest } from './manifest.js';
import type { StoredRelease } from './storage.js';

/**
 * Commit and approver of a revision tracegate did not write (Helm's own), from the annotations its
 * manifest gave the workload — the same keys and aliases the gate reads.
 */
export function manifestProvenance(manifest: string | undefined, kind: string, name: string, prefix: string): { commit?: string; approver?: string } {
  const part = manifest ? findWorkloadDoc(splitManifest(manifest), kind, name) : undefined;
  const doc = part?.doc.toJS() as { metadata?: { annotations?: unknown }; spec?: { template?: { metadata?: { annotations?: unknown } } } } | undefined;
  const sources = [doc?.metadata?.annotations, doc?.spec?.template?.metadata?.annotations].filter(isRecord);
  const pick = (key: { name: string; aliases: readonly string[] }) => {
    for (const src of sources) {
      for (const k of [`${prefix}${key.name}`, ...key.aliases]) if (typeof src[k] === 'string' && src[k]) return src[k] as string;
    }
    return undefined;
  };
  const commit = pick(PROVENANCE_KEY_DEFAULTS.commit);
  const approver = pick(PROVENANCE_KEY_DEFAULTS.approver);
  return { ...(commit ? { commit } : {}), ...(approver ? { approver } : {}) };
}

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
export function historyRows(history: readonly StoredRelease[], prefix: string, workload?: { kind: string; name: string }): HistoryRow[] {
  return [...history]
    .sort((a, b) => a.release.version - b.release.version)
    .map(({ release, labels }) => {
      const l = (name: string) => labels[`${prefix}${name}`] || undefined;
      const meta = release.chart?.metadata;
      const row: HistoryRow = {
        revision: release.version,
        updated: release.info.last_deployed ?? '',
        status: release.info.status ?? 'unknown',
        // One row per revision: a failed revision's multi-line reason is folded onto its line.
        description: (release.info.description ?? '').replace(/\s*\n\s*/g, ' '),
        ...(meta?.name ? { chart: `${meta.name}-${meta.version ?? ''}` } : {}),
      };
      const set = (key: keyof HistoryRow, v: string | undefined) => {
        if (v !== undefined) (row as unknown as Record<string, unknown>)[key] = v;
      };
      const fromManifest = l('recorded-by') === undefined && workload ? manifestProvenance(release.manifest, workload.kind, workload.name, prefix) : {};
      set('tenant', l('tenant'));
      set('commit', l('commit') ?? fromManifest.commit);
      set('approver', l('approver') ?? fromManifest.approver);
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
