/**
 * A one-node stand-in for the scheduler and the kubelet: every Pod without a node (and without
 * scheduling gates) is bound to the node, and every Pod on the node is reported running and ready,
 * its containers (ephemeral ones included) started — what `kubectl wait --for=condition=Ready`,
 * `helm --wait` and the workload controllers look for. Both writes go straight to storage, as the
 * binding and `pods/status` writes of the real components would; no container ever stops.
 */
import { createHash } from 'node:crypto';
import { isRecord } from '../../../src/k8s/types.js';
import { updateManagedFields } from './managed-fields.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';

/** The node's address; pods get addresses from 10.244.0.0/16 (the pod CIDR kind and flannel use). */
const HOST_IP = '10.0.0.10';
const POD_NET = '10.244';
/** Octets per address byte. */
const OCTET = 256;
/** Pod conditions the kubelet sets on a running, ready pod, in its order. */
const READY_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function stamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

function list(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** The image reference as the runtime reports it (`nginx:1.25` → `docker.io/library/nginx:1.25`). */
function fullImage(image: string): string {
  const first = image.split('/')[0] ?? '';
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const named = hasRegistry ? image : image.includes('/') ? `docker.io/${image}` : `docker.io/library/${image}`;
  const last = named.slice(named.lastIndexOf('/') + 1);
  return last.includes(':') || last.includes('@') ? named : `${named}:latest`;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function runningStatus(c: JsonObject, since: string, uid: string): JsonObject {
  const image = fullImage(String(c['image'] ?? ''));
  return {
    name: c['name'],
    state: { running: { startedAt: since } },
    lastState: {},
    ready: true,
    restartCount: 0,
    image,
    imageID: `${image.replace(/[:@].*$/, '')}@sha256:${digest(image)}`,
    containerID: `containerd://${digest(`${uid}/${String(c['name'])}`)}`,
    started: true,
  };
}

/** Starts binding and running pods on `node`; returns a function that stops it. */
export function startKubelet(deps: { store: ObjectStore; now: () => Date; node: string }): () => void {
  const pods = findResource('', 'v1', 'pods') as ResourceInfo;
  const pending = new Set<string>();
  let nextIp = 1;
  let stopped = false;

  function needsWork(pod: JsonObject): boolean {
    const spec = rec(pod['spec']);
    const status = rec(pod['status']);
    if (list(spec['schedulingGates']).length > 0) return false;
    if (spec['nodeName'] === undefined || spec['nodeName'] === '') return true;
    if (spec['nodeName'] !== deps.node) return false;
    if (status['phase'] !== 'Running') return status['phase'] === 'Pending';
    const known = new Set(list(status['ephemeralContainerStatuses']).map((s) => s['name']));
    return list(spec['ephemeralContainers']).some((c) => !known.has(c['name']));
  }

  function run(namespace: string, name: string): void {
    const pod = deps.store.get(pods, namespace, name);
    if (pod === undefined || !needsWork(pod)) return;
    const now = stamp(deps.now());
    const meta = rec(pod['metadata']);
    const uid = String(meta['uid'] ?? '');
    const next = structuredClone(pod);
    const spec = rec(next['spec']);
    spec['nodeName'] = deps.node;
    const old = rec(pod['status']);
    const since = typeof old['startTime'] === 'string' ? old['startTime'] : now;
    let podIp = list(old['podIPs'])[0]?.['ip'];
    if (typeof podIp !== 'string') {
      podIp = `${POD_NET}.${Math.floor(nextIp / OCTET)}.${nextIp % OCTET}`;
      nextIp++;
    }
    const known = new Map(list(old['ephemeralContainerStatuses']).map((s) => [s['name'], s]));
    const status: JsonObject = {
      observedGeneration: meta['generation'] ?? 1,
      phase: 'Running',
      conditions: READY_CONDITIONS.map((type) => ({ observedGeneration: meta['generation'] ?? 1, type, status: 'True', lastProbeTime: null, lastTransitionTime: since })),
      hostIP: HOST_IP,
      hostIPs: [{ ip: HOST_IP }],
      podIP: podIp,
      podIPs: [{ ip: podIp }],
      startTime: since,
      containerStatuses: list(spec['containers']).map((c) => runningStatus(c, since, uid)),
      qosClass: old['qosClass'],
    };
    if (list(spec['initContainers']).length > 0) status['initContainerStatuses'] = list(spec['initContainers']).map((c) => ({ ...runningStatus(c, since, uid), state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: since, finishedAt: since } }, ready: true, started: false }));
    const ephemeral = list(spec['ephemeralContainers']);
    if (ephemeral.length > 0) status['ephemeralContainerStatuses'] = ephemeral.map((c) => known.get(c['name']) ?? runningStatus(c, now, uid));
    next['status'] = status;
    deps.store.commit(pods, updateManagedFields(pod, next, { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', subresource: 'status', now: deps.now() }));
  }

  const unsubscribe = deps.store.subscribe((e) => {
    if (e.info !== pods || e.type === 'DELETED' || !needsWork(e.object)) return;
    const meta = rec(e.object['metadata']);
    const key = `${String(meta['namespace'])}/${String(meta['name'])}`;
    if (pending.has(key)) return;
    pending.add(key);
    setImmediate(() => {
      pending.delete(key);
      if (!stopped) run(String(meta['namespace']), String(meta['name']));
    });
  });
  return () => {
    stopped = true;
    unsubscribe();
  };
}
