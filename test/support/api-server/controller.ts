/**
 * A stand-in for the Deployment controller: per pod template it keeps an owned ReplicaSet
 * (`<name>-<pod-template-hash>`, revision annotations, the current one scaled to `spec.replicas`,
 * older ones to 0; their status is the ReplicaSet controller's) and writes, through the status
 * subresource as the real controller does, `deployment.kubernetes.io/revision` and the status of
 * `deployment-status.ts` — every replica ready at once without Pods, the ReplicaSets' counts with
 * them — so `helm --wait`, kstatus and `kubectl rollout status` are satisfied.
 */
import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { deploymentStatus } from './deployment-status.js';
import { updateManagedFields } from './managed-fields.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';

const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';
/** The alphabet of `rand.SafeEncodeString`: no vowels, no look-alike characters. */
const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** Length of a pod-template-hash like `5d8f7c6b9c`. */
const HASH_LENGTH = 10;
const MANAGER = 'kube-controller-manager';

function meta(obj: JsonObject): JsonObject {
  if (!isRecord(obj['metadata'])) obj['metadata'] = {};
  return obj['metadata'] as JsonObject;
}

function record(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

/** A stable hash of the pod template, in the shape of Kubernetes' pod-template-hash. */
/** Annotations the deployment controller does not copy onto ReplicaSets (its skipCopyAnnotation list). */
const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
]);

function copiedAnnotations(annotations: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(annotations).filter(([k]) => !NOT_COPIED.has(k)));
}

export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template ?? {})).digest();
  let out = '';
  for (let i = 0; i < HASH_LENGTH; i++) out += HASH_ALPHABET[(digest[i] ?? 0) % HASH_ALPHABET.length];
  return out;
}

function stamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

function revisionOf(rs: JsonObject): number {
  return Number(record(meta(rs)['annotations'])[REVISION] ?? 0) || 0;
}

/** Starts reacting to Deployment changes (and, with Pods, to their ReplicaSets'); returns a function that stops it. */
export function startDeploymentController(deps: { store: ObjectStore; now: () => Date; pods: boolean }): () => void {
  const deployments = findResource('apps', 'v1', 'deployments') as ResourceInfo;
  const replicasets = findResource('apps', 'v1', 'replicasets') as ResourceInfo;
  const pending = new Set<string>();
  let stopped = false;

  function writeReplicaSet(desired: JsonObject, existing: JsonObject | undefined): JsonObject {
    if (existing !== undefined && isDeepStrictEqual({ ...desired, metadata: undefined }, { ...existing, metadata: undefined }) &&
      isDeepStrictEqual(meta(desired)['annotations'], meta(existing)['annotations'])) {
      return existing;
    }
    const m = meta(desired);
    if (existing === undefined) {
      m['uid'] = randomUUID();
      m['creationTimestamp'] = stamp(deps.now());
      m['generation'] = 1;
    } else {
      const old = meta(existing);
      for (const k of ['uid', 'creationTimestamp', 'managedFields']) m[k] = old[k];
      const specChanged = !isDeepStrictEqual(desired['spec'], existing['spec']);
      m['generation'] = Number(old['generation'] ?? 1) + (specChanged ? 1 : 0);
    }
    return deps.store.commit(replicasets, updateManagedFields(existing, desired, { manager: MANAGER, operation: 'Update', apiVersion: 'apps/v1', now: deps.now() }));
  }

  function reconcile(namespace: string, name: string): void {
    const d = deps.store.get(deployments, namespace, name);
    if (d === undefined) return;
    const dm = meta(d);
    const spec = record(d['spec']);
    const template = record(spec['template']);
    const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
    const hash = podTemplateHash(template);
    const owned = deps.store.list(replicasets, namespace).filter((rs) => {
      const owners = meta(rs)['ownerReferences'];
      return Array.isArray(owners) && owners.some((o) => isRecord(o) && o['uid'] === dm['uid']);
    });
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    const current = owned.find((rs) => record(meta(rs)['labels'])[HASH_LABEL] === hash);
    // A template seen before (a rollback) becomes the newest revision again, as in the real controller.
    const revision = current !== undefined && revisionOf(current) === maxRevision ? maxRevision : maxRevision + 1;
    const rsName = `${name}-${hash}`;

    const selector = structuredClone(record(spec['selector']));
    selector['matchLabels'] = { ...record(selector['matchLabels']), [HASH_LABEL]: hash };
    const templateMeta = structuredClone(record(template['metadata']));
    templateMeta['labels'] = { ...record(templateMeta['labels']), [HASH_LABEL]: hash };
    const rsFor = (existing: JsonObject | undefined, rsReplicas: number, rsRevision: number, rsTemplate: JsonObject, rsSelector: JsonObject, rsHash: string, isNew: boolean): JsonObject => ({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        ...(existing === undefined ? {} : meta(existing)),
        name: existing === undefined ? rsName : meta(existing)['name'],
        namespace,
        labels: { ...record(record(rsTemplate['metadata'])['labels']), [HASH_LABEL]: rsHash },
        annotations: {
          // The new ReplicaSet carries the Deployment's annotations (change-cause for `kubectl rollout history`).
          ...(isNew ? copiedAnnotations(record(dm['annotations'])) : record(existing === undefined ? {} : meta(existing)['annotations'])),
          'deployment.kubernetes.io/desired-replicas': String(replicas),
          [REVISION]: String(rsRevision),
        },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: dm['uid'], controller: true, blockOwnerDeletion: true }],
      },
      spec: { replicas: rsReplicas, selector: rsSelector, template: rsTemplate },
      // The ReplicaSet controller owns the status.
      status: structuredClone(existing?.['status'] ?? {}),
    });
    const newRs = writeReplicaSet(rsFor(current, replicas, revision, { ...template, metadata: templateMeta }, selector, hash, true), current);
    for (const rs of owned) {
      if (rs === current) continue;
      const rsSpec = record(rs['spec']);
      const rsHash = String(record(meta(rs)['labels'])[HASH_LABEL] ?? '');
      writeReplicaSet(rsFor(rs, 0, revisionOf(rs), record(rsSpec['template']), record(rsSpec['selector']), rsHash, false), rs);
    }

    const latestOwned = deps.store.list(replicasets, namespace).filter((rs) => owned.some((o) => meta(o)['uid'] === meta(rs)['uid']) || meta(rs)['uid'] === meta(newRs)['uid']);
    const next = structuredClone(d);
    meta(next)['annotations'] = { ...record(dm['annotations']), [REVISION]: String(revision) };
    const latestNew = latestOwned.find((rs) => meta(rs)['uid'] === meta(newRs)['uid']) ?? newRs;
    next['status'] = deploymentStatus(d, latestNew, latestOwned, deps.pods, stamp(deps.now()));
    if (isDeepStrictEqual(next, d)) return;
    const write = { manager: MANAGER, operation: 'Update' as const, apiVersion: 'apps/v1', subresource: 'status', now: deps.now() };
    deps.store.commit(deployments, updateManagedFields(d, next, write));
  }

  function enqueue(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (pending.has(key)) return;
    pending.add(key);
    // After the write's response is on its way, like a controller reacting to the watch event.
    setImmediate(() => {
      pending.delete(key);
      if (!stopped) reconcile(namespace, name);
    });
  }

  const unsubscribe = deps.store.subscribe((e) => {
    const namespace = String(meta(e.object)['namespace']);
    if (e.info === deployments && e.type !== 'DELETED') enqueue(namespace, String(meta(e.object)['name']));
    // With Pods, the Deployment's counts follow its ReplicaSets' statuses.
    if (e.info !== replicasets || !deps.pods) return;
    const owner = (Array.isArray(meta(e.object)['ownerReferences']) ? (meta(e.object)['ownerReferences'] as unknown[]) : []).find((o) => isRecord(o) && o['kind'] === 'Deployment' && o['controller'] === true);
    if (isRecord(owner)) enqueue(namespace, String(owner['name']));
  });
  return () => {
    stopped = true;
    unsubscribe();
  };
}
