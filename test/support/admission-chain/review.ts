/**
 * The AdmissionReview v1 the apiserver sends (`CreateV1AdmissionReview`, reference §2) and the two
 * views of the object (§3): the mutating stage (CREATE: no uid, creationTimestamp, generation) and
 * the validating stage (CREATE: uid, creationTimestamp, generation 1; UPDATE: generation + 1 when the
 * spec or a Deployment's annotations changed). Objects are sent re-encoded with Go's omitempty rules,
 * as the apiserver serialises its typed objects. Pure apart from the uid and clock passed in.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AdmissionHookRequest } from '../api-server/index.js';
import { omitEmptyLikeApiserver } from '../json-patch.js';
import type { Invocation } from './match.js';

type Loose = Record<string, any>;

/** Kinds whose registry strategy sets `metadata.generation`. */
const GENERATION_KINDS: ReadonlySet<string> = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);
/** Metadata the registry fills in only after the mutating webhooks ran. */
const REGISTRY_FIELDS = ['uid', 'creationTimestamp', 'generation'];

function metaOf(obj: Loose): Loose {
  if (typeof obj['metadata'] !== 'object' || obj['metadata'] === null) obj['metadata'] = {};
  return obj['metadata'] as Loose;
}

/** A copy as the apiserver would serialise it (null members, empty maps and lists dropped). */
export function encoded<T>(obj: T): T {
  return (obj === null || obj === undefined ? null : omitEmptyLikeApiserver(obj)) as T;
}

/** The object mutating webhooks see first: on CREATE, without the fields the registry sets later. */
export function mutatingStageObject(req: AdmissionHookRequest): Loose | null {
  if (req.object === null || typeof req.object !== 'object') return null;
  const obj = encoded(req.object as Loose);
  if (req.operation === 'CREATE') {
    const meta = metaOf(obj);
    for (const f of REGISTRY_FIELDS) delete meta[f];
  }
  return obj;
}

/** A metav1.Time: RFC 3339 with second precision. */
function timestamp(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

/**
 * The object validating webhooks see: the mutated object after the registry's PrepareForCreate /
 * PrepareForUpdate. `uid` is the one the registry would assign (the test API server assigns its own
 * when it stores the object).
 */
export function validatingStageObject(obj: Loose | null, req: AdmissionHookRequest, uid: string, now: Date): Loose | null {
  if (obj === null) return null;
  const out = structuredClone(obj);
  const kind = typeof out['kind'] === 'string' ? out['kind'] : req.kind.kind;
  const meta = metaOf(out);
  if (req.operation === 'CREATE') {
    meta['uid'] = uid;
    meta['creationTimestamp'] = timestamp(now);
    if (GENERATION_KINDS.has(kind)) meta['generation'] = 1;
    return out;
  }
  if (req.operation === 'UPDATE' && GENERATION_KINDS.has(kind) && !req.subResource && req.oldObject !== null) {
    const old = req.oldObject as Loose;
    const oldMeta = typeof old['metadata'] === 'object' && old['metadata'] !== null ? (old['metadata'] as Loose) : {};
    const specChanged = !isDeepStrictEqual(encoded(out['spec'] ?? null), encoded(old['spec'] ?? null));
    // Deployments copy annotations to their ReplicaSets, so an annotation change is a new generation.
    const annotationsChanged = kind === 'Deployment' && !isDeepStrictEqual(meta['annotations'] ?? {}, oldMeta['annotations'] ?? {});
    const oldGeneration = typeof oldMeta['generation'] === 'number' ? oldMeta['generation'] : 0;
    meta['generation'] = specChanged || annotationsChanged ? oldGeneration + 1 : oldGeneration;
  }
  return out;
}

/**
 * The v1 review for one call. `object`/`oldObject` are already in the invocation's version; an
 * Equivalent match to another version only relabels `apiVersion` (no schema conversion).
 */
export function buildReview(uid: string, invocation: Invocation, req: AdmissionHookRequest, object: Loose | null, oldObject: Loose | null): Loose {
  const relabel = (o: Loose | null): Loose | null => {
    if (o === null) return null;
    const sameVersion = invocation.kind.group === req.kind.group && invocation.kind.version === req.kind.version;
    if (sameVersion) return o;
    const { group, version } = invocation.kind;
    return { ...o, apiVersion: group === '' ? version : `${group}/${version}` };
  };
  const request: Loose = {
    uid,
    kind: { ...invocation.kind },
    resource: { ...invocation.resource },
  };
  if (invocation.subResource !== '') request['subResource'] = invocation.subResource;
  request['requestKind'] = { ...req.kind };
  request['requestResource'] = { ...req.resource };
  if (req.subResource !== undefined && req.subResource !== '') request['requestSubResource'] = req.subResource;
  if (req.name !== '') request['name'] = req.name;
  if (req.namespace !== '') request['namespace'] = req.namespace;
  request['operation'] = req.operation;
  const userInfo: Loose = {};
  if (req.userInfo.username !== '') userInfo['username'] = req.userInfo.username;
  if (req.userInfo.groups.length > 0) userInfo['groups'] = [...req.userInfo.groups];
  request['userInfo'] = userInfo;
  request['object'] = relabel(object);
  request['oldObject'] = relabel(oldObject);
  request['dryRun'] = req.dryRun;
  request['options'] = req.options === null ? null : structuredClone(req.options);
  // The typed serialiser writes kind before apiVersion, as the captured reviews show.
  return { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request };
}
