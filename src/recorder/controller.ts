/**
 * `tracegate record`: turns every state and deletion of every workload kind with a pod template into
 * Helm release revisions and trail entries. Only the Lease holder writes. On becoming leader and after
 * every watch restart it reconciles every workload from the cluster state, so nothing is lost while it
 * was down; recording compares with what is recorded, so nothing is doubled.
 */
import type { Logger } from 'pino';
import { TracegateError, isTracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { withRetry } from '../kube/retry.js';
import { workloadKind } from '../workload/kinds.js';
import type { DeletionNotes } from './deletion-notes.js';
import type { RecorderMetrics } from './metrics.js';
import type { Plan } from './plan.js';
import { recordDeletion, type DeletionOutcome } from './record-deletion.js';
import { createBoundedSet, workloadKey, type RecorderConfig, type RecordContext, type Write } from './record-context.js';
import { recordState } from './record-state.js';
import type { RollbackRepair } from '../rollback/repair.js';
import type { ReleaseStorage } from './storage.js';
import type { TrailStore } from './trail-store.js';

export { defaultAdoptedName, releaseOf } from './record-context.js';
export type { RecorderConfig, ReleaseRef } from './record-context.js';

/** How often a workload whose release is mid-operation (pending-*) is looked at again, by default. */
export const DEFAULT_PENDING_RETRY_MS = 2_000;
/** Rollout outcomes remembered as written (~100 bytes each): a resync of 10,000 workloads costs no trail reads. */
const ROLLOUTS_REMEMBERED = 20_000;

/** What became of one queued workload state or deletion; for tests and diagnostics. */
export interface ProcessedEvent {
  /** `Kind/namespace/name` of the workload. */
  key: string;
  /** resourceVersion of the state that was processed. */
  resourceVersion?: string;
  /** The plan carried out for a state; absent when processing failed. */
  plan?: Plan;
  /** What recording a deletion did. */
  deletion?: DeletionOutcome;
  error?: unknown;
}

export interface RecorderDeps {
  storage: ReleaseStorage;
  trails: TrailStore;
  notes: DeletionNotes;
  log: Logger;
  metrics: RecorderMetrics;
  config: RecorderConfig;
  now?: () => Date;
  /** Schedules a later look at a key (pending releases, failed writes, notes not yet there). */
  schedule?: (fn: () => void, ms: number) => void;
  /**
   * Whether this replica may still write (it holds the Lease). Checked before every write, retries
   * included, so a replica that lost the Lease mid-recording stops instead of racing the new leader.
   */
  canWrite?: () => boolean;
  /** Told about every processed state, after its writes. */
  onProcessed?: (event: ProcessedEvent) => void;
  /** Finishes Helm rollbacks that did not land exactly (see rollback/repair.ts); off when absent. */
  restore?: RollbackRepair;
}

/** Thrown before a write when this replica is no longer allowed to write (stopped or lost the Lease). */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader any more: leaving the rest to the next leader, which reconciles on start');
    this.name = 'NotLeaderError';
  }
}

/** A state to record, or a deletion (its last state) with how often it was looked at. */
type Work = { type: 'state'; obj: KubeObject } | { type: 'delete'; obj: KubeObject; attempt: number };

/** Creates the recorder; feed it objects with `enqueue`/`deleted`, run a full pass with `reconcile`. */
export function createRecorder(deps: RecorderDeps) {
  const { log, metrics, config } = deps;
  const now = deps.now ?? (() => new Date());
  const schedule = deps.schedule ?? ((fn, ms) => void setTimeout(fn, ms).unref());
  const pendingRetryMs = config.pendingRetryMs ?? DEFAULT_PENDING_RETRY_MS;
  const queue = new Map<string, Work>();
  // The newest state seen per workload: a delayed retry must look at this, never at the state it was
  // scheduled for — recording that stale state after a newer one would write history backwards.
  const newest = new Map<string, KubeObject>();
  let running: Promise<void> | undefined;
  let active = false;
  const api = <T>(fn: () => Promise<T>) => withRetry(fn, { ...config.retry, onRetry: (i) => log.warn({ ...i }, 'Kubernetes API busy; retrying') });
  const ctx: RecordContext = { storage: deps.storage, trails: deps.trails, notes: deps.notes, log, metrics, config, now, api, rolloutsMarked: createBoundedSet(ROLLOUTS_REMEMBERED), ...(deps.restore ? { restore: deps.restore } : {}) };
  // The check runs inside the retried call, so a replica that loses the Lease stops even mid-backoff.
  const writer =
    (canWrite: () => boolean): Write =>
    (fn) =>
      api(() => {
        if (!canWrite()) throw new NotLeaderError();
        return fn();
      });

  /** Records what the workload's current state calls for. */
  async function processOne(obj: KubeObject, canWrite: () => boolean = () => true): Promise<Plan> {
    return (await recordState(ctx, obj, writer(canWrite))).plan;
  }

  function later(key: string, work: () => Work | undefined, ms: number): void {
    schedule(() => {
      const next = work();
      if (next && !queue.has(key)) {
        queue.set(key, next);
        kick();
      }
    }, ms);
  }

  async function run(key: string, work: Work): Promise<void> {
    const resourceVersion = work.obj.metadata?.resourceVersion;
    const event: ProcessedEvent = { key: work.type === 'state' ? key : workloadKey(work.obj), ...(resourceVersion ? { resourceVersion } : {}) };
    const write = writer(() => active && (deps.canWrite?.() ?? true));
    try {
      if (work.type === 'state') {
        const { plan } = await recordState(ctx, work.obj, write);
        if (plan.action === 'wait') later(key, () => stateWork(key), pendingRetryMs);
        event.plan = plan;
      } else {
        const outcome = await recordDeletion(ctx, work.obj, work.attempt, write);
        if (outcome.status === 'retry') later(key, () => ({ ...work, attempt: work.attempt + 1 }), pendingRetryMs);
        event.deletion = outcome;
      }
    } catch (err) {
      event.error = err;
      // Not re-queued: whoever leads next reconciles every workload when it starts leading.
      if (err instanceof NotLeaderError) log.info({ workload: event.key }, err.message);
      else {
        metrics.errors.inc();
        const fatal = isTracegateError(err, 'RELEASE_TOO_LARGE') || isTracegateError(err, 'RELEASE_INVALID');
        log.error({ workload: event.key, code: (err as TracegateError).code, err: String((err as Error)?.message ?? err) }, fatal ? 'cannot record this change' : 'recording failed; will retry');
        if (!fatal) later(key, () => (work.type === 'state' ? stateWork(key) : work), config.retry.maxDelayMs);
      }
    }
    deps.onProcessed?.(event);
  }

  function stateWork(key: string): Work | undefined {
    const obj = newest.get(key);
    return obj ? { type: 'state', obj } : undefined;
  }

  async function drain(): Promise<void> {
    while (active && queue.size) {
      const [key, work] = queue.entries().next().value as [string, Work];
      queue.delete(key);
      await run(key, work);
    }
  }

  function kick(): void {
    if (!active || running) return;
    running = drain().finally(() => {
      running = undefined;
      if (active && queue.size) kick();
    });
  }

  function recordable(obj: KubeObject): boolean {
    return workloadKind(obj.kind)?.recorded === true && !!obj.metadata?.name;
  }

  /** Queues a workload's state; a newer state of the same workload replaces a queued older one. */
  function enqueue(obj: KubeObject): void {
    if (!recordable(obj) || obj.metadata?.deletionTimestamp) return;
    const key = workloadKey(obj);
    newest.set(key, obj);
    queue.set(key, { type: 'state', obj });
    kick();
  }

  return {
    enqueue,
    processOne,
    /** Queues the deletion of a workload (its last state); a queued state of it is dropped. */
    deleted(obj: KubeObject): void {
      const key = workloadKey(obj);
      newest.delete(key);
      queue.delete(key);
      const uid = obj.metadata?.uid;
      if (!recordable(obj) || !uid) return;
      // Keyed by uid: a workload created again under the same name must not replace its predecessor's deletion.
      queue.set(`delete/${uid}`, { type: 'delete', obj, attempt: 1 });
      kick();
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
