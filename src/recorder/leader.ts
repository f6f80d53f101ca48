/**
 * Leader election through a coordination.k8s.io/v1 Lease, so that two recorder replicas never both
 * write. A candidate takes the Lease when it is free or expired, renews it while leading, and steps
 * down as soon as a renewal fails; every write goes through resourceVersion, so a lost race is a 409,
 * never two leaders.
 */
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusOf } from '../kube/api-error.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease is valid after its last renewal. */
  leaseDurationMs: number;
  /** How often the leader renews and candidates retry. */
  renewIntervalMs: number;
}

/** client-go's defaults (15 s lease, renew well within it), so failover takes at most ~15 s. */
export const DEFAULT_LEADER_TIMING = { leaseDurationMs: 15_000, renewIntervalMs: 5_000 };

export interface LeaderDeps {
  api: Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;
  log: Logger;
  now?: () => Date;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** Creates an elector; `start` begins campaigning, `stop` releases the lease if held. */
export function createLeaderElector(opts: LeaderOptions, deps: LeaderDeps) {
  const now = deps.now ?? (() => new Date());
  let leading = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // When the last successful acquire/renew was sent: the lease is ours until this plus its duration,
  // even if a renewal is late (slow API, busy event loop). Taken before the call, to err on the safe side.
  let heldSince = 0;
  // The campaign step under way, so that stop() can wait for it instead of racing it.
  let inflight: Promise<void> | undefined;

  function setLeading(next: boolean): void {
    if (next === leading) return;
    leading = next;
    deps.log.info({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity, leading }, next ? 'became leader' : 'stopped leading');
    (next ? deps.onStartedLeading : deps.onStoppedLeading)();
  }

  function leaseBody(existing: V1Lease | undefined, transitions: number): V1Lease {
    const t = now();
    const keepAcquire = existing?.spec?.holderIdentity === opts.identity ? existing.spec.acquireTime : undefined;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: opts.name, namespace: opts.namespace, ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}) },
      spec: {
        holderIdentity: opts.identity,
        leaseDurationSeconds: Math.ceil(opts.leaseDurationMs / 1000),
        acquireTime: keepAcquire ?? new V1MicroTime(t),
        renewTime: new V1MicroTime(t),
        leaseTransitions: transitions,
      },
    };
  }

  /** One campaign step: returns whether this candidate leads afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    let lease: V1Lease | undefined;
    try {
      lease = await deps.api.readNamespacedLease({ name: opts.name, namespace: opts.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!lease) {
      await deps.api.createNamespacedLease({ namespace: opts.namespace, body: leaseBody(undefined, 0) });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewed = spec.renewTime ? new Date(spec.renewTime as unknown as string).getTime() : 0;
    const duration = (spec.leaseDurationSeconds ?? Math.ceil(opts.leaseDurationMs / 1000)) * 1000;
    const expired = renewed + duration < now().getTime();
    if (holder && holder !== opts.identity && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === opts.identity ? 0 : 1);
    await deps.api.replaceNamespacedLease({ name: opts.name, namespace: opts.namespace, body: leaseBody(lease, transitions) });
    return true;
  }

  async function tick(): Promise<void> {
    try {
      const sent = now().getTime();
      const won = await tryAcquireOrRenew();
      if (won) heldSince = sent;
      // A campaign step that finishes after stop() must not make a stopped candidate lead.
      setLeading(won && !stopped);
    } catch (err) {
      // A conflict means another replica wrote first; any failure to renew means we may no longer lead.
      if (statusOf(err) !== 409) deps.log.warn({ err: String((err as Error)?.message ?? err) }, 'lease update failed');
      setLeading(false);
    }
    if (!stopped) {
      timer = setTimeout(() => void (inflight = tick()), opts.renewIntervalMs);
      timer.unref();
    }
  }

  return {
    start(): void {
      inflight = tick();
    },
    /** True while this candidate holds an unexpired lease (a late renewal does not extend it). */
    isLeader: () => leading && now().getTime() < heldSince + opts.leaseDurationMs,
    /** Stops campaigning; `release: false` keeps the lease until it expires, as a crashed replica would. */
    async stop(stopOpts: { release?: boolean } = {}): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight;
      const held = heldSince > 0 && now().getTime() < heldSince + opts.leaseDurationMs;
      // Stop writing before letting go, so that the next leader never overlaps with us.
      setLeading(false);
      if (!held || stopOpts.release === false) return;
      try {
        // Releasing lets another replica take over at once instead of after the lease expires.
        const lease = await deps.api.readNamespacedLease({ name: opts.name, namespace: opts.namespace });
        if (lease.spec?.holderIdentity === opts.identity) {
          lease.spec.holderIdentity = '';
          lease.spec.renewTime = new V1MicroTime(0);
          await deps.api.replaceNamespacedLease({ name: opts.name, namespace: opts.namespace, body: lease });
        }
      } catch {
        // Best effort: the lease expires on its own.
      }
    },
  };
}

export type LeaderElector = ReturnType<typeof createLeaderElector>;
