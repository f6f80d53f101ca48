/**
 * `tracegate record`: watches Deployments and turns every pod-template change into a Helm release
 * revision. Only the Lease holder writes. On becoming leader and after every watch restart it
 * reconciles every Deployment from the cluster state, so nothing is lost while it was down; the
 * planner compares with what is recorded, so nothing is doubled.
 */
import type { Logger } from 'pino';
import { TracegateError, isTracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { withRetry, type RetryOptions } from '../kube/retry.js';
import { planRecording, type Plan } from './plan.js';
import type { RecorderMetrics } from './metrics.js';
import { ReleaseExistsError, type ReleaseStorage, type StoredRelease } from './storage.js';

/** How often a workload whose release is mid-operation (pending-*) is looked at again, by default. */
export const DEFAULT_PENDING_RETRY_MS = 2_000;
/** Creating a revision that already exists means someone else wrote first: re-read and decide again, a few times. */
const MAX_CREATE_CONFLICTS = 5;

export interface ReleaseRef {
  name: string;
  namespace: string;
  adopted: boolean;
}

export interface RecorderConfig {
  prefix: string;
  /** Like `helm --history-max`: revisions kept per release (0 = unlimited). */
  historyMax: number;
  /** Release name for a workload that belongs to no Helm release. */
  adoptedName: (obj: KubeObject) => string;
  retry: RetryOptions;
  /** How long to wait before looking again at a release Helm is mid-operation on (default 2 s). */
  pendingRetryMs?: number;
}

/** What became of one queued workload state; for tests and diagnostics. */
export interface ProcessedEvent {
  /** `namespace/name` of the workload. */
  key: string;
  /** resourceVersion of the state that was processed. */
  resourceVersion?: string;
  /** The plan carried out; absent when processing failed. */
  plan?: Plan;
  error?: unknown;
}

export interface RecorderDeps {
  storage: ReleaseStorage;
  log: Logger;
  metrics: RecorderMetrics;
  config: RecorderConfig;
  now?: () => Date;
  /** Schedules a later look at a key (pending releases, failed writes). */
  schedule?: (fn: () => void, ms: number) => void;
  /**
   * Whether this replica may still write (it holds the Lease). Checked before every write, retries
   * included, so a replica that lost the Lease mid-recording stops instead of racing the new leader.
   */
  canWrite?: () => boolean;
  /** Told about every processed state, after its writes. */
  onProcessed?: (event: ProcessedEvent) => void;
}

/** Thrown before a write when this replica is no longer allowed to write (stopped or lost the Lease). */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader any more: leaving the rest to the next leader, which reconciles on start');
    this.name = 'NotLeaderError';
  }
}

/** The Helm release a workload belongs to, from Helm's ownership annotations, else the adopted one. */
export function releaseOf(obj: KubeObject, adoptedName: (obj: KubeObject) => string): ReleaseRef {
  const a = obj.metadata?.annotations ?? {};
  const name = a['meta.helm.sh/release-name'];
  if (name) return { name, namespace: a['meta.helm.sh/release-namespace'] || obj.metadata?.namespace || 'default', adopted: false };
  return { name: adoptedName(obj), namespace: obj.metadata?.namespace ?? 'default', adopted: true };
}

/** `web` → a valid Helm release name (≤ 53 characters, DNS-1123), for adopted workloads. */
export function defaultAdoptedName(obj: KubeObject): string {
  const base = (obj.metadata?.name ?? 'workload').toLowerCase().replace(/[^a-z0-9-.]/g, '-');
  // Helm caps release names at 53 characters so that generated object names stay within 63.
  return base.slice(0, 53).replace(/[-.]+$/, '') || 'workload';
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** Creates the recorder; feed it objects with `enqueue`, run a full pass with `reconcile`. */
export function createRecorder(deps: RecorderDeps) {
  const { storage, log, metrics, config } = deps;
  const now = deps.now ?? (() => new Date());
  const schedule = deps.schedule ?? ((fn, ms) => void setTimeout(fn, ms).unref());
  const pendingRetryMs = config.pendingRetryMs ?? DEFAULT_PENDING_RETRY_MS;
  const queue = new Map<string, KubeObject>();
  // The newest state seen per workload: a delayed retry must look at this, never at the state it was
  // scheduled for — recording that stale state after a newer one would write history backwards.
  const newest = new Map<string, KubeObject>();
  let running: Promise<void> | undefined;
  let active = false;
  const api = <T>(fn: () => Promise<T>) =>
    withRetry(fn, { ...config.retry, onRetry: (i) => log.warn({ ...i }, 'Kubernetes API busy; retrying') });
  type Write = <T>(fn: () => Promise<T>) => Promise<T>;
  // The check runs inside the retried call, so a replica that loses the Lease stops even mid-backoff.
  const writer =
    (canWrite: () => boolean): Write =>
    (fn) =>
      api(() => {
        if (!canWrite()) throw new NotLeaderError();
        return fn();
      });

  async function resolveRelease(obj: KubeObject): Promise<{ ref: ReleaseRef; history: StoredRelease[] }> {
    const ref = releaseOf(obj, config.adoptedName);
    let history = await api(() => storage.history(ref.namespace, ref.name));
    if (ref.adopted && history.length) {
      const adoptedByUs = history.some((h) => h.release.chart?.metadata?.annotations?.['tracegate.io/adopted'] === 'true');
      if (!adoptedByUs) {
        // A Helm release of that name exists but does not own this workload: never write into it.
        ref.name = `${ref.name.slice(0, 43)}-tracegate`;
        history = await api(() => storage.history(ref.namespace, ref.name));
      }
    }
    return { ref, history };
  }

  async function prune(ref: ReleaseRef, write: Write): Promise<void> {
    if (config.historyMax <= 0) return;
    const history = await api(() => storage.history(ref.namespace, ref.name));
    const removable = history.filter((h) => h.release.info.status !== 'deployed').sort((a, b) => a.release.version - b.release.version);
    let excess = history.length - config.historyMax;
    for (const h of removable) {
      if (excess-- <= 0) break;
      await write(() => storage.delete(ref.namespace, ref.name, h.release.version));
      log.info({ release: `${ref.namespace}/${ref.name}`, revision: h.release.version }, 'pruned old revision (history max)');
    }
  }

  async function supersede(list: readonly StoredRelease[], write: Write): Promise<void> {
    for (const s of list) {
      const release = { ...s.release, info: { ...s.release.info, status: 'superseded' } };
      await write(() => storage.update(release, s.labels));
    }
  }

  /**
   * Records what the workload's current state calls for. Returns the plan that was carried out.
   * `canWrite` is asked before every write; when it says no, {@link NotLeaderError} is thrown.
   */
  async function processOne(obj: KubeObject, canWrite: () => boolean = () => true): Promise<Plan> {
    const write = writer(canWrite);
    for (let attempt = 1; ; attempt++) {
      const { ref, history } = await resolveRelease(obj);
      const plan = planRecording({ workload: obj, release: ref, history, prefix: config.prefix, now: now() });
      const release = `${ref.namespace}/${ref.name}`;
      if (plan.action === 'none') {
        log.debug({ release, workload: keyOf(obj), resourceVersion: obj.metadata?.resourceVersion, reason: plan.reason }, 'nothing to record');
        if (plan.repair?.length) {
          await supersede(plan.repair, write);
          log.warn({ release, revisions: plan.repair.map((r) => r.release.version) }, 'repaired: more than one deployed revision');
        }
        return plan;
      }
      if (plan.action === 'wait') {
        log.debug({ release, reason: plan.reason }, 'waiting');
        return plan;
      }
      try {
        await write(() => storage.create(plan.release, plan.labels));
      } catch (err) {
        if (err instanceof ReleaseExistsError && attempt < MAX_CREATE_CONFLICTS) {
          metrics.conflicts.inc();
          log.info({ release, revision: plan.release.version }, 'revision written by someone else meanwhile; re-reading');
          continue;
        }
        throw err;
      }
      await supersede(plan.supersede, write);
      await prune(ref, write);
      const verified = plan.provenance.verified;
      metrics.recorded.inc({ verified: String(verified), adopted: String(ref.adopted) });
      const fields = { release, revision: plan.release.version, workload: keyOf(obj), changes: plan.changes, verified, changeId: plan.provenance.changeId, skipped: plan.skipped };
      if (verified) log.info(fields, 'recorded change');
      else {
        metrics.unverified.inc();
        log.warn(fields, 'recorded UNVERIFIED change: the pod template changed without passing the tracegate gate');
      }
      return plan;
    }
  }

  /** Looks at the workload again later, in the newest state seen by then. */
  function retryLater(key: string, ms: number): void {
    schedule(() => {
      const obj = newest.get(key);
      if (obj) enqueue(obj);
    }, ms);
  }

  async function drain(): Promise<void> {
    while (active && queue.size) {
      const [key, obj] = queue.entries().next().value as [string, KubeObject];
      queue.delete(key);
      const resourceVersion = obj.metadata?.resourceVersion;
      try {
        const plan = await processOne(obj, () => active && (deps.canWrite?.() ?? true));
        if (plan.action === 'wait') retryLater(key, pendingRetryMs);
        deps.onProcessed?.({ key, ...(resourceVersion ? { resourceVersion } : {}), plan });
      } catch (err) {
        // Not re-queued: whoever leads next reconciles every workload when it starts leading.
        if (err instanceof NotLeaderError) log.info({ workload: key }, err.message);
        else {
          metrics.errors.inc();
          const fatal = isTracegateError(err, 'RELEASE_TOO_LARGE') || isTracegateError(err, 'RELEASE_INVALID');
          log.error({ workload: key, code: (err as TracegateError).code, err: String((err as Error)?.message ?? err) }, fatal ? 'cannot record this change' : 'recording failed; will retry');
          if (!fatal) retryLater(key, config.retry.maxDelayMs);
        }
        deps.onProcessed?.({ key, ...(resourceVersion ? { resourceVersion } : {}), error: err });
      }
    }
  }

  function kick(): void {
    if (!active || running) return;
    running = drain().finally(() => {
      running = undefined;
      if (active && queue.size) kick();
    });
  }

  /** Queues a workload; a newer state of the same workload replaces a queued older one. */
  function enqueue(obj: KubeObject): void {
    if (obj.kind !== 'Deployment' || !obj.metadata?.name || obj.metadata.deletionTimestamp) return;
    const key = keyOf(obj);
    newest.set(key, obj);
    queue.set(key, obj);
    kick();
  }

  return {
    enqueue,
    processOne,
    /** Drops what is known about a deleted workload. */
    forget(obj: KubeObject): void {
      const key = keyOf(obj);
      newest.delete(key);
      queue.delete(key);
    },
    /** Queues every workload of a full list (start, leadership, watch restart). */
    reconcile(objs: readonly KubeObject[]): void {
      for (const o of objs) enqueue(o);
    },
    /** Starts writing (the leader) or pauses (a follower); queued work waits while paused. */
    setActive(on: boolean): void {
      active = on;
      if (on) kick();
    },
    /** Resolves when the queue is empty and nothing is being written. */
    async idle(): Promise<void> {
      while (running || (active && queue.size)) await (running ?? Promise.resolve());
    },
  };
}

export type Recorder = ReturnType<typeof createRecorder>;
