/**
 * The web view's sources over the cluster, read with the UI's own credentials (the recorder's
 * ServiceAccount): tenants from labelled namespaces, a workload's trail and release records (merged
 * by the same code as `tracegate history`; only a release in the workload's own namespace, see
 * workload-record.ts), and the violations from wgpolicyk8s.io PolicyReports. What a user may see of
 * them is decided before any read (access.ts).
 */
import type { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { isRecord } from '../k8s/types.js';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { historyRows } from '../recorder/history.js';
import type { ReleaseStorage } from '../recorder/storage.js';
import { allEntries } from '../recorder/trail.js';
import { workloadKindByName } from '../workload/kinds.js';
import type { ReportSource, TenantDirectory, Violation, WorkloadKey, WorkloadSource } from './data.js';
import { holdsWorkload, readReleaseHistory, readRevision, readWorkloadBasics } from '../recorder/workload-record.js';

/** Namespaces per list page, as client-go pages. */
const PAGE_SIZE = 500;
/** Results shown per page view at most: the page is a summary; the reports hold the rest. */
const MAX_VIOLATIONS = 2_000;
/** PolicyReport results that are not a pass (the wgpolicyk8s.io result values). */
const FAILING = new Set(['fail', 'warn', 'error']);

/** Tenants from the namespaces labelled `tenantLabel`, re-listed at most every `ttlMs`. */
export function createKubeTenants(deps: { core: Pick<CoreV1Api, 'listNamespace'>; tenantLabel: string; ttlMs: number; now?: () => number }): TenantDirectory {
  const now = deps.now ?? Date.now;
  let cached: { at: number; tenants: Map<string, string[]> } | undefined;
  return {
    async tenants() {
      if (cached && now() - cached.at < deps.ttlMs) return cached.tenants;
      const tenants = new Map<string, string[]>();
      let cont: string | undefined;
      do {
        let page;
        try {
          // The label's existence as the selector: only tenant namespaces come back.
          page = await deps.core.listNamespace({ labelSelector: deps.tenantLabel, limit: PAGE_SIZE, ...(cont ? { _continue: cont } : {}) });
        } catch (err) {
          throw kubeApiError('list', 'namespaces', err);
        }
        for (const ns of page.items) {
          const tenant = ns.metadata?.labels?.[deps.tenantLabel];
          const name = ns.metadata?.name;
          if (!tenant || !name) continue;
          tenants.set(tenant, [...(tenants.get(tenant) ?? []), name]);
        }
        cont = page.metadata?._continue || undefined;
      } while (cont !== undefined);
      cached = { at: now(), tenants };
      return tenants;
    },
  };
}

/**
 * A workload's trail and release records, as `tracegate history` shows them. `storage` reads with the
 * readers' limits (secret-driver.ts READER_LIMITS).
 */
export function createKubeWorkloads(deps: { kc: KubeConfig; prefix: string; storage: ReleaseStorage }): WorkloadSource {
  async function basics(key: WorkloadKey) {
    const kind = workloadKindByName(key.kind.toLowerCase());
    if (!kind) return undefined;
    return readWorkloadBasics(deps.kc, { namespace: key.namespace, name: key.name, kind }, deps.prefix);
  }
  return {
    async trail(key, opts = {}) {
      const rec = await basics(key);
      if (!rec) return undefined;
      // Helm's records only for a user who may read them (`helm history` needs `get secrets`).
      const read = rec.release && opts.helm !== false ? await readReleaseHistory(deps.storage, rec.release) : undefined;
      const rows = historyRows(read?.history ?? [], allEntries(rec.trail), deps.prefix, { kind: key.kind, name: key.name });
      if (!rec.live && rows.length === 0) return undefined;
      return {
        exists: rec.live !== undefined,
        ...(read && read.history.length ? { release: { namespace: read.release.namespace, name: read.release.name, adopted: read.release.adopted } } : {}),
        ...(rec.owner ? { owner: rec.owner } : {}),
        rows,
      };
    },
    async revision(key, revision) {
      const rec = await basics(key);
      if (!rec?.release) return undefined;
      // The revision and the one before it, each read on its own: never the whole history.
      const found = await readRevision(deps.storage, rec.release, revision);
      if (!found || !holdsWorkload(found, key)) return undefined;
      const before = revision > 1 ? await readRevision(deps.storage, rec.release, revision - 1) : undefined;
      return {
        revision,
        manifest: found.release.manifest ?? '',
        ...(before ? { previous: { revision: before.release.version, manifest: before.release.manifest ?? '' } } : {}),
      };
    },
  };
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The failing results of one PolicyReport object. */
export function reportViolations(namespace: string, report: unknown): Violation[] {
  if (!isRecord(report) || !Array.isArray(report.results)) return [];
  const out: Violation[] = [];
  for (const r of report.results) {
    if (!isRecord(r) || !FAILING.has(String(r.result))) continue;
    const scope = isRecord(report.scope) ? report.scope : undefined;
    const res = Array.isArray(r.resources) && isRecord(r.resources[0]) ? r.resources[0] : scope;
    const resource = res && text(res.kind) && text(res.name) ? `${String(res.kind)}/${String(res.name)}` : undefined;
    const severity = text(r.severity);
    const message = text(r.message);
    out.push({ namespace, policy: text(r.policy) ?? '-', rule: text(r.rule) ?? '-', result: String(r.result), ...(severity ? { severity } : {}), ...(message ? { message } : {}), ...(resource ? { resource } : {}) });
  }
  return out;
}

/** Violations from `policyreports.wgpolicyk8s.io/v1alpha2` in the given namespaces. */
export function createKubeReports(deps: { custom: Pick<CustomObjectsApi, 'listNamespacedCustomObject'> }): ReportSource {
  return {
    async violations(namespaces) {
      const out: Violation[] = [];
      for (const namespace of namespaces) {
        let list: unknown;
        try {
          list = await deps.custom.listNamespacedCustomObject({ group: 'wgpolicyk8s.io', version: 'v1alpha2', namespace, plural: 'policyreports' });
        } catch (err) {
          // 404 on the list: the CRD is not installed (the apiserver serves no such resource).
          if (statusOf(err) === 404) return undefined;
          throw kubeApiError('list', `policyreports.wgpolicyk8s.io in ${namespace}`, err);
        }
        const items = isRecord(list) && Array.isArray(list.items) ? list.items : [];
        for (const report of items) {
          out.push(...reportViolations(namespace, report));
          if (out.length >= MAX_VIOLATIONS) return out.slice(0, MAX_VIOLATIONS);
        }
      }
      return out;
    },
  };
}
