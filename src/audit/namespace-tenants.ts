/**
 * Which tenant each namespace belongs to, as far as the audit knows: the tenant label of every
 * namespace the last full pass listed (a few bytes per namespace, never the Namespace objects), and for
 * a namespace created since, one look-up — the events of its workloads held meanwhile, latest per
 * workload, since judged without the label a tenant's policies would not apply to them.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../k8s/types.js';
import { createTenantResolver, type TenancyOptions } from '../tenancy/resolve.js';
import type { WorkloadSource } from './workload-source.js';

/** Creates the bookkeeping; without `tenancy` every namespace is tenant-less and nothing is looked up. */
export function createNamespaceTenants(deps: { source: WorkloadSource; tenancy?: TenancyOptions; log: Logger }) {
  const { source, tenancy, log } = deps;
  const labels = new Map<string, Record<string, string>>();
  /** Known namespace names, each mapped to itself: the one copy of the name the audits share. */
  const known = new Map<string, string>();
  const held = new Map<string, Map<string, KubeObject | null>>();
  const resolve = tenancy ? createTenantResolver(tenancy, { labels: (ns) => labels.get(ns) }) : undefined;

  function note(name: string, nsLabels: Record<string, string>): void {
    known.set(name, name);
    const tenant = tenancy ? nsLabels[tenancy.tenantLabel] : undefined;
    if (tenant) labels.set(name, { [tenancy!.tenantLabel]: tenant });
  }

  return {
    /** The namespace's tenant (label first, then the name pattern). */
    tenantOf: (ns: string): string | undefined => resolve?.(ns),
    /** The name as kept here when known (one string per namespace for all its audits), else `ns`. */
    intern: (ns: string): string => known.get(ns) ?? ns,
    /** A full pass starts: what it lists replaces what was known. */
    reset(): void {
      labels.clear();
      known.clear();
    },
    /** A namespace the pass listed, with its labels. */
    listed: note,
    /**
     * Holds a workload's new state (null: deleted) when its namespace is new to the audit; true when it
     * was held. `first` is told when this namespace needs its look-up started.
     */
    hold(ns: string, uid: string, obj: KubeObject | null, first: () => void): boolean {
      if (!tenancy || !source.namespace || known.has(ns)) return false;
      const waiting = held.get(ns);
      if (waiting) waiting.set(uid, obj);
      else {
        held.set(ns, new Map([[uid, obj]]));
        first();
      }
      return true;
    },
    /** Reads a new namespace's labels; resolves with the states held for it (now judged with its tenant). */
    async lookUp(ns: string): Promise<Map<string, KubeObject | null>> {
      const waiting = held.get(ns);
      if (!waiting) return new Map();
      try {
        const found = await source.namespace!(ns);
        note(ns, found?.labels ?? {});
      } catch (err) {
        // Judged without the label (a pattern over names may still name the tenant); the next pass corrects it.
        log.warn({ namespace: ns, err: String((err as Error)?.message ?? err) }, 'audit could not read a new namespace; judging its workloads without its tenant label until the next pass');
        known.set(ns, ns);
      }
      held.delete(ns);
      return waiting;
    },
    /** Forgets everything (no longer leading). */
    clear(): void {
      labels.clear();
      known.clear();
      held.clear();
    },
  };
}

export type NamespaceTenants = ReturnType<typeof createNamespaceTenants>;
