/**
 * The pipeline every write goes through, in the apiserver's order: defaulting → managedFields →
 * in-tree admission plugins (Pod creates) → admission hook → defaulting again → name generation,
 * uid and the strategy's PrepareForCreate/PrepareForUpdate → validation → generation → store; plus
 * the retry when the object changed while the hook was running.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { runAdmission } from './admission.js';
import { managerOf } from './context.js';
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { admitPodCreate } from './builtin-admission.js';
import { checkStoredSize, checkUnknownFields, customScaleOf, customWithReplicas, defaultCustom, validateCustom } from './custom-resources.js';
import { applyDefaults } from './defaults.js';
import { updateManagedFields, validateManagedFields } from './managed-fields.js';
import type { FieldsWrite } from './managed-fields.js';
import { apiVersionOf, findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import { replicasOf, scaleOf, withReplicas } from './scale.js';
import { ApiError, alreadyExists, conflict, invalid, notFound } from './status.js';
import { allocateService, keepAllocated } from './service-alloc.js';
import { guardRbacWrite } from './rbac-escalation.js';
import { generationChanged, prepareForCreate, prepareForUpdate } from './strategies.js';
import type { AdmissionOptions, GroupVersionKind, JsonObject } from './types.js';
import { validateObject } from './validation.js';

/** Metadata only the server sets; clients and hooks cannot change it. */
const SYSTEM_FIELDS = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'deletionTimestamp', 'selfLink'];
/** Characters and length of a generateName suffix (`utilrand.String(5)`: no vowels, no ambiguous digits). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const NAME_SUFFIX_LENGTH = 5;
/** `names.SimpleNameGenerator` cuts the prefix so that prefix + suffix fit a 63-character label. */
const MAX_GENERATED_PREFIX = 58;

/** `names.SimpleNameGenerator.GenerateName`. */
export function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < NAME_SUFFIX_LENGTH; i++) suffix += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return prefix.slice(0, MAX_GENERATED_PREFIX) + suffix;
}

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
const builtinScaleView: AdmissionView = {
  kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
  toAdmission: scaleOf,
  fromAdmission(admitted, obj) {
    const replicas = replicasOf(admitted);
    if (replicas === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: admission returned an invalid Scale');
    return withReplicas(obj, replicas);
  },
  toResponse: scaleOf,
};

/** The Scale view of `info`: built-in, or over a custom resource's replica paths. */
export function scaleView(info: ResourceInfo): AdmissionView {
  if (info.custom === undefined) return builtinScaleView;
  return {
    kind: builtinScaleView.kind,
    toAdmission: (obj) => customScaleOf(info, obj),
    fromAdmission(admitted, obj) {
      const replicas = replicasOf(admitted);
      if (replicas === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: admission returned an invalid Scale');
      return customWithReplicas(info, obj, replicas);
    },
    toResponse: (obj) => customScaleOf(info, obj),
  };
}

/** Defaulting of a write: the built-in kind's `SetDefaults_*`, or a custom resource's pruning and schema defaults. */
function defaultObject(info: ResourceInfo, obj: JsonObject): void {
  if (info.custom !== undefined) defaultCustom(info, obj);
  else applyDefaults(info.kind, obj);
}

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
  // A generateName create has no name until after admission, as in the apiserver's BeforeCreate.
  if (plan.name === '' && typeof m['generateName'] === 'string' && m['generateName'] !== '') delete m['name'];
  else m['name'] = plan.name;
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

/** Fills in the name of a generateName create; 409 if that name is taken (clients retry). */
function nameAfterAdmission(deps: HandlerDeps, plan: WritePlan, obj: JsonObject): void {
  const m = meta(obj);
  if (plan.existing !== undefined || plan.name !== '' || typeof m['generateName'] !== 'string' || m['generateName'] === '') return;
  plan.name = generateName(m['generateName']);
  m['name'] = plan.name;
  if (deps.store.get(plan.info, plan.namespace, plan.name) !== undefined) throw alreadyExists(plan.info.resource, plan.info.group, plan.name);
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
  if (creating && plan.name !== '' && deps.store.get(info, plan.namespace, plan.name) !== undefined) throw alreadyExists(info.resource, info.group, plan.name);

  // A custom resource's unknown fields are found while decoding, before any strategy runs; apply bodies were checked already.
  if (info.custom !== undefined && plan.subresource === undefined && plan.fields.operation !== 'Apply') checkUnknownFields(ctx, info, plan.next);
  let obj = structuredClone(plan.next);
  setIdentity(obj, plan);
  copySystemFields(obj, existing);
  if (hasStatusSubresource(info) && plan.subresource !== 'status') {
    // Main-resource writes never change status (PrepareForCreate/PrepareForUpdate reset it; a custom resource's is dropped).
    if (existing === undefined && info.custom !== undefined) delete obj['status'];
    else if (existing === undefined) obj['status'] = {};
    else if (existing['status'] === undefined) delete obj['status'];
    else obj['status'] = structuredClone(existing['status']);
  }
  defaultObject(info, obj);
  // An apply's managedFields were worked out with its merge (applyManagedFields); other writes' here.
  if (plan.fields.operation !== 'Apply') obj = updateManagedFields(existing, obj, plan.fields);
  if (creating && info.custom === undefined && info.kind === 'Pod') {
    // The in-tree plugins mutate after managedFields are computed, so their fields have no manager.
    const priorityClasses = findResource('scheduling.k8s.io', 'v1', 'priorityclasses');
    admitPodCreate(obj, () => (priorityClasses === undefined ? [] : deps.store.list(priorityClasses)));
    defaultObject(info, obj);
  }

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
  const latest = plan.name === '' ? undefined : deps.store.get(info, plan.namespace, plan.name);
  if ((latest === undefined ? undefined : meta(latest)['resourceVersion']) !== (existing === undefined ? undefined : meta(existing)['resourceVersion'])) {
    throw new StaleWrite();
  }
  const system = structuredClone(obj);
  obj = plan.view.fromAdmission(admitted ?? obj, obj);
  // A hook may not move or re-identify the object, nor forge server-owned metadata.
  setIdentity(obj, plan);
  copySystemFields(obj, system);
  defaultObject(info, obj);
  // RBAC's policy-based storages check role and binding writes here: after mutating admission, before the strategy.
  if (deps.security !== undefined) guardRbacWrite(deps.security.authorizer, { user: ctx.user, namespace: ctx.route.namespace ?? '', name: ctx.route.name ?? '' }, info, obj, existing);

  const m = meta(obj);
  if (existing === undefined) {
    nameAfterAdmission(deps, plan, obj);
    m['uid'] = randomUUID();
    m['creationTimestamp'] = timestamp(deps.now());
    if (info.generation) m['generation'] = 1;
    prepareForCreate(info, obj);
    if (info.custom === undefined && info.kind === 'Service') allocateService(obj, deps.store.list(info));
    defaultObject(info, obj);
  } else {
    if (info.custom === undefined && info.kind === 'Service' && plan.subresource === undefined) keepAllocated(obj, existing);
    prepareForUpdate(info, obj, existing, plan.subresource);
    if (info.generation && plan.subresource !== 'status' && generationChanged(info, obj, existing)) m['generation'] = Number(meta(existing)['generation'] ?? 0) + 1;
  }

  const errors = [...validateManagedFields(obj), ...(info.custom !== undefined ? validateCustom(info, obj) : validateObject(info.kind, obj, existing, plan.subresource))];
  // A test's extra validation (setObjectCheck) only runs once the server's own passed, as a second validator would.
  const check = info.custom === undefined && errors.length === 0 ? deps.objectCheck?.() : undefined;
  if (check !== undefined) errors.push(...check({ group: info.group, version: info.version, resource: info.resource, kind: info.kind }, obj, existing));
  if (errors.length > 0) throw invalid(info.kind, info.group, plan.name, errors);
  if (info.custom !== undefined) checkStoredSize(obj);

  // A write that changes nothing is not stored: no new resourceVersion, no watch event.
  if (existing !== undefined && isDeepStrictEqual(withoutTimes(obj), withoutTimes(existing))) return { status: 200, body: plan.view.toResponse(existing) };
  const status = creating ? 201 : 200;
  if (dryRun || !info.persisted) return { status, body: plan.view.toResponse(obj) };
  return { status, body: plan.view.toResponse(deps.store.commit(info, obj)) };
}

/** The managedFields side of a write by this request's manager. */
export function fieldsWrite(ctx: RequestContext, deps: HandlerDeps, info: ResourceInfo, operation: 'Apply' | 'Update', subresource: string | undefined): FieldsWrite {
  const write: FieldsWrite = { manager: managerOf(ctx), operation, apiVersion: apiVersionOf(info), now: deps.now() };
  if (subresource !== undefined) write.subresource = subresource;
  return write;
}

