/**
 * The pipeline every write goes through, in the apiserver's order: defaulting → managedFields →
 * admission hook → defaulting again → validation → generation → store; plus the retry when the
 * object changed while the hook was running.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { runAdmission } from './admission.js';
import { managerOf } from './context.js';
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { applyDefaults } from './defaults.js';
import { updateManagedFields } from './managed-fields.js';
import type { FieldsWrite } from './managed-fields.js';
import { apiVersionOf, findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import { replicasOf, scaleOf, withReplicas } from './scale.js';
import { ApiError, alreadyExists, conflict, invalid, notFound } from './status.js';
import type { AdmissionOptions, GroupVersionKind, JsonObject } from './types.js';
import { validateObject } from './validation.js';

/** Metadata only the server sets; clients and hooks cannot change it. */
const SYSTEM_FIELDS = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'deletionTimestamp', 'selfLink'];

/** `obj.metadata`, created empty if missing. */
export function meta(obj: JsonObject): JsonObject {
  if (!isRecord(obj['metadata'])) obj['metadata'] = {};
  return obj['metadata'] as JsonObject;
}

/** A metav1.Time string (second precision). */
export function timestamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`; // metav1.Time has second precision on the wire
}

function dryRunOf(ctx: RequestContext): boolean {
  const values = ctx.query.getAll('dryRun');
  for (const v of values) if (v !== 'All') throw invalid('', '', '', [{ field: 'dryRun', message: `Unsupported value: "${v}": supported values: "All"` }]);
  return values.length > 0;
}

function writeOptions(ctx: RequestContext, kind: 'CreateOptions' | 'UpdateOptions'): AdmissionOptions {
  const options: AdmissionOptions = { kind, apiVersion: 'meta.k8s.io/v1' };
  if (ctx.query.getAll('dryRun').length > 0) options.dryRun = ctx.query.getAll('dryRun');
  const fieldManager = ctx.query.get('fieldManager');
  if (fieldManager !== null && fieldManager !== '') options.fieldManager = fieldManager;
  const fieldValidation = ctx.query.get('fieldValidation');
  if (fieldValidation !== null && fieldValidation !== '') options.fieldValidation = fieldValidation;
  return options;
}

/** How the hook sees the object: itself, or the Scale view for `/scale`. */
export interface AdmissionView {
  kind: GroupVersionKind;
  toAdmission(obj: JsonObject): JsonObject;
  fromAdmission(admitted: JsonObject, obj: JsonObject): JsonObject;
  toResponse(obj: JsonObject): JsonObject;
}

/** The hook sees the object itself. */
export function identityView(info: ResourceInfo): AdmissionView {
  return {
    kind: { group: info.group, version: info.version, kind: info.kind },
    toAdmission: (obj) => obj,
    fromAdmission: (admitted) => admitted,
    toResponse: (obj) => obj,
  };
}

/** The hook sees the `autoscaling/v1 Scale` of a Deployment; its replicas are written back. */
export const scaleView: AdmissionView = {
  kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
  toAdmission: scaleOf,
  fromAdmission(admitted, obj) {
    const replicas = replicasOf(admitted);
    if (replicas === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: admission returned an invalid Scale');
    return withReplicas(obj, replicas);
  },
  toResponse: scaleOf,
};

/** The stored object changed while a write waited for admission; the write is re-run. */
class StaleWrite extends Error {}

/** Re-runs of one write after concurrent changes before it answers 409 Conflict. */
const MAX_WRITE_ATTEMPTS = 5;

/** Runs `write`, re-running it when it went stale; 409 Conflict after {@link MAX_WRITE_ATTEMPTS}. */
export async function withRetry(ctx: RequestContext, write: () => Promise<HandlerResult>): Promise<HandlerResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof StaleWrite)) throw err;
      if (attempt >= MAX_WRITE_ATTEMPTS) throw conflict(ctx.route.info.resource, ctx.route.info.group, ctx.route.name ?? '');
      ctx.warnings.length = 0;
    }
  }
}

/** One write, decided by the verb handlers, carried out by {@link persist}. */
export interface WritePlan {
  info: ResourceInfo;
  namespace: string;
  name: string;
  existing: JsonObject | undefined;
  next: JsonObject;
  fields: FieldsWrite;
  subresource: string | undefined;
  view: AdmissionView;
}

function hasStatusSubresource(info: ResourceInfo): boolean {
  return info.subresources.some((s) => s.name === 'status');
}

function setIdentity(obj: JsonObject, plan: WritePlan): void {
  obj['apiVersion'] = apiVersionOf(plan.info);
  obj['kind'] = plan.info.kind;
  const m = meta(obj);
  m['name'] = plan.name;
  if (plan.info.namespaced) m['namespace'] = plan.namespace;
  else delete m['namespace'];
}

/** Copies the server-owned metadata of `from` (or removes it when `from` is undefined). */
function copySystemFields(obj: JsonObject, from: JsonObject | undefined): void {
  const m = meta(obj);
  const source = from === undefined ? {} : meta(from);
  for (const k of SYSTEM_FIELDS) {
    if (source[k] === undefined) delete m[k];
    else m[k] = structuredClone(source[k]);
  }
}

function withoutTimes(obj: JsonObject): JsonObject {
  const copy = structuredClone(obj);
  const fields = meta(copy)['managedFields'];
  if (Array.isArray(fields)) for (const f of fields) if (isRecord(f)) delete f['time'];
  return copy;
}

function generationChanged(info: ResourceInfo, obj: JsonObject, old: JsonObject): boolean {
  if (!isDeepStrictEqual(obj['spec'], old['spec'])) return true;
  // Deployments also bump on annotation changes: they are copied to the ReplicaSets.
  return info.kind === 'Deployment' && !isDeepStrictEqual(meta(obj)['annotations'] ?? {}, meta(old)['annotations'] ?? {});
}

/**
 * The object whose managedFields a write starts from: the stored one, unless an update sends
 * different managedFields (how kubectl and helm migrate client-side-apply ownership); those replace
 * the stored ones, as in the apiserver. Creates ignore managedFields from the client.
 */
function managedBase(plan: WritePlan): JsonObject | undefined {
  if (plan.existing === undefined) return undefined;
  const requested = meta(structuredClone(plan.next))['managedFields'];
  if (!Array.isArray(requested) || isDeepStrictEqual(requested, meta(plan.existing)['managedFields'])) return plan.existing;
  return { ...plan.existing, metadata: { ...meta(plan.existing), managedFields: requested } };
}

/** Carries out a planned create or update; answers 201/200 with the stored (or dry-run) object. */
export async function persist(ctx: RequestContext, deps: HandlerDeps, plan: WritePlan): Promise<HandlerResult> {
  const { info, existing } = plan;
  const creating = existing === undefined;
  const dryRun = dryRunOf(ctx);
  if (creating && info.namespaced && info.persisted) {
    const nsInfo = findResource('', 'v1', 'namespaces');
    if (nsInfo !== undefined && deps.store.get(nsInfo, '', plan.namespace) === undefined) throw notFound('namespaces', '', plan.namespace);
  }
  if (creating && deps.store.get(info, plan.namespace, plan.name) !== undefined) throw alreadyExists(info.resource, info.group, plan.name);

  let obj = structuredClone(plan.next);
  setIdentity(obj, plan);
  copySystemFields(obj, existing);
  if (hasStatusSubresource(info) && plan.subresource !== 'status') {
    // Main-resource writes never change status (PrepareForCreate/PrepareForUpdate reset it).
    if (existing === undefined) obj['status'] = {};
    else if (existing['status'] === undefined) delete obj['status'];
    else obj['status'] = structuredClone(existing['status']);
  }
  applyDefaults(info.kind, obj);
  obj = updateManagedFields(managedBase(plan), obj, plan.fields);

  const options = writeOptions(ctx, creating ? 'CreateOptions' : 'UpdateOptions');
  const admitted = await runAdmission(
    deps.hook(),
    {
      operation: creating ? 'CREATE' : 'UPDATE',
      info,
      subresource: plan.subresource,
      kind: plan.view.kind,
      namespace: info.namespaced ? plan.namespace : '',
      name: plan.name,
      object: plan.view.toAdmission(obj),
      oldObject: existing === undefined ? null : plan.view.toAdmission(existing),
      user: ctx.user,
      dryRun,
      options,
    },
    ctx.warnings,
  );
  // The hook may have taken a while: if the object changed meanwhile, start over (GuaranteedUpdate's retry).
  const latest = deps.store.get(info, plan.namespace, plan.name);
  if ((latest === undefined ? undefined : meta(latest)['resourceVersion']) !== (existing === undefined ? undefined : meta(existing)['resourceVersion'])) {
    throw new StaleWrite();
  }
  const system = structuredClone(obj);
  obj = plan.view.fromAdmission(admitted ?? obj, obj);
  // A hook may not move or re-identify the object, nor forge server-owned metadata.
  setIdentity(obj, plan);
  copySystemFields(obj, system);
  applyDefaults(info.kind, obj);

  const errors = validateObject(info.kind, obj, existing);
  if (errors.length > 0) throw invalid(info.kind, info.group, plan.name, errors);

  const m = meta(obj);
  if (existing === undefined) {
    m['uid'] = randomUUID();
    m['creationTimestamp'] = timestamp(deps.now());
    if (info.generation) m['generation'] = 1;
  } else {
    if (info.generation && plan.subresource !== 'status' && generationChanged(info, obj, existing)) m['generation'] = Number(meta(existing)['generation'] ?? 0) + 1;
    // A write that changes nothing is not stored: no new resourceVersion, no watch event.
    if (isDeepStrictEqual(withoutTimes(obj), withoutTimes(existing))) return { status: 200, body: plan.view.toResponse(existing) };
  }
  const status = creating ? 201 : 200;
  if (dryRun || !info.persisted) return { status, body: plan.view.toResponse(obj) };
  return { status, body: plan.view.toResponse(deps.store.commit(info, obj)) };
}

/** The managedFields side of a write by this request's manager. */
export function fieldsWrite(ctx: RequestContext, deps: HandlerDeps, info: ResourceInfo, operation: 'Apply' | 'Update', subresource: string | undefined, applied?: JsonObject): FieldsWrite {
  const write: FieldsWrite = { manager: managerOf(ctx), operation, apiVersion: apiVersionOf(info), now: deps.now() };
  if (subresource === 'scale' || subresource === 'status') write.subresource = subresource;
  if (applied !== undefined) write.applied = applied;
  return write;
}

