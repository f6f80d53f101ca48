/**
 * What the web view reads, as interfaces: the change rows (src/report/query.ts's ChangeSource), the
 * tenants and their namespaces, one workload's trail and its revisions' manifests, the PolicyReports,
 * the export renderers and the enforced policy set. The server reads only through these, so unit tests
 * pass fakes; kube-sources.ts implements them over the cluster with the UI's own credentials.
 */
import type { PolicySetView } from '../policy/describe.js';
import type { ExportMeta } from '../report/export.js';
import type { ChangeRow, ChangeSource as ReportChangeSource } from '../report/query.js';
import type { HistoryRow } from '../recorder/history.js';

/** The change rows come from the report module (the same rows `tracegate report` exports). */
export type { ChangeQuery, ChangeResult, ChangeRow } from '../report/query.js';

/** What the view asks of report/query.ts's ChangeSource: the rows, and whether the row cap cut them. */
export type ChangeSource = Pick<ReportChangeSource, 'query'>;

/** The tenants and their namespaces (namespaces carrying the tenant label). */
export interface TenantDirectory {
  tenants(): Promise<ReadonlyMap<string, readonly string[]>>;
}

/** A workload as the URL names it. */
export interface WorkloadKey {
  namespace: string;
  /** Kind as Kubernetes spells it (Deployment, StatefulSet, …). */
  kind: string;
  name: string;
}

/** One workload's trail: the rows `tracegate history` prints. */
export interface WorkloadTrail {
  exists: boolean;
  release?: { namespace: string; name: string; adopted: boolean };
  owner?: string;
  rows: HistoryRow[];
}

/** A revision's manifest from the Helm release record, with the revision before it when there is one. */
export interface RevisionManifests {
  revision: number;
  manifest: string;
  previous?: { revision: number; manifest: string };
}

/** One workload's trail and its release records. */
export interface WorkloadSource {
  /**
   * Undefined when nothing exists or was recorded for the workload. `helm: false` leaves Helm's
   * records out (the user may not read them): the rows are the trail's alone.
   */
  trail(key: WorkloadKey, opts?: { helm?: boolean }): Promise<WorkloadTrail | undefined>;
  /**
   * Undefined when the revision's record is gone (pruned by Helm), never existed, or is not this
   * workload's (its manifest does not hold the workload, or the release is another namespace's).
   */
  revision(key: WorkloadKey, revision: number): Promise<RevisionManifests | undefined>;
}

/** One PolicyReport result that is not a pass. */
export interface Violation {
  namespace: string;
  policy: string;
  rule: string;
  result: string;
  severity?: string;
  message?: string;
  /** `Kind/name` of the object the result is about. */
  resource?: string;
}

/** The violations now, from wgpolicyk8s.io/v1alpha2 PolicyReports. */
export interface ReportSource {
  /** Undefined when the PolicyReport API is not installed. */
  violations(namespaces: readonly string[]): Promise<Violation[] | undefined>;
}

/** The export renderers (src/report/export.ts's renderCsv, renderJson, exportDigest). */
export interface Exporter {
  csv(rows: readonly ChangeRow[]): string;
  json(meta: ExportMeta, rows: readonly ChangeRow[]): string;
  /** The digest of an export's bytes, as written to the header and the page (`sha256:…`). */
  digest(bytes: Uint8Array | string): string;
}

/** The enforced policy set, as GET /policies shows it. */
export interface PoliciesSource {
  view(): PolicySetView;
}
