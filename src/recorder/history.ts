/**
 * The operator's view of a workload's history: the trail's entries (every change tracegate recorded,
 * pruned or deleted revisions included) merged with the Helm revisions the trail does not cover (those
 * written before tracegate saw the workload). Attribution comes from the trail entry of each change,
 * never from a revision's custom labels, which Helm copies from one revision to the next. Pure.
 */
import { isRecord } from '../k8s/types.js';
import { PROVENANCE_KEY_DEFAULTS } from '../policy/defaults.js';
import { splitManifest } from '../yaml/manifest-doc.js';
import { labelsRecordedFor } from './provenance.js';
import type { StoredRelease } from './storage.js';
import type { TrailEntry } from './trail.js';
import { findWorkloadDoc } from './workload-patch.js';

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
  /** The Helm revision, when the change has (or had) one. */
  revision?: number;
  updated: string;
  /** Helm's status; `pruned` when Helm's record is gone but the trail keeps it; `deleted` for a deletion. */
  status: string;
  /** verified, unverified or break-glass; absent for Helm revisions tracegate never saw. */
  verdict?: string;
  tenant?: string;
  commit?: string;
  approver?: string;
  /**
   * `verified` when the gate verified a signed approval or CI token for this change's commit and approver,
   * `unverified` when the approver is only as typed; absent for Helm revisions tracegate never saw.
   */
  approval?: 'verified' | 'unverified';
  /** The verified statements (`approval sha256:…`, `ci-token sha256:…`): what `tracegate verify` re-checks. */
  approvalDigest?: string;
  /** The verified approval's test-results link. */
  testResults?: string;
  user?: string;
  fieldManager?: string;
  changeId?: string;
  images?: string[];
  /** How the change's rollout ended (complete, failed); absent while it runs or when unknown. */
  rollout?: string;
  description: string;
  chart?: string;
}

function helmRow(s: StoredRelease, prefix: string, workload: { kind: string; name: string }): HistoryRow {
  const { release, labels } = s;
  const meta = release.chart?.metadata;
  const row: HistoryRow = {
    revision: release.version,
    updated: release.info.last_deployed ?? '',
    status: release.info.status ?? 'unknown',
    // One row per revision: a failed revision's multi-line reason is folded onto its line.
    description: (release.info.description ?? '').replace(/\s*\n\s*/g, ' '),
    ...(meta?.name ? { chart: `${meta.name}-${meta.version ?? ''}` } : {}),
  };
  // Labels only when tracegate wrote them for this very revision (Helm copies them into the next one).
  const l = (name: string) => (labelsRecordedFor(labels, release.version, prefix) ? labels[`${prefix}${name}`] || undefined : undefined);
  const fromManifest = l('recorded-by') === undefined ? manifestProvenance(release.manifest, workload.kind, workload.name, prefix) : {};
  const set = (key: keyof HistoryRow, v: string | undefined) => {
    if (v !== undefined) (row as unknown as Record<string, unknown>)[key] = v;
  };
  set('tenant', labels[`${prefix}tenant`] || undefined);
  set('commit', l('commit') ?? fromManifest.commit);
  set('approver', l('approver') ?? fromManifest.approver);
  set('user', l('changed-by'));
  set('fieldManager', l('field-manager'));
  set('changeId', l('change-id'));
  const approval = l('approval');
  if (approval === 'verified' || approval === 'unverified') row.approval = approval;
  const verified = l('verified');
  if (verified !== undefined) row.verdict = verified === 'true' ? (l('break-glass') === 'true' ? 'break-glass' : 'verified') : 'unverified';
  return row;
}

/** The flag a trail-only row leads with, as tracegate's own revision descriptions do. */
function flagged(e: TrailEntry, text: string): string {
  if (e.event !== 'change') return text;
  if (e.verdict === 'unverified') return `UNVERIFIED: changed without passing the tracegate gate. ${text}`;
  if (e.verdict === 'break-glass' && e.reason) return `BREAK-GLASS: ${e.reason}. ${text}`;
  return text;
}

function entryRow(e: TrailEntry, stored: StoredRelease | undefined): HistoryRow {
  // Helm's words for the revision ("Upgrade complete", or tracegate's own description) while Helm still
  // holds it as this change; a revision since marked uninstalled describes its deletion instead.
  const helmWords = e.event === 'change' && stored !== undefined && stored.release.info.status !== 'uninstalled';
  const row: HistoryRow = {
    updated: e.time,
    status: e.event === 'delete' ? 'deleted' : stored ? (stored.release.info.status ?? 'unknown') : e.revision !== undefined ? 'pruned' : 'recorded',
    verdict: e.verdict,
    description: helmWords ? (stored.release.info.description ?? '').replace(/\s*\n\s*/g, ' ') : flagged(e, (e.changes ?? []).join('; ')),
  };
  if (e.revision !== undefined) row.revision = e.revision;
  const meta = stored?.release.chart?.metadata;
  if (meta?.name) row.chart = `${meta.name}-${meta.version ?? ''}`;
  if (e.tenant) row.tenant = e.tenant;
  if (e.commit) row.commit = e.commit;
  if (e.approver) row.approver = e.approver;
  if (e.event === 'change') row.approval = e.approval && e.verdict !== 'unverified' ? 'verified' : 'unverified';
  if (e.approval) row.approvalDigest = e.approval;
  if (e.testResults) row.testResults = e.testResults;
  if (e.user) row.user = e.user;
  if (e.tool) row.fieldManager = e.tool;
  if (e.changeId) row.changeId = e.changeId;
  if (e.images?.length) row.images = e.images;
  if (e.rollout) row.rollout = e.rollout;
  return row;
}

/**
 * Rows in order: every trail entry in sequence, each Helm revision no entry covers placed before the
 * first entry of a later revision (Helm's history before tracegate saw the workload comes first).
 */
export function historyRows(history: readonly StoredRelease[], entries: readonly TrailEntry[], prefix: string, workload: { kind: string; name: string }): HistoryRow[] {
  const byVersion = new Map(history.map((h) => [h.release.version, h]));
  const covered = new Set(entries.filter((e) => e.event === 'change' && e.revision !== undefined).map((e) => e.revision!));
  const helmOnly = [...history].filter((h) => !covered.has(h.release.version)).sort((a, b) => a.release.version - b.release.version);
  const rows: HistoryRow[] = [];
  let next = 0;
  for (const e of [...entries].sort((a, b) => a.seq - b.seq)) {
    if (e.revision !== undefined) {
      while (next < helmOnly.length && helmOnly[next]!.release.version < e.revision) rows.push(helmRow(helmOnly[next++]!, prefix, workload));
    }
    rows.push(entryRow(e, e.revision !== undefined ? byVersion.get(e.revision) : undefined));
  }
  while (next < helmOnly.length) rows.push(helmRow(helmOnly[next++]!, prefix, workload));
  return rows;
}

/** A fixed-width table like `helm history`, with tracegate's provenance columns. */
export function formatHistoryTable(rows: readonly HistoryRow[]): string {
  const header = ['REVISION', 'UPDATED', 'STATUS', 'VERDICT', 'TENANT', 'COMMIT', 'APPROVER', 'APPROVAL', 'USER', 'MANAGER', 'DESCRIPTION'];
  const body = rows.map((r) => [
    r.revision === undefined ? '-' : String(r.revision),
    r.updated.replace(/\.\d+Z$/, 'Z'),
    r.status,
    r.verdict ?? '-',
    r.tenant ?? '-',
    r.commit ?? '-',
    r.approver ?? '-',
    r.approval ?? '-',
    r.user ?? '-',
    r.fieldManager ?? '-',
    r.description,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...body.map(line)].join('\n')}\n`;
}
