/**
 * API Priority and Fairness at request time (k8s.io/apiserver pkg/server/filters/priority-and-fairness.go):
 * every authenticated request (and the public ones, as `system:anonymous`) is classified by the
 * FlowSchemas in the store, answered with `X-Kubernetes-PF-FlowSchema-UID` /
 * `X-Kubernetes-PF-PriorityLevel-UID`, and — when a throttle fault matches its flow — rejected the way
 * APF rejects (`tooManyRequests`: 429, plain text, `Retry-After`). Also the config controller's
 * share: the `Dangling` condition on FlowSchemas, and the mandatory objects put back when deleted.
 * No queuing or concurrency limits are modelled: rejection happens only through `faults.throttle`.
 */
import type { ServerResponse } from 'node:http';
import { isRecord } from '../../../src/k8s/types.js';
import { updateManagedFields } from './managed-fields.js';
import { MANDATORY, bootstrapFlowSchemas, bootstrapPriorityLevels, classify, danglingCondition } from './flowcontrol.js';
import type { RequestDigest } from './flowcontrol.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { Route } from './router.js';
import type { ObjectStore } from './store.js';
import type { JsonObject, UserInfo } from './types.js';

/** Where a request was classified. */
export interface Classification {
  flowSchema: string;
  priorityLevel: string;
  flowSchemaUid: string;
  priorityLevelUid: string;
  /** The priority level is of type Exempt: never rejected. */
  exempt: boolean;
}

/** `user.Anonymous` with `user.AllUnauthenticated`, who public paths are served to. */
export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
/** The field manager of the config controller's status writes (`ConfigConsumerAsFieldManager`). */
const CONFIG_CONSUMER = 'api-priority-and-fairness-config-consumer-v1';

/** `RequestInfoFactory.NewRequestInfo`: verb, group, resource[/subresource] and namespace, or the path of a non-resource request. */
export function requestDigest(method: string, r: Route, path: string, query: URLSearchParams, user: UserInfo): RequestDigest {
  if (r.type !== 'resource') return { user, resource: false, verb: method.toLowerCase(), apiGroup: '', resource_: '', namespace: '', path };
  const watch = r.legacyWatch || ['true', '1'].includes(query.get('watch') ?? '');
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' };
  let verb = verbs[method] ?? method.toLowerCase();
  if (method === 'GET') verb = watch ? 'watch' : r.name === undefined ? 'list' : 'get';
  if (method === 'DELETE') verb = r.name === undefined ? 'deletecollection' : 'delete';
  // A Namespace's own requests carry its name as their namespace.
  const namespace = r.info.group === '' && r.info.resource === 'namespaces' ? (r.name ?? '') : (r.namespace ?? '');
  const resource = r.subresource === undefined ? r.info.resource : `${r.info.resource}/${r.subresource}`;
  return { user, resource: true, verb, apiGroup: r.info.group, resource_: resource, namespace, path };
}

function meta(o: JsonObject): JsonObject {
  return isRecord(o['metadata']) ? o['metadata'] : {};
}

function nameOf(o: JsonObject): string {
  return String(meta(o)['name'] ?? '');
}

/** Classification over a server's store. */
export interface Apf {
  classify(d: RequestDigest): Classification | undefined;
  stop(): void;
}

/** Creates the classifier; bootstraps the objects of a fresh cluster into `store` and keeps their status. */
export function createApf(deps: { store: ObjectStore; now: () => Date; put: (obj: JsonObject) => void }): Apf {
  const fsInfo = findResource('flowcontrol.apiserver.k8s.io', 'v1', 'flowschemas') as ResourceInfo;
  const plInfo = findResource('flowcontrol.apiserver.k8s.io', 'v1', 'prioritylevelconfigurations') as ResourceInfo;
  for (const pl of bootstrapPriorityLevels()) deps.put(pl);
  for (const fs of bootstrapFlowSchemas()) deps.put(fs);

  const timestamp = (): string => `${deps.now().toISOString().slice(0, 19)}Z`;
  function syncStatus(fs: JsonObject): void {
    const status = isRecord(fs['status']) ? fs['status'] : {};
    const conditions = Array.isArray(status['conditions']) ? status['conditions'].filter(isRecord) : [];
    const current = conditions.find((c) => c['type'] === 'Dangling');
    const wanted = danglingCondition(fs, deps.store.list(plInfo), timestamp());
    if (current !== undefined && current['status'] === wanted['status'] && current['message'] === wanted['message']) return;
    const next = { ...fs, status: { ...status, conditions: [...conditions.filter((c) => c['type'] !== 'Dangling'), wanted] } };
    const write = { manager: CONFIG_CONSUMER, operation: 'Apply' as const, apiVersion: 'flowcontrol.apiserver.k8s.io/v1', subresource: 'status', now: deps.now() };
    deps.store.commit(fsInfo, updateManagedFields(fs, next, write));
  }

  let scheduled: NodeJS.Immediate | undefined;
  const pending = new Set<string>();
  let stopped = false;
  function run(): void {
    scheduled = undefined;
    for (const key of [...pending]) {
      pending.delete(key);
      if (stopped) return;
      const [kind, name] = key.split('/') as [string, string];
      if (kind === 'restore-fs' || kind === 'restore-pl') {
        // The config producer's ensurer: a deleted mandatory object comes back.
        const source = kind === 'restore-fs' ? bootstrapFlowSchemas() : bootstrapPriorityLevels();
        const info = kind === 'restore-fs' ? fsInfo : plInfo;
        const obj = source.find((o) => nameOf(o) === name);
        if (obj !== undefined && deps.store.get(info, '', name) === undefined) deps.put(obj);
        continue;
      }
      const fs = deps.store.get(fsInfo, '', name);
      if (fs !== undefined) syncStatus(fs);
    }
  }
  const enqueue = (key: string): void => {
    pending.add(key);
    // Controllers react after the write that woke them has been answered, as informers do.
    scheduled ??= setImmediate(run);
  };
  // The configuration as the classifier last read it; every request would otherwise copy it out of the store.
  let config: { flowSchemas: JsonObject[]; priorityLevels: JsonObject[] } | undefined;
  const unsubscribe = deps.store.subscribe((e) => {
    if (e.info.group !== fsInfo.group) return;
    config = undefined;
    const name = nameOf(e.object);
    if (e.info.resource === fsInfo.resource) {
      if (e.type !== 'DELETED') enqueue(`fs/${name}`);
      else if (MANDATORY.flowSchemas.includes(name)) enqueue(`restore-fs/${name}`);
      return;
    }
    for (const fs of deps.store.list(fsInfo)) enqueue(`fs/${nameOf(fs)}`);
    if (e.type === 'DELETED' && MANDATORY.priorityLevels.includes(name)) enqueue(`restore-pl/${name}`);
  });
  for (const fs of deps.store.list(fsInfo)) enqueue(`fs/${nameOf(fs)}`);

  return {
    classify(d) {
      config ??= { flowSchemas: deps.store.list(fsInfo), priorityLevels: deps.store.list(plInfo) };
      const hit = classify(d, config.flowSchemas, config.priorityLevels);
      if (hit === undefined) return undefined;
      return {
        flowSchema: nameOf(hit.flowSchema),
        priorityLevel: nameOf(hit.priorityLevel),
        flowSchemaUid: String(meta(hit.flowSchema)['uid'] ?? ''),
        priorityLevelUid: String(meta(hit.priorityLevel)['uid'] ?? ''),
        exempt: (isRecord(hit.priorityLevel['spec']) ? hit.priorityLevel['spec']['type'] : undefined) === 'Exempt',
      };
    },
    stop() {
      stopped = true;
      unsubscribe();
      if (scheduled !== undefined) clearImmediate(scheduled);
    },
  };
}

/** `setResponseHeaders`: the UIDs (not the names, which could tell a client it was ranked low). */
export function setApfHeaders(res: ServerResponse, c: Classification): void {
  res.setHeader('X-Kubernetes-PF-FlowSchema-UID', c.flowSchemaUid);
  res.setHeader('X-Kubernetes-PF-PriorityLevel-UID', c.priorityLevelUid);
}

/** `tooManyRequests`: APF's rejection is plain text from `http.Error`, not a Status. */
export function sendApfRejection(res: ServerResponse, retryAfterSeconds: number): void {
  const body = 'Too many requests, please try again later.\n';
  res.setHeader('Retry-After', String(retryAfterSeconds));
  res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
