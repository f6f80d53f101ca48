/**
 * The background audit, run by the recorder's leader: every pod-bearing workload judged by the gate's
 * engine against the policy set, written as one PolicyReport per namespace and a ClusterPolicyReport.
 *
 * A full pass (on becoming leader, every interval, on a policy change) lists namespace by namespace, a
 * page at a time, and keeps only each workload's compact audit (results.ts), never the objects; it
 * rewrites only the reports whose content changed. Between passes a workload change (the recorder's
 * watch) re-judges that one workload and rewrites only its namespace's report, coalesced over
 * `flushDelayMs`; a deletion removes its results, and a namespace left without workloads loses its
 * report. The cluster summary is written by full passes only, so a change costs one write. A namespace
 * created since the last pass has its tenant label looked up once before its workloads are judged.
 *
 * Memory: the compact audits (a few hundred bytes per workload; bench/audit.ts measures it), a digest
 * and resourceVersion per report written, and one namespace's report while it is built and written.
 */
import type { KubeObject } from '../k8s/types.js';
import { createParseMemo, type ParseMemo } from '../policy/rules/context.js';
import type { CompiledPolicy, PolicySet } from '../policy/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import { createNamespaceTenants } from './namespace-tenants.js';
import { addToTotals, buildClusterReport, buildReport, emptySummary, type RuleTotals, type Summary } from './report.js';
import type { KnownReport, SaveOutcome } from './report-store.js';
import { auditResults, countResults, isAuditedWorkload, sameAudit, workloadRefOf, type WorkloadAudit } from './results.js';
import type { AuditorDeps, PassStats } from './auditor-types.js';

/** A rollout touches its workload several times within a second: one report write covers them. */
export const DEFAULT_FLUSH_DELAY_MS = 1_000;
/** How soon a pass that found the PolicyReport CRDs missing looks again (capped by the interval). */
export const DEFAULT_UNAVAILABLE_RETRY_MS = 60_000;

export type { AuditorConfig, AuditorDeps, PassStats } from './auditor-types.js';

class Abandoned extends Error {}

/** Creates the auditor; the recorder calls `setActive` with its leadership and feeds it its watch events. */
export function createAuditor(deps: AuditorDeps) {
  const { source, store, log, metrics, config } = deps;
  const now = deps.now ?? (() => new Date());
  const flushDelayMs = config.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;
  const retryMs = Math.min(config.unavailableRetryMs ?? DEFAULT_UNAVAILABLE_RETRY_MS, config.intervalMs);
  const meta = { prefix: config.prefix };
  let set = deps.policies;
  const namespaces = createNamespaceTenants({ source, log, ...(deps.tenancy ? { tenancy: deps.tenancy } : {}) });
  let memo: ParseMemo = createParseMemo();
  // Workloads selected by the same policies share one list (results.ts); a new set starts a new map.
  let appliedLists = new Map<string, readonly CompiledPolicy[]>();
  const byNs = new Map<string, Map<string, WorkloadAudit>>();
  /** What this process last wrote per namespace (a digest, not the report): an incremental write needs no read first. */
  const written = new Map<string, KnownReport>();
  const dirty = new Set<string>();
  const totals = emptySummary();
  let active = false;
  let ready = false;
  let unavailableLogged = false;
  /** During a pass: namespaces it has yet to list (their events wait for it) and the one being listed. */
  let pending: Set<string> | undefined;
  let current: { ns: string; touched: Map<string, WorkloadAudit | null> } | undefined;
  let chain: Promise<void> = Promise.resolve();
  let tasks = 0;
  let passQueued = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let intervalTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const writable = () => active && deps.canWrite();
  const seconds = () => Math.floor(now().getTime() / 1000);

  function enqueue(task: () => Promise<void>): void {
    tasks++;
    chain = chain.then(task).catch((err: unknown) => log.error({ err: String((err as Error)?.message ?? err) }, 'audit failed')).finally(() => void tasks--);
  }

  function adjustTotals(audit: WorkloadAudit | undefined, sign: 1 | -1): void {
    if (!audit) return;
    const c = emptySummary();
    countResults(audit, c);
    for (const k of Object.keys(c) as (keyof Summary)[]) totals[k] += sign * c[k];
  }

  function publishTotals(): void {
    if (!metrics) return;
    for (const [k, v] of Object.entries(totals)) metrics.results.set({ result: k }, v);
    let n = 0;
    for (const m of byNs.values()) n += m.size;
    metrics.workloads.set(n);
  }

  function judge(obj: KubeObject, prev: WorkloadAudit | undefined): WorkloadAudit | undefined {
    const ns = namespaces.intern(obj.metadata?.namespace ?? '');
    const tenant = namespaces.tenantOf(ns);
    const audit = auditResults(obj, set, { memo, appliedLists, namespace: ns, now: seconds(), ...(tenant !== undefined ? { tenant } : {}) });
    // Found again, not found anew: the audit kept (and the time it was first found) stays.
    return audit && prev && sameAudit(prev, audit) ? prev : audit;
  }

  function counted(writes: Record<SaveOutcome, number>, outcome: SaveOutcome): void {
    writes[outcome]++;
    if (outcome === 'created' || outcome === 'replaced' || outcome === 'deleted') metrics?.writes.inc({ operation: outcome });
  }

  async function saveNamespace(ns: string, useHint: boolean, writes: Record<SaveOutcome, number>): Promise<void> {
    if (!writable()) throw new Abandoned();
    const map = byNs.get(ns);
    const report = map?.size ? buildReport(ns, map.values(), meta) : undefined;
    const r = await store.save(ns, report, useHint ? written.get(ns) : undefined);
    if (r.digest !== undefined && r.resourceVersion) written.set(ns, { digest: r.digest, resourceVersion: r.resourceVersion });
    else written.delete(ns);
    counted(writes, r.outcome);
  }

  async function pass(reason: string): Promise<PassStats | undefined> {
    if (!writable()) return undefined;
    const started = Date.now();
    const served = await store.available().catch((err: unknown) => {
      // Forbidden, unreachable: a failed pass (logged by enqueue); the next interval tries again.
      metrics?.runs.inc({ outcome: 'failed' });
      throw err;
    });
    if (!served) {
      metrics?.runs.inc({ outcome: 'unavailable' });
      const line = 'PolicyReport CRDs (wgpolicyk8s.io/v1alpha2) are not installed: no audit reports until they are (apply manifests/crds/wgpolicyk8s-policyreports.yaml); looking again later';
      if (!unavailableLogged) log.warn({ retryInMs: retryMs }, line);
      else log.debug({ retryInMs: retryMs }, line);
      unavailableLogged = true;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => requestPass('retry'), retryMs);
      retryTimer.unref();
      // CRDs removed after reports were written: forget them, so changes are not written into a void
      // until a pass finds the API again and starts afresh.
      for (const ns of [...byNs.keys()]) drop(ns);
      written.clear();
      ready = false;
      return undefined;
    }
    unavailableLogged = false;
    memo = createParseMemo();
    const stats: PassStats = { namespaces: 0, listed: 0, workloads: 0, results: emptySummary(), writes: { created: 0, replaced: 0, unchanged: 0, deleted: 0, absent: 0 }, errors: 0, durationMs: 0 };
    const names: string[] = [];
    try {
      namespaces.reset();
      for await (const n of source.namespaces()) {
        names.push(n.name);
        namespaces.listed(n.name, n.labels);
      }
    } catch (err) {
      metrics?.runs.inc({ outcome: 'failed' });
      throw err;
    }
    pending = new Set(names);
    // A namespace gone since the last pass took its report along.
    for (const ns of [...byNs.keys()]) if (!pending.has(ns)) drop(ns);
    try {
      for (const ns of names) {
        if (!writable()) throw new Abandoned();
        pending.delete(ns);
        current = { ns, touched: new Map() };
        const before = byNs.get(ns);
        const fresh = new Map<string, WorkloadAudit>();
        try {
          for await (const obj of source.workloads(ns)) {
            stats.listed++;
            if (!isAuditedWorkload(obj)) continue;
            const uid = obj.metadata?.uid ?? '';
            const audit = judge(obj, before?.get(uid));
            if (audit) fresh.set(uid, audit);
          }
        } catch (err) {
          stats.errors++;
          log.warn({ namespace: ns, err: String((err as Error)?.message ?? err) }, 'audit could not list this namespace; its report stays as it was');
          current = undefined;
          continue;
        }
        // Changes the watch saw while the namespace was listed are newer than the list.
        for (const [uid, a] of current.touched) a ? fresh.set(uid, a) : fresh.delete(uid);
        current = undefined;
        for (const a of before?.values() ?? []) adjustTotals(a, -1);
        for (const a of fresh.values()) adjustTotals(a, 1);
        if (fresh.size) byNs.set(ns, fresh);
        else byNs.delete(ns);
        dirty.delete(ns);
        stats.namespaces++;
        try {
          await saveNamespace(ns, false, stats.writes);
        } catch (err) {
          if (err instanceof Abandoned) throw err;
          stats.errors++;
          dirty.add(ns);
          log.warn({ namespace: ns, err: String((err as Error)?.message ?? err) }, 'audit report not written; retried on the next change or pass');
        }
      }
    } catch (err) {
      if (!(err instanceof Abandoned)) throw err;
      metrics?.runs.inc({ outcome: 'abandoned' });
      log.info({ reason }, 'audit pass abandoned: no longer the leader');
      return undefined;
    } finally {
      pending = undefined;
      current = undefined;
    }
    ready = true;
    const cluster: RuleTotals = new Map();
    for (const m of byNs.values()) for (const a of m.values()) (stats.workloads++, addToTotals(cluster, a), countResults(a, stats.results));
    if (!writable()) return undefined;
    counted(stats.writes, await store.saveCluster(buildClusterReport(cluster, set.digest, seconds())));
    stats.durationMs = Date.now() - started;
    metrics?.runs.inc({ outcome: stats.errors ? 'failed' : 'complete' });
    metrics?.passSeconds.set(stats.durationMs / 1000);
    publishTotals();
    const w = stats.writes;
    log.info({ reason, namespaces: stats.namespaces, workloads: stats.workloads, fail: stats.results.fail, warn: stats.results.warn, written: w.created + w.replaced + w.deleted, unchanged: w.unchanged, errors: stats.errors, durationMs: stats.durationMs, policySet: set.digest }, 'audit pass done');
    if (dirty.size) scheduleFlush();
    return stats;
  }

  function drop(ns: string): void {
    for (const a of byNs.get(ns)?.values() ?? []) adjustTotals(a, -1);
    byNs.delete(ns);
    written.delete(ns);
    dirty.delete(ns);
  }

  async function flush(): Promise<void> {
    const writes = { created: 0, replaced: 0, unchanged: 0, deleted: 0, absent: 0 };
    for (const ns of [...dirty]) {
      if (!writable()) return;
      dirty.delete(ns);
      try {
        await saveNamespace(ns, true, writes);
      } catch (err) {
        if (err instanceof Abandoned) return;
        log.warn({ namespace: ns, err: String((err as Error)?.message ?? err) }, 'audit report not written; retried on the next change or pass');
      }
    }
    publishTotals();
  }

  function scheduleFlush(): void {
    if (flushTimer || !active) return;
    tasks++;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      tasks--;
      enqueue(flush);
    }, flushDelayMs);
    flushTimer.unref();
  }

  function requestPass(reason: string): void {
    if (!active || passQueued) return;
    passQueued = true;
    enqueue(async () => {
      passQueued = false;
      await pass(reason);
    });
  }

  /** Applies a workload's new audit (undefined: gone) where the state of its namespace is. */
  function apply(ns: string, uid: string, audit: WorkloadAudit | undefined): void {
    if (current?.ns === ns) return void current.touched.set(uid, audit ?? null);
    const map = byNs.get(ns);
    const prev = map?.get(uid);
    if (!audit && !prev) return;
    if (audit && prev && sameAudit(prev, audit)) return;
    adjustTotals(prev, -1);
    adjustTotals(audit, 1);
    if (audit) (map ?? byNs.set(ns, new Map()).get(ns)!).set(uid, audit);
    else {
      map!.delete(uid);
      if (!map!.size) byNs.delete(ns);
    }
    dirty.add(ns);
    scheduleFlush();
  }

  /** Whether an event in this namespace is the auditor's to apply now (else a pass covers it). */
  const applicable = (ns: string) => active && (ready || pending !== undefined) && !pending?.has(ns);

  /** The workload's new state (null: gone) judged and applied — or held while its namespace's labels are looked up. */
  function route(ns: string, uid: string, obj: KubeObject | null): void {
    if (namespaces.hold(ns, uid, obj, () => enqueue(() => lookUp(ns)))) return;
    // One that became owned (a ReplicaSet adopted by a Deployment) leaves the report.
    apply(ns, uid, obj && isAuditedWorkload(obj) ? judge(obj, byNs.get(ns)?.get(uid)) : undefined);
  }

  async function lookUp(ns: string): Promise<void> {
    for (const [uid, obj] of await namespaces.lookUp(ns)) if (applicable(ns)) route(ns, uid, obj);
  }

  /** Leading: a full pass now and every interval. Following: stop, and forget (the next leader starts afresh). */
  function setActive(on: boolean): void {
    if (on === active) return;
    active = on;
    clearInterval(intervalTimer);
    clearTimeout(retryTimer);
    if (on) {
      requestPass('leader');
      intervalTimer = setInterval(() => requestPass('interval'), config.intervalMs);
      intervalTimer.unref();
      return;
    }
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      tasks--;
    }
    for (const ns of [...byNs.keys()]) drop(ns);
    namespaces.clear();
    ready = false;
  }

  return {
    /** A workload's new state (the recorder's watch: add or update). */
    observe(obj: KubeObject): void {
      if (!isWorkloadKind(obj.kind)) return;
      const ref = workloadRefOf(obj);
      if (ref && applicable(ref.namespace)) route(ref.namespace, ref.uid, obj);
    },
    /** A workload was deleted: its results go. */
    forget(obj: KubeObject): void {
      const ref = workloadRefOf(obj);
      if (ref && applicable(ref.namespace)) route(ref.namespace, ref.uid, null);
    },
    setActive,
    /** A new policy set: a full pass judges everything again when its digest differs. */
    setPolicies(next: PolicySet): void {
      if (next.digest === set.digest) return;
      set = next;
      appliedLists = new Map();
      requestPass('policies');
    },
    /** Runs a full pass now (after any queued work); resolves with what it did (undefined: not leading, CRDs missing, abandoned). */
    async fullPass(reason = 'requested'): Promise<PassStats | undefined> {
      let out: PassStats | undefined;
      enqueue(async () => void (out = await pass(reason)));
      await chain;
      return out;
    },
    /** Resolves once no pass or report write is queued or running. */
    async idle(): Promise<void> {
      while (tasks > 0) await (flushTimer ? new Promise((r) => setTimeout(r, flushDelayMs)) : chain);
    },
    stop(): void {
      setActive(false);
    },
  };
}

export type Auditor = ReturnType<typeof createAuditor>;
