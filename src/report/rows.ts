/**
 * The change rows of a tenant's report, from ChangeTrail objects (heads and archives) and, where the
 * trail lacks it, the workload's Helm release records: Helm's status of each recorded revision
 * (deployed, superseded, failed, pruned) and the revisions Helm wrote before tracegate saw the
 * workload. The merge of trail and Helm is recorder/history.ts's `historyRows` — the rows
 * `tracegate history` prints — so the report and the history never disagree. Pure.
 */
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { historyRows, type HistoryRow } from '../recorder/history.js';
import type { StoredRelease } from '../recorder/storage.js';
import { allEntries, imagesOf, type TrailEntry, type TrailObject } from '../recorder/trail.js';
import { findWorkloadDoc } from '../recorder/workload-patch.js';
import { podTemplateOf } from '../workload/pod-template.js';
import { splitManifest } from '../yaml/manifest-doc.js';

/** One recorded change of one workload, as the report and the web view show it. */
export interface ChangeRow {
  /** RFC 3339, when recorded (Helm's last_deployed for a revision tracegate never saw). */
  time: string;
  tenant?: string;
  namespace: string;
  kind: string;
  name: string;
  revision?: number;
  /** As in `tracegate history`: deployed, superseded, failed, pruned, deleted, or recorded (no Helm record read). */
  status: string;
  verdict?: 'verified' | 'unverified' | 'break-glass';
  user?: string;
  fieldManager?: string;
  commit?: string;
  approver?: string;
  pipelineRun?: string;
  changeId?: string;
  /** The break-glass reason. */
  reason?: string;
  /** `container=image` before and after the change. */
  imagesBefore: string[];
  imagesAfter: string[];
  /** What changed, in words, as recorded. */
  changes: string[];
  rollout?: 'complete' | 'failed';
}

/** Which changes: a tenant and/or namespaces, and the period [since, until). */
export interface ChangeQuery {
  tenant?: string;
  namespaces?: string[];
  since?: Date;
  until?: Date;
  /** At most this many rows (capped at {@link MAX_ROWS}). */
  limit?: number;
  /**
   * Helm's release records are joined only for trails in these namespaces (the web view: where the
   * user may `get secrets`, what `helm history` needs); the others keep the trail's own statuses.
   * Undefined: wherever the source can read them.
   */
  helmNamespaces?: readonly string[];
}

/**
 * The most rows one query returns. A row is ~1 KB in memory, so a request holds at most ~20 MB of rows;
 * a longer period is exported in parts (the result says where the next part starts).
 */
export const MAX_ROWS = 20_000;

/** Rows and whether the cap cut them. */
export interface ChangeResult {
  rows: ChangeRow[];
  /** True when more rows matched than the limit: `rows` are the earliest ones. */
  truncated: boolean;
  /** When truncated: the `since` of the next part (every row before it is in `rows`, none at or after it). */
  nextSince?: string;
}

/** How rows are built: the label prefix, and the Helm records read for each release (`namespace/name`). */
export interface RowOptions {
  prefix?: string;
  /** Releases absent from the map were not read (no access, or not asked): their statuses are the trail's. */
  helm?: ReadonlyMap<string, readonly StoredRelease[]>;
}

/** The key of a release in {@link RowOptions.helm}. */
export function releaseKey(release: { namespace: string; name: string }): string {
  return `${release.namespace}/${release.name}`;
}

/**
 * The release of a trail whose Helm records may be joined to it: only one in the trail's own
 * namespace. A workload's `meta.helm.sh/release-namespace` annotation is written by the tenant, so a
 * release elsewhere (another tenant's) is never read or joined, also for trails that recorded one.
 */
export function joinableRelease(head: Pick<TrailObject, 'metadata' | 'spec'>): { namespace: string; name: string } | undefined {
  const release = head.spec.release;
  return release && release.namespace === head.metadata.namespace ? release : undefined;
}

/** The effective limit of a query: its own, never above the cap. */
export function limitOf(q: ChangeQuery): number {
  const n = q.limit ?? MAX_ROWS;
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_ROWS) : MAX_ROWS;
}

function inPeriod(time: string, q: ChangeQuery): boolean {
  const t = Date.parse(time);
  if (Number.isNaN(t)) return false;
  return (q.since === undefined || t >= q.since.getTime()) && (q.until === undefined || t < q.until.getTime());
}

/** The tenant a trail belongs to now: its label, else its newest entry's tenant. */
export function trailTenant(objects: readonly TrailObject[], prefix: string): string | undefined {
  for (const o of objects) {
    const label = o.metadata.labels?.[`${prefix}tenant`];
    if (label) return label;
  }
  const entries = allEntries(objects);
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.tenant) return entries[i]!.tenant;
  return undefined;
}

/** Whether a workload's trail is in the query's scope (its namespace, and its tenant now). */
export function inScope(namespace: string, tenant: string | undefined, q: ChangeQuery): boolean {
  if (q.namespaces !== undefined && !q.namespaces.includes(namespace)) return false;
  return q.tenant === undefined || tenant === q.tenant;
}

const VERDICTS = new Set(['verified', 'unverified', 'break-glass']);

function verdictOf(v: string | undefined): ChangeRow['verdict'] {
  return v !== undefined && VERDICTS.has(v) ? (v as ChangeRow['verdict']) : undefined;
}

function entryRow(e: TrailEntry, before: string[], status: string, base: Pick<ChangeRow, 'namespace' | 'kind' | 'name'>, tenant: string | undefined): ChangeRow {
  const row: ChangeRow = { time: e.time, ...base, status, imagesBefore: before, imagesAfter: e.event === 'delete' ? [] : [...(e.images ?? [])], changes: [...(e.changes ?? [])] };
  const t = e.tenant ?? tenant;
  if (t) row.tenant = t;
  if (e.revision !== undefined) row.revision = e.revision;
  const verdict = verdictOf(e.verdict);
  if (verdict) row.verdict = verdict;
  if (e.user) row.user = e.user;
  if (e.tool) row.fieldManager = e.tool;
  if (e.commit) row.commit = e.commit;
  if (e.approver) row.approver = e.approver;
  if (e.pipelineRun) row.pipelineRun = e.pipelineRun;
  if (e.changeId) row.changeId = e.changeId;
  if (e.reason) row.reason = e.reason;
  if (e.rollout) row.rollout = e.rollout;
  return row;
}

/** The workload's images in a revision's manifest; undefined when the revision does not hold the workload. */
function manifestImages(s: StoredRelease, kind: string, name: string, namespace: string): string[] | undefined {
  // A document without a namespace is the release's, which is the workload's (joinableRelease).
  const part = s.release.manifest ? findWorkloadDoc(splitManifest(s.release.manifest), kind, name, namespace) : undefined;
  return part ? imagesOf(podTemplateOf(part.doc.toJS() as KubeObject)) : undefined;
}

function helmOnlyRow(h: HistoryRow, images: string[], before: string[], base: Pick<ChangeRow, 'namespace' | 'kind' | 'name'>, tenant: string | undefined): ChangeRow {
  const row: ChangeRow = { time: h.updated, ...base, status: h.status, imagesBefore: before, imagesAfter: images, changes: h.description ? [h.description] : [] };
  const t = h.tenant ?? tenant;
  if (t) row.tenant = t;
  if (h.revision !== undefined) row.revision = h.revision;
  const verdict = verdictOf(h.verdict);
  if (verdict) row.verdict = verdict;
  for (const k of ['user', 'fieldManager', 'commit', 'approver', 'changeId'] as const) if (h[k]) row[k] = h[k];
  return row;
}

/**
 * Helm's status of each entry and the Helm-only rows, from `historyRows`. Its entry rows come in
 * sequence order and are told apart from Helm-only rows by what only they can be: a deletion, a
 * change without a revision, or a revision some change entry covers (a Helm-only row is exactly a
 * revision no change entry covers, and Helm has no `deleted` status).
 */
function withHelm(entries: readonly TrailEntry[], history: readonly StoredRelease[], prefix: string, workload: { kind: string; name: string }): { statuses: string[]; helmOnly: HistoryRow[] } | undefined {
  const rows = historyRows(history, entries, prefix, workload);
  const covered = new Set(entries.filter((e) => e.event === 'change' && e.revision !== undefined).map((e) => e.revision!));
  const statuses: string[] = [];
  const helmOnly: HistoryRow[] = [];
  for (const r of rows) {
    if (r.status === 'deleted' || r.revision === undefined || covered.has(r.revision)) statuses.push(r.status);
    else helmOnly.push(r);
  }
  return statuses.length === entries.length ? { statuses, helmOnly } : undefined;
}

/** Rows of one workload's trail objects (head and the archives read), all of them, in sequence. */
function workloadRows(objects: readonly TrailObject[], prefix: string, helm: RowOptions['helm']): ChangeRow[] {
  const head = objects.find((o) => !o.spec.sealed) ?? objects[0]!;
  const base = { namespace: head.metadata.namespace, kind: head.spec.workload.kind, name: head.spec.workload.name };
  const tenant = trailTenant(objects, prefix);
  // An archive written by an append that crashed before its head holds entries the head still has.
  const seen = new Set<number>();
  const entries = allEntries(objects).filter((e) => !seen.has(e.seq) && (seen.add(e.seq), true));
  const release = joinableRelease(head);
  const history = release ? helm?.get(releaseKey(release)) : undefined;
  const merged = history ? withHelm(entries, history, prefix, base) : undefined;
  const rows: ChangeRow[] = [];

  if (merged && history && entries[0]?.seq === 1) {
    // Helm's revisions before tracegate first saw the workload (with the whole trail read, the first
    // entry is seq 1); later uncovered revisions did not change this workload's template.
    const firstCovered = Math.min(...entries.filter((e) => e.event === 'change' && e.revision !== undefined).map((e) => e.revision!));
    const byVersion = new Map(history.map((h) => [h.release.version, h]));
    let before: string[] = [];
    for (const h of merged.helmOnly) {
      if (h.revision === undefined || h.revision > firstCovered) continue;
      const images = manifestImages(byVersion.get(h.revision)!, base.kind, base.name, base.namespace);
      if (images === undefined) continue;
      rows.push(helmOnlyRow(h, images, before, base, tenant));
      before = images;
    }
  }

  const last = new Map<string, string[]>();
  entries.forEach((e, i) => {
    const before = last.get(e.uid) ?? [];
    const status = merged ? merged.statuses[i]! : e.event === 'delete' ? 'deleted' : 'recorded';
    const row = entryRow(e, before, status, base, tenant);
    last.set(e.uid, row.imagesAfter);
    rows.push(row);
  });
  return rows;
}

function workloadKeyOf(o: TrailObject): string {
  return `${o.metadata.namespace}/${o.spec.workload.kind}/${o.spec.workload.name}`;
}

/** Orders rows by time, then by workload, keeping a workload's own order for equal times. */
export function compareRows(a: ChangeRow, b: ChangeRow): number {
  return Date.parse(a.time) - Date.parse(b.time) || `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`);
}

/** A row with its sort key computed once: the time parsed, the workload joined. */
export interface KeyedRow {
  at: number;
  workload: string;
  row: ChangeRow;
}

/** {@link compareRows} over precomputed keys. */
export function compareKeyed(a: KeyedRow, b: KeyedRow): number {
  return a.at - b.at || a.workload.localeCompare(b.workload);
}

/** The row with its sort key. */
export function keyed(row: ChangeRow): KeyedRow {
  return { at: Date.parse(row.time), workload: `${row.namespace}/${row.kind}/${row.name}`, row };
}

/**
 * The first `keep` of two lists each sorted by {@link compareKeyed}, merged in one pass; on equal keys
 * `a`'s rows come first, so a stable sort of `a` then `b` gives the same order.
 */
export function mergeKeyed(a: readonly KeyedRow[], b: readonly KeyedRow[], keep: number): KeyedRow[] {
  const out: KeyedRow[] = [];
  let i = 0;
  let j = 0;
  while (out.length < keep && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && compareKeyed(a[i]!, b[j]!) <= 0)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * The matching rows of `trails` (any mix of workloads' heads and archives), in the query's scope and
 * period, sorted by time, uncapped: the caller applies the limit with {@link selectRows}.
 */
export function matchingRows(trails: readonly TrailObject[], q: ChangeQuery, opts: RowOptions = {}): ChangeRow[] {
  return matchingKeyedRows(trails, q, opts).map((k) => k.row);
}

/** {@link matchingRows} with each row's sort key. */
export function matchingKeyedRows(trails: readonly TrailObject[], q: ChangeQuery, opts: RowOptions = {}): KeyedRow[] {
  const prefix = opts.prefix ?? DEFAULT_ANNOTATION_PREFIX;
  const groups = new Map<string, TrailObject[]>();
  for (const t of trails) {
    if (!t?.spec?.workload || !Array.isArray(t.spec.entries)) continue;
    const key = workloadKeyOf(t);
    const list = groups.get(key);
    if (list) list.push(t);
    else groups.set(key, [t]);
  }
  const out: KeyedRow[] = [];
  for (const objects of groups.values()) {
    if (!inScope(objects[0]!.metadata.namespace, trailTenant(objects, prefix), q)) continue;
    for (const row of workloadRows(objects, prefix, opts.helm)) if (inPeriod(row.time, q)) out.push(keyed(row));
  }
  return out.sort(compareKeyed);
}

/**
 * The first `limit` of sorted rows. When the cap cuts, rows at the cut's instant are dropped too, so
 * `nextSince` starts the next part exactly where this one ends (unless every kept row shares it).
 */
export function selectRows(sorted: readonly ChangeRow[], limit: number): ChangeResult {
  if (sorted.length <= limit) return { rows: [...sorted], truncated: false };
  const cut = Date.parse(sorted[limit]!.time);
  let end = limit;
  while (end > 0 && Date.parse(sorted[end - 1]!.time) === cut) end--;
  if (end === 0) end = limit;
  return { rows: sorted.slice(0, end), truncated: true, nextSince: sorted[end]!.time };
}

/** The rows of `trails` for `q`: in scope, in the period, sorted by time, at most the query's limit. */
export function changeRowsOf(trails: readonly TrailObject[], q: ChangeQuery, opts: RowOptions = {}): ChangeRow[] {
  return selectRows(matchingRows(trails, q, opts), limitOf(q)).rows;
}
