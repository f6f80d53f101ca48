/**
 * Where the audit's reports live: tracegate's PolicyReport in each namespace and its ClusterPolicyReport,
 * through client-node's CustomObjectsApi. Writes are guarded: a replace carries the resourceVersion it
 * read, so a report changed by someone else meanwhile is a 409, re-read and written again.
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { CLUSTER_REPORT_PLURAL, REPORT_GROUP, REPORT_NAME, REPORT_PLURAL, REPORT_VERSION, reportDigest, type PolicyReport } from './report.js';

/** The CustomObjectsApi calls the store makes; a real client or a test fake. */
export type ReportApi = Pick<
  CustomObjectsApi,
  | 'listClusterCustomObject'
  | 'getNamespacedCustomObject'
  | 'createNamespacedCustomObject'
  | 'replaceNamespacedCustomObject'
  | 'deleteNamespacedCustomObject'
  | 'getClusterCustomObject'
  | 'createClusterCustomObject'
  | 'replaceClusterCustomObject'
>;

/** A report as this process last wrote it: its content digest and resourceVersion. */
export interface KnownReport {
  digest: string;
  resourceVersion: string;
}

/** What saving a report did. */
export type SaveOutcome = 'created' | 'replaced' | 'unchanged' | 'deleted' | 'absent';

export interface ReportStore {
  /** Whether the PolicyReport API is served (its CRDs are installed and established). */
  available(): Promise<boolean>;
  /**
   * Makes the namespace's report say what `report` says (undefined: no report), writing only when its
   * content differs from the stored one. `known` is what this process last wrote (the content's
   * {@link reportDigest} and the resourceVersion it got), to save a read; a stale one costs a 409 and a read.
   */
  save(namespace: string, report: PolicyReport | undefined, known?: KnownReport): Promise<{ outcome: SaveOutcome } & Partial<KnownReport>>;
  /** The same for the ClusterPolicyReport. */
  saveCluster(report: PolicyReport): Promise<SaveOutcome>;
}

/** The PolicyReport API is not served: its CRDs are not installed (or not established yet). */
export class ReportsUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('the PolicyReport API (wgpolicyk8s.io/v1alpha2) is not served: install manifests/crds/wgpolicyk8s-policyreports.yaml', { cause });
    this.name = 'ReportsUnavailableError';
  }
}

const NOT_FOUND = 404;
const CONFLICT = 409;
/** One leader writes these reports; more than a few conflicts in a row means something else fights over them. */
const MAX_CONFLICTS = 5;

const ns = { group: REPORT_GROUP, version: REPORT_VERSION, plural: REPORT_PLURAL };
const cluster = { group: REPORT_GROUP, version: REPORT_VERSION, plural: CLUSTER_REPORT_PLURAL };

/** Creates a store over the cluster's PolicyReports. */
export function createReportStore(deps: { api: ReportApi }): ReportStore {
  const { api } = deps;

  async function read(namespace: string | undefined): Promise<PolicyReport | undefined> {
    try {
      const got = namespace === undefined ? await api.getClusterCustomObject({ ...cluster, name: REPORT_NAME }) : await api.getNamespacedCustomObject({ ...ns, namespace, name: REPORT_NAME });
      return got as PolicyReport;
    } catch (err) {
      if (statusOf(err) === NOT_FOUND) return undefined;
      throw kubeApiError('get', `PolicyReport ${namespace ?? '(cluster)'}/${REPORT_NAME}`, err);
    }
  }

  async function write(namespace: string | undefined, report: PolicyReport, resourceVersion: string | undefined): Promise<string | undefined> {
    const body = { ...report, metadata: { ...report.metadata, ...(resourceVersion ? { resourceVersion } : {}) } };
    const what = `PolicyReport ${namespace ?? '(cluster)'}/${REPORT_NAME}`;
    try {
      const out = (
        namespace === undefined
          ? resourceVersion
            ? await api.replaceClusterCustomObject({ ...cluster, name: REPORT_NAME, body })
            : await api.createClusterCustomObject({ ...cluster, body })
          : resourceVersion
            ? await api.replaceNamespacedCustomObject({ ...ns, namespace, name: REPORT_NAME, body })
            : await api.createNamespacedCustomObject({ ...ns, namespace, body })
      ) as PolicyReport;
      return out?.metadata?.resourceVersion;
    } catch (err) {
      // A 404 on a create: the resource is not served (a namespace being deleted takes its reports along).
      if (!resourceVersion && statusOf(err) === NOT_FOUND && namespace === undefined) throw new ReportsUnavailableError(err);
      if (statusOf(err) === CONFLICT || statusOf(err) === NOT_FOUND) throw err;
      throw kubeApiError(resourceVersion ? 'replace' : 'create', what, err);
    }
  }

  /** Reads, compares, writes; a 409 (or a report deleted meanwhile) starts over from a fresh read. */
  async function converge(namespace: string | undefined, report: PolicyReport | undefined, first?: KnownReport) {
    const wanted = report ? reportDigest(report) : undefined;
    let hint = first;
    for (let attempt = 1; ; attempt++) {
      let rv: string | undefined;
      let current: string | undefined;
      if (hint) ({ digest: current, resourceVersion: rv } = hint);
      else {
        const stored = await read(namespace);
        rv = stored?.metadata?.resourceVersion;
        current = stored ? reportDigest(stored) : undefined;
      }
      hint = undefined;
      try {
        if (!report) {
          if (current === undefined) return { outcome: 'absent' as const };
          // Only a namespaced report is ever removed: the cluster summary stays, possibly empty.
          await api.deleteNamespacedCustomObject({ ...ns, namespace: namespace!, name: REPORT_NAME, body: { preconditions: { resourceVersion: rv! } } });
          return { outcome: 'deleted' as const };
        }
        if (current === wanted) return { outcome: 'unchanged' as const, digest: wanted!, ...(rv ? { resourceVersion: rv } : {}) };
        const written = await write(namespace, report, rv);
        return { outcome: rv ? ('replaced' as const) : ('created' as const), digest: wanted!, ...(written ? { resourceVersion: written } : {}) };
      } catch (err) {
        const status = statusOf(err);
        if ((status === CONFLICT || (status === NOT_FOUND && rv)) && attempt < MAX_CONFLICTS) continue;
        if (status === NOT_FOUND && !report) return { outcome: 'absent' as const };
        if (status === CONFLICT || status === NOT_FOUND) throw kubeApiError('write', `PolicyReport ${namespace ?? '(cluster)'}/${REPORT_NAME}`, err);
        throw err;
      }
    }
  }

  return {
    async available() {
      try {
        await api.listClusterCustomObject({ ...ns, limit: 1 });
        await api.listClusterCustomObject({ ...cluster, limit: 1 });
        return true;
      } catch (err) {
        if (statusOf(err) === NOT_FOUND) return false;
        throw kubeApiError('list', 'PolicyReports', err);
      }
    },
    save: (namespace, report, known) => converge(namespace, report, known),
    async saveCluster(report) {
      return (await converge(undefined, report)).outcome;
    },
  };
}
