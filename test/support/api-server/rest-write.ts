/**
 * The write verbs: POST (create), PUT (update), PATCH (json / merge / strategic merge) and server-side
 * apply (`application/apply-patch+yaml`). Each decodes and plans the write; `write-pipeline.ts`
 * carries it out.
 */
import { parse as parseYaml } from 'yaml';
import { isRecord } from '../../../src/k8s/types.js';
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { checkAppliedFields, customScaleOf, customStatusWrite, customWithReplicas, unsupportedPatch } from './custom-resources.js';
import { applyJsonPatch } from './json-patch.js';
import { applyManagedFields } from './managed-fields.js';
import { decodeKubeProtobuf } from './protobuf-body.js';
import { apiVersionOf } from './resources.js';
import type { ResourceInfo } from './resources.js';
import { replicasOf, scaleOf, withReplicas } from './scale.js';
import { ApiError, badRequest, conflict, invalid, notFound } from './status.js';
import { applyMergePatch, applyStrategicMerge } from './strategic-merge.js';
import type { JsonObject } from './types.js';
import { fieldsWrite, identityView, meta, persist, scaleView, withRetry } from './write-pipeline.js';
import type { WritePlan } from './write-pipeline.js';

function unsupported(contentType: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${contentType || 'none'})`);
}

/** Decodes a JSON, YAML or protobuf object body. */
export function decodeObjectBody(ctx: RequestContext): JsonObject {
  let value: unknown;
  if (ctx.contentType === 'application/vnd.kubernetes.protobuf' && ctx.route.info.custom !== undefined) {
    // Custom resources have no protobuf encoding (crdHandler serves JSON and YAML only).
    throw new ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml');
  } else if (ctx.contentType === 'application/vnd.kubernetes.protobuf') {
    const decoded = decodeKubeProtobuf(ctx.body);
    if (!decoded.ok) throw new ApiError(415, 'UnsupportedMediaType', `cannot decode protobuf body: ${decoded.error}`);
    value = decoded.value;
  } else if (ctx.contentType === 'application/json' || ctx.contentType === '' || ctx.contentType === 'application/yaml') {
    try {
      value = ctx.contentType === 'application/yaml' ? parseYaml(ctx.body.toString('utf8')) : JSON.parse(ctx.body.toString('utf8'));
    } catch (err) {
      throw badRequest(`the body of the request does not parse: ${(err as Error).message}`);
    }
  } else {
    throw unsupported(ctx.contentType);
  }
  ctx.decodedBody = value;
  if (!isRecord(value)) throw badRequest('the body of the request must be an object');
  return value;
}

/** A body for `/deployments` must be a Deployment (a Scale for `/scale`); omitted kinds are allowed, as Go decodes into the target type. */
function checkKind(info: ResourceInfo, obj: JsonObject, subresource: string | undefined): void {
  const expected = subresource === 'scale' ? { apiVersion: 'autoscaling/v1', kind: 'Scale' } : { apiVersion: apiVersionOf(info), kind: info.kind };
  if (obj['kind'] !== undefined && obj['kind'] !== expected.kind) {
    throw badRequest(`the kind in the data (${String(obj['kind'])}) does not match the expected kind (${expected.kind})`);
  }
  if (obj['apiVersion'] !== undefined && obj['apiVersion'] !== expected.apiVersion) {
    throw badRequest(`the API version in the data (${String(obj['apiVersion'])}) does not match the expected API version (${expected.apiVersion})`);
  }
}

/** The object's name; `''` for a generateName create, whose name is chosen after admission. */
function nameFor(obj: JsonObject): string {
  const m = meta(obj);
  return typeof m['name'] === 'string' ? m['name'] : '';
}

/** The namespace of a write: the URL's; a different one in the body is a 400, as in the apiserver. */
function checkNamespace(ctx: RequestContext, obj: JsonObject): string {
  const route = ctx.route;
  const bodyNs = meta(obj)['namespace'];
  if (!route.info.namespaced) return '';
  if (route.namespace === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (typeof bodyNs === 'string' && bodyNs !== '' && bodyNs !== route.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  return route.namespace;
}

/** POST to a collection. */
export function handleCreate(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  return withRetry(ctx, () => create(ctx, deps));
}

async function create(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { info, name: routeName, subresource } = ctx.route;
  if (routeName !== undefined || subresource !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const obj = decodeObjectBody(ctx);
  checkKind(info, obj, undefined);
  const namespace = checkNamespace(ctx, obj);
  const name = nameFor(obj);
  return persist(ctx, deps, {
    info,
    namespace,
    name,
    existing: undefined,
    next: obj,
    fields: fieldsWrite(ctx, deps, info, 'Update', undefined),
    subresource: undefined,
    view: identityView(info),
  });
}

/** A resourceVersion in the body (or in a patched object) is an optimistic-concurrency precondition. */
function precondition(info: ResourceInfo, name: string, given: JsonObject, existing: JsonObject): void {
  const wanted = meta(given)['resourceVersion'];
  if (wanted !== undefined && wanted !== '' && wanted !== meta(existing)['resourceVersion']) throw conflict(info.resource, info.group, name);
}

/** Builds the write of a new `target` (full object, or Scale for `/scale`) over `existing`. */
function planUpdate(ctx: RequestContext, deps: HandlerDeps, existing: JsonObject, target: JsonObject, operation: 'Apply' | 'Update'): WritePlan {
  const { info, namespace = '', name = '', subresource } = ctx.route;
  precondition(info, name, target, existing);
  let next: JsonObject;
  let view = identityView(info);
  if (subresource === 'scale') {
    const replicas = replicasOf(target);
    if (replicas === undefined) throw badRequest('Scale spec.replicas must be an integer');
    next = info.custom !== undefined ? customWithReplicas(info, existing, replicas) : withReplicas(existing, replicas);
    view = scaleView(info);
  } else if (subresource === 'status' && info.custom !== undefined) {
    next = customStatusWrite(existing, target);
  } else if (subresource === 'ephemeralcontainers') {
    // dropNonEphemeralContainerUpdates: only spec.ephemeralContainers of the written Pod is kept.
    next = structuredClone(existing);
    const ephemeral = isRecord(target['spec']) ? target['spec']['ephemeralContainers'] : undefined;
    const spec = isRecord(next['spec']) ? next['spec'] : (next['spec'] = {});
    if (ephemeral === undefined || ephemeral === null) delete (spec as JsonObject)['ephemeralContainers'];
    else (spec as JsonObject)['ephemeralContainers'] = structuredClone(ephemeral);
  } else if (subresource === 'status') {
    // Status strategies keep the stored spec and labels; annotations and status may change.
    next = structuredClone(target);
    if (existing['spec'] === undefined) delete next['spec'];
    else next['spec'] = structuredClone(existing['spec']);
    const labels = meta(existing)['labels'];
    if (labels === undefined) delete meta(next)['labels'];
    else meta(next)['labels'] = structuredClone(labels);
  } else {
    next = target;
  }
  return { info, namespace, name, existing, next, fields: fieldsWrite(ctx, deps, info, operation, subresource), subresource, view };
}

/**
 * Custom resources, CRDs, webhook configurations and admission policies do not allow unconditional
 * updates (`AllowUnconditionalUpdate` is false in their strategies): a PUT without
 * `metadata.resourceVersion` is refused by the generic registry's `Update` (a Scale is written over the
 * current object, so `/scale` is exempt).
 */
function requireResourceVersion(info: ResourceInfo, name: string, subresource: string | undefined, obj: JsonObject): void {
  if (subresource === 'scale' || (info.custom === undefined && info.kind !== 'CustomResourceDefinition' && info.conditionalUpdate !== true)) return;
  const rv = meta(obj)['resourceVersion'];
  if (rv !== undefined && rv !== '' && rv !== null) return;
  // qualifiedKindFromObject: the kind of a typed object; a custom resource's store falls back to its resource.
  throw invalid(info.custom === undefined ? info.kind : info.resource, info.group, name, [{ field: 'metadata.resourceVersion', message: 'Invalid value: 0: must be specified for an update' }]);
}

function checkSubresource(ctx: RequestContext): void {
  const { info, subresource } = ctx.route;
  if (subresource !== undefined && !info.subresources.some((s) => s.name === subresource)) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
}

/** PUT of an object or subresource. */
export function handleUpdate(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  return withRetry(ctx, () => update(ctx, deps));
}

async function update(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { info, namespace = '', name, subresource } = ctx.route;
  if (name === undefined) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  checkSubresource(ctx);
  const obj = decodeObjectBody(ctx);
  checkKind(info, obj, subresource);
  const bodyName = meta(obj)['name'];
  if (typeof bodyName === 'string' && bodyName !== name) throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
  checkNamespace(ctx, obj);
  const existing = deps.store.get(info, namespace, name);
  if (existing === undefined) {
    if (!info.createOnUpdate || subresource !== undefined) throw notFound(info.resource, info.group, name);
    return persist(ctx, deps, { info, namespace, name, existing, next: obj, fields: fieldsWrite(ctx, deps, info, 'Update', undefined), subresource, view: identityView(info) });
  }
  requireResourceVersion(info, name, subresource, obj);
  return persist(ctx, deps, planUpdate(ctx, deps, existing, obj, 'Update'));
}

/** Patch bodies are JSON whatever the patch type (apply patches are YAML and handled apart). */
function parseJsonBody(ctx: RequestContext): unknown {
  try {
    const value: unknown = JSON.parse(ctx.body.toString('utf8'));
    ctx.decodedBody = value;
    return value;
  } catch (err) {
    throw badRequest(`the patch does not parse as JSON: ${(err as Error).message}`);
  }
}

/** Applies a non-apply patch to the object (or its Scale view). */
function patched(ctx: RequestContext, target: JsonObject): JsonObject {
  const patch = parseJsonBody(ctx);
  let result: unknown;
  switch (ctx.contentType) {
    case 'application/json-patch+json': {
      const applied = applyJsonPatch(target, patch);
      // The apiserver answers an inapplicable JSON patch (missing path, failed test) with 422.
      if (!applied.ok) throw new ApiError(422, 'Invalid', applied.error);
      result = applied.value;
      break;
    }
    case 'application/merge-patch+json':
      if (!isRecord(patch)) throw badRequest('a merge patch must be a JSON object');
      result = applyMergePatch(target, patch);
      break;
    case 'application/strategic-merge-patch+json': {
      // Custom resources have no patch strategies; kubectl falls back to merge patches for them.
      if (ctx.route.info.custom !== undefined) throw unsupportedPatch();
      const applied = applyStrategicMerge(target, patch);
      // interpretStrategicMergePatchError: the bad-format errors are 400s, the others a bare 500.
      if (!applied.ok) throw applied.code === 400 ? badRequest(applied.error) : new ApiError(500, '', applied.error);
      result = applied.value;
      break;
    }
    default:
      throw ctx.route.info.custom !== undefined ? unsupportedPatch() : unsupported(ctx.contentType);
  }
  if (!isRecord(result)) throw new ApiError(422, 'Invalid', 'the patched document is not an object');
  return result;
}

/**
 * Server-side apply (`applyPatcher` + the field manager): create if absent, else merge the applied
 * configuration, prune what the manager stopped applying and check ownership conflicts
 * (`managed-fields.ts`).
 */
async function handleApply(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { info, namespace = '', name = '', subresource } = ctx.route;
  if (subresource !== undefined) throw badRequest('server-side apply of subresources is not modelled by the test API server');
  const fieldManager = ctx.query.get('fieldManager');
  if (fieldManager === null || fieldManager === '') {
    throw invalid('PatchOptions', 'meta.k8s.io', '', [{ field: 'fieldManager', message: 'Required value: is required for apply patch' }]);
  }
  let applied: unknown;
  try {
    applied = parseYaml(ctx.body.toString('utf8'));
  } catch (err) {
    throw badRequest(`error decoding YAML: ${(err as Error).message}`);
  }
  ctx.decodedBody = applied;
  if (!isRecord(applied)) throw badRequest('the apply patch must be an object');
  if (applied['apiVersion'] === undefined || applied['kind'] === undefined) throw badRequest('apiVersion and kind must be set in an apply patch');
  // structuredMergeManager.Apply: the patch must be of the endpoint's version and carry no managedFields.
  const expected = apiVersionOf(info);
  if (applied['apiVersion'] !== expected) {
    throw badRequest(`Incorrect version specified in apply patch. Specified patch version: ${String(applied['apiVersion'])}, expected: ${expected}`);
  }
  checkKind(info, applied, undefined);
  if (meta(applied)['managedFields'] !== undefined && meta(applied)['managedFields'] !== null) throw badRequest('metadata.managedFields must be nil');
  checkNamespace(ctx, applied);
  const appliedName = meta(applied)['name'];
  if (typeof appliedName === 'string' && appliedName !== name) throw badRequest(`the name of the object (${appliedName}) does not match the name on the URL (${name})`);
  if (info.custom !== undefined) checkAppliedFields(info, applied, namespace, name);
  const existing = deps.store.get(info, namespace, name);
  const fields = fieldsWrite(ctx, deps, info, 'Apply', undefined);
  const { object } = applyManagedFields(existing, applied, fields, ctx.query.get('force') === 'true');
  if (existing === undefined) return persist(ctx, deps, { info, namespace, name, existing, next: object, fields, subresource, view: identityView(info) });
  return persist(ctx, deps, planUpdate(ctx, deps, existing, object, 'Apply'));
}

/** PATCH of an object or subresource. */
export function handlePatch(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  return withRetry(ctx, () => patch(ctx, deps));
}

async function patch(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { info, namespace = '', name } = ctx.route;
  if (name === undefined) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  checkSubresource(ctx);
  if (ctx.contentType === 'application/apply-patch+yaml') return handleApply(ctx, deps);
  // ValidatePatchOptions: `force` belongs to apply patches only.
  if (ctx.query.has('force')) throw invalid('PatchOptions', 'meta.k8s.io', '', [{ field: 'force', message: 'Forbidden: may not be specified for non-apply patch' }]);
  const existing = deps.store.get(info, namespace, name);
  if (existing === undefined) throw notFound(info.resource, info.group, name);
  const base = ctx.route.subresource !== 'scale' ? existing : info.custom !== undefined ? customScaleOf(info, existing) : scaleOf(existing);
  const result = patched(ctx, base);
  return persist(ctx, deps, planUpdate(ctx, deps, existing, result, 'Update'));
}
