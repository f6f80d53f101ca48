/**
 * DELETE with DeleteOptions (JSON or protobuf body, or query parameters), preconditions, admission,
 * dry-run, and an immediate cascade standing in for finalizers and the garbage collector: a
 * Namespace takes its contents with it, and owned objects go unless `propagationPolicy=Orphan`.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { runAdmission } from './admission.js';
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { successStatus } from './http-io.js';
import { decodeKubeProtobuf } from './protobuf-body.js';
import { customResourcesOf } from './crd-registry.js';
import type { ResourceInfo } from './resources.js';
import { ApiError, badRequest, notFound, qualifiedResource } from './status.js';
import type { AdmissionOptions, JsonObject } from './types.js';

/** DeleteOptions from the body (JSON or protobuf, as helm sends) merged with the query parameters. */
function decodeOptions(ctx: RequestContext): JsonObject {
  let body: JsonObject = {};
  if (ctx.body.length > 0) {
    if (ctx.contentType === 'application/vnd.kubernetes.protobuf') {
      const decoded = decodeKubeProtobuf(ctx.body);
      if (!decoded.ok) throw new ApiError(415, 'UnsupportedMediaType', `cannot decode protobuf body: ${decoded.error}`);
      body = decoded.value;
    } else {
      try {
        const parsed: unknown = JSON.parse(ctx.body.toString('utf8'));
        if (!isRecord(parsed)) throw new Error('not an object');
        body = parsed;
      } catch (err) {
        throw badRequest(`the DeleteOptions body does not parse: ${(err as Error).message}`);
      }
    }
    ctx.decodedBody = body;
  }
  const propagation = ctx.query.get('propagationPolicy');
  if (propagation !== null) body['propagationPolicy'] = propagation;
  const grace = ctx.query.get('gracePeriodSeconds');
  if (grace !== null) body['gracePeriodSeconds'] = Number(grace);
  const dryRun = ctx.query.getAll('dryRun');
  if (dryRun.length > 0) body['dryRun'] = dryRun;
  return body;
}

/** The DeleteOptions as the review shows them (`kind`/`apiVersion` set, unknown fields dropped). */
function admissionOptions(body: JsonObject): AdmissionOptions {
  const options: AdmissionOptions = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' };
  if (typeof body['propagationPolicy'] === 'string') options.propagationPolicy = body['propagationPolicy'];
  if (typeof body['gracePeriodSeconds'] === 'number') options.gracePeriodSeconds = body['gracePeriodSeconds'];
  if (Array.isArray(body['dryRun'])) options.dryRun = body['dryRun'].map(String);
  return options;
}

/** `preconditions.uid` / `.resourceVersion` must match the stored object, else 409. */
function checkPreconditions(info: ResourceInfo, name: string, body: JsonObject, existing: JsonObject): void {
  const pre = body['preconditions'];
  if (!isRecord(pre)) return;
  const meta = (existing['metadata'] ?? {}) as JsonObject;
  for (const [field, label] of [
    ['uid', 'UID'],
    ['resourceVersion', 'ResourceVersion'],
  ] as const) {
    const wanted = pre[field];
    if (typeof wanted === 'string' && wanted !== meta[field]) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedResource(info.resource, info.group)} "${name}": Precondition failed: ${label} in precondition: ${wanted}, ${label} in object meta: ${String(meta[field])}`,
      );
    }
  }
}

/** Deletes objects owned by `uid`, recursively (the garbage collector's background cascade). */
function cascadeOwned(deps: HandlerDeps, uid: string): void {
  for (const info of deps.resources.stored()) {
    for (const obj of deps.store.list(info)) {
      const meta = (obj['metadata'] ?? {}) as JsonObject;
      const owners = Array.isArray(meta['ownerReferences']) ? meta['ownerReferences'] : [];
      if (!owners.some((o) => isRecord(o) && o['uid'] === uid)) continue;
      deps.store.remove(info, String(meta['namespace'] ?? ''), String(meta['name'] ?? ''));
      cascadeOwned(deps, String(meta['uid'] ?? ''));
    }
  }
}

/** Namespace deletion removes everything in it (the namespace controller's job, done at once). */
function cascadeNamespace(deps: HandlerDeps, namespace: string): void {
  for (const info of deps.resources.stored().filter((r) => r.namespaced)) {
    for (const obj of deps.store.list(info, namespace)) {
      deps.store.remove(info, namespace, String(((obj['metadata'] ?? {}) as JsonObject)['name'] ?? ''));
    }
  }
}

/** Deletes every object of a (custom) resource, in all namespaces. */
function deleteAll(deps: HandlerDeps, info: ResourceInfo): void {
  for (const obj of deps.store.list(info)) {
    const m = (obj['metadata'] ?? {}) as JsonObject;
    deps.store.remove(info, String(m['namespace'] ?? ''), String(m['name'] ?? ''));
  }
}

/**
 * The CRD as the apiserver answers its DELETE: marked for deletion with the cleanup finalizer and
 * `Terminating` (here its instances and the CRD are already gone).
 */
function terminatingCrd(crd: JsonObject, now: Date): JsonObject {
  const out = structuredClone(crd);
  const m = (out['metadata'] ?? {}) as JsonObject;
  m['deletionTimestamp'] = `${now.toISOString().slice(0, 19)}Z`;
  m['finalizers'] = ['customresourcecleanup.apiextensions.k8s.io'];
  const status = (out['status'] ?? {}) as JsonObject;
  const conditions = Array.isArray(status['conditions']) ? status['conditions'].filter((c) => isRecord(c) && c['type'] !== 'Terminating') : [];
  status['conditions'] = [...conditions, { type: 'Terminating', status: 'True', lastTransitionTime: m['deletionTimestamp'], reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' }];
  out['status'] = status;
  return out;
}

/** DELETE of one object. */
export async function handleDelete(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { info, namespace = '', name, subresource } = ctx.route;
  if (name === undefined || subresource !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const body = decodeOptions(ctx);
  for (const v of Array.isArray(body['dryRun']) ? body['dryRun'] : []) if (v !== 'All') throw badRequest(`dryRun: Unsupported value: "${String(v)}"`);
  const dryRun = Array.isArray(body['dryRun']) && body['dryRun'].length > 0;
  const existing = deps.store.get(info, namespace, name);
  if (existing === undefined) throw notFound(info.resource, info.group, name);
  checkPreconditions(info, name, body, existing);
  await runAdmission(
    deps.hook(),
    {
      operation: 'DELETE',
      info,
      subresource: undefined,
      kind: { group: info.group, version: info.version, kind: info.kind },
      namespace: info.namespaced ? namespace : '',
      name,
      object: null,
      oldObject: existing,
      user: ctx.user,
      dryRun,
      options: admissionOptions(body),
    },
    ctx.warnings,
  );
  const meta = (existing['metadata'] ?? {}) as JsonObject;
  const isCrd = info.custom === undefined && info.kind === 'CustomResourceDefinition';
  if (!dryRun) {
    // The CRD finalizer (customresourcecleanup) deletes every instance before the CRD itself goes.
    if (isCrd) for (const r of customResourcesOf(existing).slice(0, 1)) deleteAll(deps, r);
    deps.store.remove(info, namespace, name);
    if (info.custom === undefined && info.kind === 'Namespace') cascadeNamespace(deps, name);
    if (body['propagationPolicy'] !== 'Orphan') cascadeOwned(deps, String(meta['uid'] ?? ''));
  }
  if (info.custom === undefined && info.kind === 'Namespace') {
    // The apiserver answers with the Namespace, now Terminating (here it is already gone).
    return { status: 200, body: { ...existing, status: { phase: 'Terminating' } } };
  }
  if (isCrd) return { status: 200, body: terminatingCrd(existing, deps.now()) };
  return { status: 200, body: successStatus({ name, group: info.group, kind: info.resource, uid: meta['uid'] }) };
}
