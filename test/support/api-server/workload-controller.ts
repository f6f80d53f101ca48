/**
 * Controller stand-ins for ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets and Jobs
 * (`workload-kinds.ts` says what each does). On every change of an owner or of one of its pods the
 * owner is reconciled, one reconcile per owner at a time: with Pod creation on, missing pods are
 * created and surplus or outdated ones deleted through the normal write pipeline (admission hook
 * included) as `system:serviceaccount:kube-system:<controller>`, with events like the real
 * controllers'; then the status is written through the status subresource's storage, as the
 * controllers do. A failed creation is recorded (request log, FailedCreate event, ReplicaFailure
 * condition) and retried a bounded number of times with backoff, as the work queue's rate limiter would.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { InternalClient } from './internal-client.js';
import { updateManagedFields } from './managed-fields.js';
import { apiVersionOf, findResource, resourceForKind } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';
import { WORKLOAD_KINDS } from './workload-kinds.js';
import type { WorkloadKind } from './workload-kinds.js';

/** What the workload controllers need. */
export interface WorkloadControllerDeps {
  store: ObjectStore;
  now: () => Date;
  /** A client acting as `system:serviceaccount:kube-system:<controller>`. */
  clientFor(controller: string): InternalClient;
  /** Create and delete pods (else statuses report the pods they would have, all ready). */
  pods: boolean;
  /** The one node DaemonSet pods are pinned to. */
  node: string;
}

/** Reconciles of one owner that may fail to create pods before it waits for its next change. */
const MAX_FAILED_ATTEMPTS = 4;
/** First retry delay; doubled per failure (the work queue's exponential backoff, shortened). */
const RETRY_BASE_MS = 20;
const MANAGER = 'kube-controller-manager';

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function meta(obj: JsonObject): JsonObject {
  return rec(obj['metadata']);
}

function stamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

/** The uid of the object's controller ownerReference, if any. */
function controllerUid(obj: JsonObject): { kind: string; apiVersion: string; uid: string } | undefined {
  const owners = meta(obj)['ownerReferences'];
  const ref = Array.isArray(owners) ? owners.find((o) => isRecord(o) && o['controller'] === true) : undefined;
  return isRecord(ref) ? { kind: String(ref['kind']), apiVersion: String(ref['apiVersion']), uid: String(ref['uid']) } : undefined;
}

/** Failures of one owner since its generation last changed. */
interface FailureState {
  generation: unknown;
  attempts: number;
  message: string | undefined;
}

/** Starts the workload controllers; returns a function that stops them. */
export function startWorkloadControllers(deps: WorkloadControllerDeps): () => void {
  const podsInfo = findResource('', 'v1', 'pods') as ResourceInfo;
  const kinds = new Map<ResourceInfo, WorkloadKind>();
  for (const k of WORKLOAD_KINDS) {
    const info = resourceForKind(k.apiVersion, k.kind);
    if (info !== undefined) kinds.set(info, k);
  }
  const running = new Set<string>();
  const dirty = new Set<string>();
  const failures = new Map<string, FailureState>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  function enqueue(info: ResourceInfo, namespace: string, name: string): void {
    const key = `${info.resource}/${namespace}/${name}`;
    if (running.has(key)) {
      dirty.add(key);
      return;
    }
    running.add(key);
    // After the write that triggered it has answered, like a controller reacting to a watch event.
    setImmediate(() => {
      void (async () => {
        try {
          do {
            dirty.delete(key);
            if (!stopped) await reconcile(info, namespace, name, key);
          } while (dirty.has(key) && !stopped);
        } finally {
          running.delete(key);
        }
      })();
    });
  }

  function ownedPods(owner: JsonObject, namespace: string): JsonObject[] {
    const uid = meta(owner)['uid'];
    return deps.store.list(podsInfo, namespace).filter((p) => controllerUid(p)?.uid === uid);
  }

  async function recordEvent(client: InternalClient, owner: JsonObject, controller: string, type: string, reason: string, message: string): Promise<void> {
    const m = meta(owner);
    const now = stamp(deps.now());
    // record.EventRecorder names events `<object>.<hex timestamp>`; random hex keeps them unique here.
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${String(m['name'])}.${randomBytes(8).toString('hex')}`, namespace: m['namespace'] },
      involvedObject: { kind: owner['kind'], namespace: m['namespace'], name: m['name'], uid: m['uid'], apiVersion: owner['apiVersion'], resourceVersion: m['resourceVersion'] },
      reason,
      message,
      source: { component: controller },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: controller,
      reportingInstance: '',
    };
    await client.request('POST', `/api/v1/namespaces/${String(m['namespace'])}/events`, event);
  }

  /** Creates and deletes pods per the kind's plan; returns the last creation error, if any. */
  async function syncPods(kind: WorkloadKind, owner: JsonObject, namespace: string): Promise<string | undefined> {
    const client = deps.clientFor(kind.controller);
    const plan = kind.plan(owner, ownedPods(owner, namespace), deps.node);
    const set = kind.kind === 'StatefulSet' ? ` in StatefulSet ${String(meta(owner)['name'])}` : '';
    let failure: string | undefined;
    for (const { action, pod } of plan.steps) {
      if (action === 'delete') {
        const name = String(meta(pod)['name']);
        const res = await client.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: meta(pod)['uid'] } });
        if (res.status < 300) await recordEvent(client, owner, kind.controller, 'Normal', 'SuccessfulDelete', set === '' ? `Deleted pod: ${name}` : `delete Pod ${name}${set} successful`);
        continue;
      }
      const res = await client.request('POST', `/api/v1/namespaces/${namespace}/pods`, pod);
      if (res.status >= 300) {
        failure = String(res.body['message'] ?? `status ${res.status}`);
        await recordEvent(client, owner, kind.controller, 'Warning', 'FailedCreate', set === '' ? `Error creating: ${failure}` : `create Pod ${String(meta(pod)['name'])}${set} failed error: ${failure}`);
        if (plan.stopOnFailure) break;
        continue;
      }
      const created = String(meta(res.body)['name']);
      await recordEvent(client, owner, kind.controller, 'Normal', 'SuccessfulCreate', set === '' ? `Created pod: ${created}` : `create Pod ${created}${set} successful`);
    }
    return failure;
  }

  function writeStatus(info: ResourceInfo, owner: JsonObject, status: JsonObject): boolean {
    if (isDeepStrictEqual(owner['status'] ?? {}, status)) return true;
    const latest = deps.store.get(info, String(meta(owner)['namespace'] ?? ''), String(meta(owner)['name']));
    // The owner changed since it was read: the reconcile its change queued writes the status instead.
    if (latest === undefined || meta(latest)['resourceVersion'] !== meta(owner)['resourceVersion']) return false;
    const next = { ...latest, status };
    const write = { manager: MANAGER, operation: 'Update' as const, apiVersion: apiVersionOf(info), subresource: 'status', now: deps.now() };
    deps.store.commit(info, updateManagedFields(latest, next, write));
    return true;
  }

  function scheduleRetry(info: ResourceInfo, namespace: string, name: string, attempts: number): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) enqueue(info, namespace, name);
    }, RETRY_BASE_MS * 2 ** attempts);
    timers.add(timer);
  }

  async function reconcile(info: ResourceInfo, namespace: string, name: string, key: string): Promise<void> {
    const kind = kinds.get(info);
    let owner = deps.store.get(info, namespace, name);
    if (kind === undefined || owner === undefined) {
      failures.delete(key);
      return;
    }
    let state = failures.get(key);
    if (state === undefined || state.generation !== meta(owner)['generation']) {
      state = { generation: meta(owner)['generation'], attempts: 0, message: undefined };
      failures.set(key, state);
    }
    let pods: JsonObject[];
    if (deps.pods) {
      if (state.attempts < MAX_FAILED_ATTEMPTS) {
        const failure = await syncPods(kind, owner, namespace);
        if (failure === undefined) state.message = undefined;
        else {
          state.message = failure;
          state.attempts++;
          if (state.attempts < MAX_FAILED_ATTEMPTS) scheduleRetry(info, namespace, name, state.attempts);
        }
      }
      owner = deps.store.get(info, namespace, name);
      if (owner === undefined) return;
      pods = ownedPods(owner, namespace);
    } else {
      pods = kind.virtual(owner, deps.node);
    }
    if (!writeStatus(info, owner, kind.status(owner, pods, state.message, stamp(deps.now())))) dirty.add(key);
  }

  const unsubscribe = deps.store.subscribe((e) => {
    const ns = String(meta(e.object)['namespace'] ?? '');
    if (kinds.has(e.info)) {
      if (e.type !== 'DELETED') enqueue(e.info, ns, String(meta(e.object)['name']));
      return;
    }
    if (e.info !== podsInfo) return;
    // A pod's change wakes its controller up.
    const ref = controllerUid(e.object);
    const ownerInfo = ref === undefined ? undefined : resourceForKind(ref.apiVersion, ref.kind);
    if (ref === undefined || ownerInfo === undefined || !kinds.has(ownerInfo)) return;
    const owner = deps.store.list(ownerInfo, ns).find((o) => meta(o)['uid'] === ref.uid);
    if (owner !== undefined) enqueue(ownerInfo, ns, String(meta(owner)['name']));
  });
  return () => {
    stopped = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
}
