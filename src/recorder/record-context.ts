/**
 * What recording a workload's state or deletion needs, shared by both: storage for Helm's records and
 * tracegate's trails, the deletion notes, the clock, logging, metrics, and the release a workload
 * belongs to. Reads go through `api` (retried under throttling); writes through a `Write` that first
 * checks this replica still leads.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../k8s/types.js';
import type { RetryOptions } from '../kube/retry.js';
import type { MacKeyring } from '../provenance/mac.js';
import type { DeletionNotes } from './deletion-notes.js';
import type { RecorderMetrics } from './metrics.js';
import type { ReleaseStorage, StoredRelease } from './storage.js';
import type { RollbackRepair } from '../rollback/repair.js';
import type { TrailEntry } from './trail.js';
import { TrailUnavailableError, type TrailStore } from './trail-store.js';
import type { ReleaseRef } from './release-ref.js';

export { defaultAdoptedName, foreignRelease, releaseOf } from './release-ref.js';
export type { ReleaseRef } from './release-ref.js';


export interface RecorderConfig {
  prefix: string;
  /** Like `helm --history-max`: revisions kept per release (0 = unlimited). The trail keeps everything. */
  historyMax: number;
  /** Release name for a workload that belongs to no Helm release. */
  adoptedName: (obj: KubeObject) => string;
  retry: RetryOptions;
  /** How long to wait before looking again at a release Helm is mid-operation on (default 2 s). */
  pendingRetryMs?: number;
  /** The key shared with the gate: a change is verified only when its stamps' MAC checks with it. */
  keyring?: MacKeyring;
  /**
   * How often a deletion is looked at again while the gate's note of who deleted it has not arrived
   * (it is written just after the DELETE is admitted), before it is recorded with the deleter unknown.
   */
  deletionNoteAttempts?: number;
}

/** A write that first checks this replica may still write. */
export type Write = <T>(fn: () => Promise<T>) => Promise<T>;

export interface RecordContext {
  storage: ReleaseStorage;
  trails: TrailStore;
  notes: DeletionNotes;
  log: Logger;
  metrics: RecorderMetrics;
  config: RecorderConfig;
  now: () => Date;
  /** Runs a read, retrying throttling and server errors. */
  api: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Finishes Helm rollbacks that did not land exactly; undefined when the recorder may not write workloads. */
  restore?: RollbackRepair;
  /** `uid/template/generation` of states whose rollout outcome is in the trail already: no read per status event. */
  rolloutsMarked: BoundedSet;
}

/** A set that forgets its oldest members past `max`: remembering is an optimisation, forgetting is safe. */
export interface BoundedSet {
  has(key: string): boolean;
  add(key: string): void;
}

/** Creates a {@link BoundedSet}. */
export function createBoundedSet(max: number): BoundedSet {
  const keys = new Set<string>();
  return {
    has: (key) => keys.has(key),
    add(key) {
      keys.add(key);
      // Sets iterate in insertion order: the first key is the oldest.
      if (keys.size > max) keys.delete(keys.values().next().value as string);
    },
  };
}




/**
 * The release of a workload: Helm's (from its ownership annotations), else the adopted one. An adopted
 * name that a Helm release not made by tracegate already uses becomes `<name>-tracegate`: tracegate
 * never writes into a release that does not own the workload.
 */
export async function resolveRelease(ctx: RecordContext, obj: KubeObject, helm: { release: string; namespace: string } | undefined): Promise<{ ref: ReleaseRef; history: StoredRelease[] }> {
  const ref: ReleaseRef = helm
    ? { name: helm.release, namespace: helm.namespace, adopted: false }
    : { name: ctx.config.adoptedName(obj), namespace: obj.metadata?.namespace ?? 'default', adopted: true };
  let history = await ctx.api(() => ctx.storage.history(ref.namespace, ref.name));
  if (ref.adopted && history.length && !history.some((h) => h.release.chart?.metadata?.annotations?.[`${ctx.config.prefix}adopted`] === 'true')) {
    // Helm caps release names at 53 characters: room for the suffix.
    ref.name = `${ref.name.slice(0, 43)}-tracegate`;
    history = await ctx.api(() => ctx.storage.history(ref.namespace, ref.name));
  }
  return { ref, history };
}

/** Rewrites every given revision as `superseded`. */
export async function supersede(ctx: RecordContext, list: readonly StoredRelease[], write: Write): Promise<void> {
  for (const s of list) {
    const release = { ...s.release, info: { ...s.release.info, status: 'superseded' } };
    await write(() => ctx.storage.update(release, s.labels));
  }
}

/** Removes the oldest revisions beyond `--history-max`, never the deployed one (as Helm prunes). */
export async function prune(ctx: RecordContext, ref: ReleaseRef, write: Write): Promise<void> {
  if (ctx.config.historyMax <= 0) return;
  const history = await ctx.api(() => ctx.storage.history(ref.namespace, ref.name));
  const removable = history.filter((h) => h.release.info.status !== 'deployed').sort((a, b) => a.release.version - b.release.version);
  let excess = history.length - ctx.config.historyMax;
  for (const h of removable) {
    if (excess-- <= 0) break;
    await write(() => ctx.storage.delete(ref.namespace, ref.name, h.release.version));
    ctx.log.info({ release: `${ref.namespace}/${ref.name}`, revision: h.release.version }, 'pruned old revision (history max); its provenance stays in the trail');
  }
}

/** How often the recorder repeats that the ChangeTrail CRD is missing, while it is. */
const TRAIL_WARNING_INTERVAL_MS = 60_000;
let lastTrailWarning = 0;

/**
 * Appends to the trail, or — when the ChangeTrail resource is not served — says so loudly (at most once a
 * minute, and on the metric) and goes on: the Helm revisions are still recorded.
 */
export async function appendToTrail(ctx: RecordContext, run: () => Promise<TrailEntry | undefined>): Promise<TrailEntry | undefined> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof TrailUnavailableError)) throw err;
    ctx.metrics.errors.inc();
    const now = Date.now();
    if (now - lastTrailWarning > TRAIL_WARNING_INTERVAL_MS) {
      lastTrailWarning = now;
      ctx.log.error(err.message + '; changes are recorded as Helm revisions only, and nothing Helm prunes is kept');
    }
    return undefined;
  }
}

/** `Kind/namespace/name`: one queue slot and one log key per workload. */
export function workloadKey(obj: KubeObject): string {
  return `${obj.kind ?? ''}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
