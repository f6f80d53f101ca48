/**
 * PolicyReports (wgpolicyk8s.io/v1alpha2, the Kubernetes Policy working group's API that Kyverno writes
 * and Policy Reporter displays) from compact audits, pure: one report per namespace with one result per
 * workload × rule, and a ClusterPolicyReport with one result per policy × rule over the whole cluster.
 * Schema: manifests/crds/wgpolicyk8s-policyreports.yaml (Kyverno's CRDs, kyverno/kyverno
 * config/crds/policyreport).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../policy/digest.js';
import type { Action } from '../policy/types.js';
import { countResults, outcomeOf, severityOfAction, type ReportResult, type Severity, type WorkloadAudit } from './results.js';

export const REPORT_GROUP = 'wgpolicyk8s.io';
export const REPORT_VERSION = 'v1alpha2';
export const REPORT_PLURAL = 'policyreports';
export const CLUSTER_REPORT_PLURAL = 'clusterpolicyreports';
/** The one report tracegate owns in each namespace, and its cluster summary. */
export const REPORT_NAME = 'tracegate-audit';
/** `source` of every result: how Policy Reporter tells engines apart. */
export const REPORT_SOURCE = 'tracegate';
// etcd refuses objects over 1.5 MiB (its default request limit): leave room for metadata and encoding.
const MAX_REPORT_BYTES = 1_000_000;

export type Summary = Record<ReportResult, number>;

export interface ReportEntry {
  policy: string;
  rule?: string;
  result: ReportResult;
  severity?: Severity;
  message?: string;
  source: string;
  scored?: boolean;
  timestamp: { seconds: number; nanos: number };
  resources?: { apiVersion: string; kind: string; name: string; namespace: string; uid: string }[];
  properties?: Record<string, string>;
}

/** A PolicyReport or ClusterPolicyReport as tracegate writes it. */
export interface PolicyReport {
  apiVersion: string;
  kind: 'PolicyReport' | 'ClusterPolicyReport';
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown };
  scope?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
  results?: ReportEntry[];
  summary?: Partial<Summary>;
}

export interface ReportMeta {
  /** tracegate's annotation prefix (`tracegate.io/`): the report's labels and notes use it. */
  prefix: string;
}

export const emptySummary = (): Summary => ({ pass: 0, fail: 0, warn: 0, error: 0, skip: 0 });

/** Counts of each result among `results`. */
export function summaryOf(results: readonly Pick<ReportEntry, 'result'>[]): Summary {
  const s = emptySummary();
  for (const r of results) s[r.result]++;
  return s;
}

const LABELS = { 'app.kubernetes.io/managed-by': 'tracegate', 'app.kubernetes.io/part-of': 'tracegate' };

/**
 * The report's results for one workload: every rule of every policy that selected it. Keys are written
 * in sorted order, as Go's encoder returns them: {@link reportContent} then needs no sorting.
 */
export function resultsOf(audit: WorkloadAudit): ReportEntry[] {
  const resources = [{ apiVersion: audit.apiVersion, kind: audit.kind, name: audit.name, namespace: audit.namespace, uid: audit.uid }];
  const timestamp = { nanos: 0, seconds: audit.foundAt };
  const out: ReportEntry[] = [];
  for (const policy of audit.applied) {
    for (const rule of policy.rules) {
      const o = outcomeOf(audit, policy, rule);
      const fix = o.result !== 'pass' && o.result !== 'skip' ? rule.fix : undefined;
      out.push({
        message: o.message ?? `rule ${rule.id} passed`,
        policy: policy.name,
        properties: { action: rule.action, digest: policy.digest, ...(fix ? { fix } : {}), ...(o.path ? { path: o.path } : {}), policySetDigest: audit.setDigest, version: policy.version },
        resources,
        result: o.result,
        rule: rule.id,
        // Only requirements (deny, audit) are scored; a warn rule is advice, as the API's `warn` is.
        scored: rule.action !== 'warn',
        severity: severityOfAction(rule.action),
        source: REPORT_SOURCE,
        timestamp,
      });
    }
  }
  return out;
}

const byWorkload = (a: WorkloadAudit, b: WorkloadAudit): number => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) || a.uid.localeCompare(b.uid);

/**
 * The namespace's PolicyReport from its workloads' audits. A report that would be too large for etcd
 * keeps its summary whole but lists only the results that are not passes (then only the first ones),
 * and says so in an annotation.
 */
export function buildReport(namespace: string, audits: Iterable<WorkloadAudit>, meta: ReportMeta): PolicyReport {
  const sorted = [...audits].sort(byWorkload);
  const summary = emptySummary();
  for (const a of sorted) countResults(a, summary);
  const report: PolicyReport = {
    apiVersion: `${REPORT_GROUP}/${REPORT_VERSION}`,
    kind: 'PolicyReport',
    metadata: { name: REPORT_NAME, namespace, labels: { ...LABELS } },
    // The report covers the namespace (kubectl's KIND and NAME columns show it); each result names its workload.
    scope: { apiVersion: 'v1', kind: 'Namespace', name: namespace },
    results: sorted.flatMap(resultsOf),
    summary,
  };
  if (Buffer.byteLength(JSON.stringify(report)) <= MAX_REPORT_BYTES) return report;
  // What needs attention first when not everything fits: errors, failures, warnings, then skips (a stable sort keeps workload order).
  const rank: Record<ReportResult, number> = { error: 0, fail: 1, warn: 2, skip: 3, pass: 4 };
  report.results = sorted.flatMap((a) => resultsOf(a).filter((r) => r.result !== 'pass')).sort((x, y) => rank[x.result] - rank[y.result]);
  let note = `pass results omitted: the report would exceed ${MAX_REPORT_BYTES} bytes; summary counts them`;
  while (Buffer.byteLength(JSON.stringify(report)) > MAX_REPORT_BYTES && report.results.length > 1) {
    report.results = report.results.slice(0, Math.floor(report.results.length / 2));
    note = `only the first ${report.results.length} results that are not passes are listed (errors and failures first): the report would exceed ${MAX_REPORT_BYTES} bytes; summary counts them all`;
  }
  report.metadata.annotations = { [`${meta.prefix}audit-truncated`]: note };
  return report;
}

/** Per policy × rule: how many workloads had each result, cluster-wide. */
export type RuleTotals = Map<string, { policy: string; rule: string; version: string; digest: string; action: Action; counts: Summary; namespacesFailing: Set<string> }>;

/** Adds one workload's results to the cluster totals. */
export function addToTotals(totals: RuleTotals, audit: WorkloadAudit): void {
  for (const policy of audit.applied) {
    for (const rule of policy.rules) {
      const key = `${policy.name}\u0000${rule.id}`;
      let t = totals.get(key);
      if (!t) totals.set(key, (t = { policy: policy.name, rule: rule.id, version: policy.version, digest: policy.digest, action: rule.action, counts: emptySummary(), namespacesFailing: new Set() }));
      const result = outcomeOf(audit, policy, rule).result;
      t.counts[result]++;
      if (result === 'fail' || result === 'warn') t.namespacesFailing.add(audit.namespace);
    }
  }
}

/** The worst result among the workloads: a rule fails the cluster when it fails anywhere. */
function worst(c: Summary): ReportResult {
  return c.error ? 'error' : c.fail ? 'fail' : c.warn ? 'warn' : c.pass ? 'pass' : 'skip';
}

/**
 * The ClusterPolicyReport: one result per policy × rule (the workload kinds are all namespaced, so
 * no result names a resource), its result the worst any workload had, its counts in `properties`.
 */
export function buildClusterReport(totals: RuleTotals, setDigest: string, at: number): PolicyReport {
  const results: ReportEntry[] = [...totals.values()]
    .sort((a, b) => a.policy.localeCompare(b.policy) || a.rule.localeCompare(b.rule))
    .map((t) => {
      const workloads = t.counts.pass + t.counts.fail + t.counts.warn + t.counts.error + t.counts.skip;
      const failing = t.counts.fail + t.counts.warn + t.counts.error;
      const counts = Object.fromEntries(Object.keys(t.counts).sort().map((k) => [`workloads.${k}`, String(t.counts[k as ReportResult])]));
      return {
        message: failing ? `${failing} of ${workloads} workloads do not comply, in ${t.namespacesFailing.size} namespace${t.namespacesFailing.size === 1 ? '' : 's'}` : `${workloads} workloads checked`,
        policy: t.policy,
        properties: { digest: t.digest, policySetDigest: setDigest, version: t.version, ...counts },
        result: worst(t.counts),
        rule: t.rule,
        scored: t.action !== 'warn',
        severity: severityOfAction(t.action),
        source: REPORT_SOURCE,
        timestamp: { nanos: 0, seconds: at },
      };
    });
  return {
    apiVersion: `${REPORT_GROUP}/${REPORT_VERSION}`,
    kind: 'ClusterPolicyReport',
    metadata: { name: REPORT_NAME, labels: { ...LABELS } },
    results,
    summary: summaryOf(results),
  };
}

/**
 * What a report says, for "is a write needed": results (timestamps aside: a result found again is the
 * same result), summary, scope, and tracegate's labels and annotations.
 */
export function reportContent(report: PolicyReport): string {
  const md = report.metadata ?? {};
  const sum = { ...emptySummary(), ...(report.summary ?? {}) };
  const content = {
    annotations: md.annotations ?? {},
    labels: md.labels ?? {},
    results: (report.results ?? []).map((r) => ({ ...r, timestamp: undefined })),
    scope: report.scope ?? null,
    summary: { error: sum.error, fail: sum.fail, pass: sum.pass, skip: sum.skip, warn: sum.warn },
  };
  // Key order is not content (the apiserver re-encodes custom resources); with every key already in order
  // — what Go's encoder and resultsOf write — the native encoder gives the canonical text several times faster.
  return keysSorted(content) ? JSON.stringify(content) : canonicalJson(content);
}

/** True when every object in `value` lists its keys in sorted order (as Object.keys and JSON.stringify see them). */
function keysSorted(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(keysSorted);
  if (value === null || typeof value !== 'object') return true;
  let prev: string | undefined;
  for (const [k, v] of Object.entries(value)) {
    if ((prev !== undefined && !(prev < k)) || !keysSorted(v)) return false;
    prev = k;
  }
  return true;
}

/**
 * SHA-256 of {@link reportContent}: what the auditor remembers of each report it wrote, so knowing
 * whether a namespace's report needs a write costs 64 bytes per namespace, never the report's text.
 */
export function reportDigest(report: PolicyReport): string {
  return createHash('sha256').update(reportContent(report)).digest('hex');
}
