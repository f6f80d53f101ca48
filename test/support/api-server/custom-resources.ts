/**
 * The custom-resource side of a write, as the apiextensions-apiserver's crdHandler and
 * customResourceStrategy do it (apiextensions-apiserver/pkg/registry/customresource/strategy.go,
 * status_strategy.go): pruning and defaulting, `fieldValidation` of pruned (unknown) fields, the
 * status subresource split, generation, the scale subresource, schema validation, and etcd's size
 * limit for the JSON a custom resource is stored as.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { RequestContext } from './context.js';
import { prune, pruneAndDefault } from './cr-schema.js';
import { validateAgainstSchema } from './cr-validation.js';
import type { ResourceInfo } from './resources.js';
import { ApiError, badRequest, invalid } from './status.js';
import type { JsonObject } from './types.js';
import { goJson } from './validation-common.js';
import type { FieldError } from './validation-common.js';
import { validateName } from './validation.js';

/** etcd's default `--max-request-bytes` (1.5 MiB): a larger value is refused by etcd itself. */
export const ETCD_MAX_VALUE_BYTES = 1.5 * 1024 * 1024;
/** The patch types a custom resource accepts, in the order the 415 lists them (crdHandler `supportedTypes`). */
const CUSTOM_PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];

function schemaOf(info: ResourceInfo): JsonObject | undefined {
  return info.custom?.schema;
}

/** Prunes, drops non-nullable nulls and defaults a custom resource in place. */
export function defaultCustom(info: ResourceInfo, obj: JsonObject): void {
  pruneAndDefault(obj, schemaOf(info));
}

/** The fields pruning would drop from `obj` (which is left untouched). */
export function unknownFields(info: ResourceInfo, obj: JsonObject): string[] {
  return prune(structuredClone(obj), schemaOf(info));
}

/**
 * Applies `?fieldValidation=` to the unknown fields of a written custom resource: `Ignore` drops them,
 * `Warn` (the default since 1.23) drops them with a `unknown field "…"` warning each, `Strict` refuses
 * the write — as a 400 `… cannot be handled as a …: strict decoding error` for create and update
 * (`transformDecodeError`), as a 422 on the `patch` field for JSON and merge patches (patch.go
 * `applyPatchToCurrentObject`).
 */
export function checkUnknownFields(ctx: RequestContext, info: ResourceInfo, obj: JsonObject): void {
  const unknown = unknownFields(info, obj);
  if (unknown.length === 0) return;
  const directive = ctx.query.get('fieldValidation') ?? '';
  if (directive === 'Ignore') return;
  const texts = unknown.map((p) => `unknown field ${JSON.stringify(p)}`);
  if (directive !== 'Strict') {
    ctx.warnings.push(...texts);
    return;
  }
  const strict = `strict decoding error: ${texts.join(', ')}`;
  if (ctx.method === 'PATCH') throw invalid('', '', '', [{ field: 'patch', message: `Invalid value: ${JSON.stringify(goJson(obj))}: ${strict}` }]);
  throw badRequest(`${info.kind} in version ${JSON.stringify(info.version)} cannot be handled as a ${info.kind}: ${strict}`);
}

/**
 * Server-side apply types the applied configuration against the schema: an unknown field fails the
 * conversion, which the apiserver (1.35) still answers with a bare 500 (structuredmerge.go).
 */
export function checkAppliedFields(info: ResourceInfo, applied: JsonObject, namespace: string, name: string): void {
  const unknown = unknownFields(info, applied);
  if (unknown.length === 0) return;
  const gvk = `${info.group}/${info.version}, Kind=${info.kind}`;
  const fields = unknown.map((p) => `.${p}: field not declared in schema`).join(', ');
  throw new ApiError(500, '', `failed to create typed patch object (${info.namespaced ? namespace : ''}/${name}; ${gvk}): ${fields}`);
}

/** The 415 a strategic merge patch of a custom resource gets (CRs have no patch strategies). */
export function unsupportedPatch(): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${CUSTOM_PATCH_TYPES.join(', ')}`);
}

/**
 * `statusStrategy.PrepareForUpdate`: a write to `/status` keeps everything of the stored object but
 * its status (metadata included; managedFields are recomputed by the caller).
 */
export function customStatusWrite(existing: JsonObject, target: JsonObject): JsonObject {
  const next = structuredClone(existing);
  if (target['status'] === undefined) delete next['status'];
  else next['status'] = structuredClone(target['status']);
  return next;
}

/** `customResourceStrategy.PrepareForUpdate`: any change outside `metadata` bumps the generation. */
export function customGenerationChanged(obj: JsonObject, old: JsonObject): boolean {
  const strip = (o: JsonObject): JsonObject => {
    const { metadata: _metadata, ...rest } = o;
    return rest;
  };
  return !isDeepStrictEqual(strip(obj), strip(old));
}

/** Object metadata and the schema: what `customResourceStrategy.Validate` checks (CEL rules aside). */
export function validateCustom(info: ResourceInfo, obj: JsonObject): FieldError[] {
  return [...validateName(obj), ...validateAgainstSchema(obj, schemaOf(info))];
}

/**
 * Custom resources are stored as JSON; etcd refuses a value over its request limit and the apiserver
 * passes that on as a bare 500 (storage/etcd3 does not map the gRPC error to a Status).
 */
export function checkStoredSize(obj: JsonObject): void {
  if (Buffer.byteLength(JSON.stringify(obj), 'utf8') > ETCD_MAX_VALUE_BYTES) throw new ApiError(500, '', 'etcdserver: request is too large');
}

function pathOf(jsonPath: string): string[] {
  return jsonPath.replace(/^\./, '').split('.').filter((p) => p !== '');
}

function valueAt(obj: unknown, path: string[]): unknown {
  let node = obj;
  for (const p of path) node = isRecord(node) ? node[p] : undefined;
  return node;
}

/** The `autoscaling/v1 Scale` of a custom resource with a scale subresource (`scaleFromCustomResource`). */
export function customScaleOf(info: ResourceInfo, obj: JsonObject): JsonObject {
  const scale = info.custom?.scale;
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const scaleMeta: JsonObject = {};
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp']) if (meta[k] !== undefined) scaleMeta[k] = meta[k];
  const specReplicas = valueAt(obj, pathOf(scale?.specReplicasPath ?? ''));
  const statusReplicas = valueAt(obj, pathOf(scale?.statusReplicasPath ?? ''));
  const status: JsonObject = { replicas: typeof statusReplicas === 'number' ? statusReplicas : 0 };
  const selector = scale?.labelSelectorPath === undefined ? undefined : valueAt(obj, pathOf(scale.labelSelectorPath));
  if (typeof selector === 'string' && selector !== '') status['selector'] = selector;
  const spec: JsonObject = typeof specReplicas === 'number' && specReplicas !== 0 ? { replicas: specReplicas } : {};
  return { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: scaleMeta, spec, status };
}

/** A copy of a custom resource with its replicas (at `specReplicasPath`) set. */
export function customWithReplicas(info: ResourceInfo, obj: JsonObject, replicas: number): JsonObject {
  const out = structuredClone(obj);
  const path = pathOf(info.custom?.scale?.specReplicasPath ?? '.spec.replicas');
  let node: JsonObject = out;
  for (const p of path.slice(0, -1)) {
    if (!isRecord(node[p])) node[p] = {};
    node = node[p] as JsonObject;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = replicas;
  return out;
}
