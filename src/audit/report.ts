/**
 * PolicyReports (wgpolicyk8s.io/v1alpha2, the Kubernetes Policy working group's API that Kyverno writes
 * and Policy Reporter displays) from compact audits, pure: one report per namespace with one result per
 * workload × rule, and a ClusterPolicyReport with one result per policy × rule over the whole cluster.
 * Schema: manifests/crds/wgpolicyk8s-policyreports.yaml (Kyverno's CRDs, kyverno/kyverno
 * config/crds/policyreport).
 */
import type { Action } from '../policy/types.js';
import { countResults, severityOfAction, type ReportResult, type Severity, type WorkloadAudit } from './results.js';

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

/** The report's results for one workload: every rule of every policy that selected it. */
export function resultsOf(audit: WorkloadAudit): ReportEntry[] {
  const { ref } = audit;
  const resources = [{ apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, namespace: ref.namespace, uid: ref.uid }];
  const timestamp = { seconds: audit.foundAt, nanos: 0 };
  const out: ReportEntry[] = [];
  for (const policy of audit.applied) {
    for (const rule of policy.rules) {
      const o = audit.outcomes.find((x) => x.policy === policy && x.rule === rule);
      const properties: Record<string, string> = { version: policy.version, digest: policy.digest, policySetDigest: audit.setDigest, action: rule.action };
      if (o?.path) properties.path = o.path;
      if (o && o.result !== 'skip' && rule.fix) properties.fix = rule.fix;
      out.push({
        policy: policy.name,
        rule: rule.id,
        result: o?.result ?? 'pass',
        severity: severityOfAction(rule.action),
        message: o?.message ?? `rule ${rule.id} passed`,
        source: REPORT_SOURCE,
        // Only requirements (deny, audit) are scored; a warn rule is advice, as the API's `warn` is.
        scored: rule.action !== 'warn',
        timestamp,
        resources,
        properties,
      });
    }
  }
  return out;
}

const byWorkload = (a: WorkloadAudit, b: WorkloadAudit): number => a.ref.kind.localeCompare(b.ref.kind) || a.ref.name.localeCompare(b.ref.name) || a.ref.uid.localeCompare(b.ref.uid);

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
    results: sorted.flatMap(resultsOf),
    summary,
  };
  if (JSON.stringify(report).length <= MAX_REPORT_BYTES) return report;
  report.results = sorted.flatMap((a) => (a.outcomes.length ? resultsOf(a).filter((r) => r.result !== 'pass') : []));
  let note = `pass results omitted: the report would exceed ${MAX_REPORT_BYTES} bytes; summary counts them`;
  while (JSON.stringify(report).length > MAX_REPORT_BYTES && report.results.length > 1) {
    report.results = report.results.slice(0, Math.floor(report.results.length / 2));
    note = `only the first ${report.results.length} results that are not passes are listed: the report would exceed ${MAX_REPORT_BYTES} bytes; summary counts them all`;
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
      const result = audit.outcomes.find((o) => o.policy === policy && o.rule === rule)?.result ?? 'pass';
      t.counts[result]++;
      if (result === 'fail' || result === 'warn') t.namespacesFailing.add(audit.ref.namespace);
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
      return {
        policy: t.policy,
        rule: t.rule,
        result: worst(t.counts),
        severity: severityOfAction(t.action),
        message: failing ? `${failing} of ${workloads} workloads do not comply, in ${t.namespacesFailing.size} namespaces` : `${workloads} workloads checked`,
        source: REPORT_SOURCE,
        scored: t.action !== 'warn',
        timestamp: { seconds: at, nanos: 0 },
        properties: { version: t.version, digest: t.digest, policySetDigest: setDigest, ...Object.fromEntries(Object.entries(t.counts).map(([k, v]) => [`workloads.${k}`, String(v)])) },
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

/** JSON with sorted keys: the apiserver re-encodes custom resources, so key order is not content. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a report says, for "is a write needed": results (timestamps aside: a result found again is the
 * same result), summary, scope, and tracegate's labels and annotations.
 */
export function reportContent(report: PolicyReport): string {
  const md = report.metadata ?? {};
  return canonical({
    labels: md.labels ?? {},
    annotations: md.annotations ?? {},
    scope: report.scope ?? null,
    summary: { ...emptySummary(), ...(report.summary ?? {}) },
    results: (report.results ?? []).map((r) => ({ ...r, timestamp: undefined })),
  });
}
