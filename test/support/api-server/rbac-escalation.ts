/**
 * RBAC's escalation prevention on writes of Roles, ClusterRoles and their bindings, as the
 * policy-based storages do it (pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/
 * policybased/storage.go, pkg/registry/rbac/escalation_check.go):
 * - `system:masters` may write anything (`EscalationAllowed`); an update that only changes
 *   ownerReferences/finalizers/deletion fields is not checked (`IsOnlyMutatingGCFields`);
 * - a Role/ClusterRole write passes with the `escalate` verb on it (`RoleEscalationAuthorized`, the
 *   URL's name and namespace), else every rule it grants must be held by the writer in the request's
 *   namespace (`ConfirmNoEscalation` over `Covers`); a ClusterRole with (or losing) an aggregationRule
 *   needs `*` on everything: `must have cluster-admin privileges to use the aggregationRule`;
 * - a binding passes with the `bind` verb on its roleRef (`BindingAuthorized`: the role's resource and
 *   name, in the binding's namespace), else the role must exist (404 `roles.rbac.authorization.k8s.io
 *   "x" not found`) and the writer must hold all its rules.
 * A refusal is 403 `roles.rbac.authorization.k8s.io "r" is forbidden: user "alice"
 * (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:`
 * followed by one `CompactString` per missing rule, sorted.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { forbidden } from './authz-attributes.js';
import { SYSTEM_MASTERS } from './rbac-authorizer.js';
import type { Authorizer } from './rbac-authorizer.js';
import { compactRules, compactString, covers, goQuotedList, rulesOf } from './rbac-rules.js';
import type { Attributes, PolicyRule } from './rbac-rules.js';
import type { ResourceInfo } from './resources.js';
import { ApiError, notFound } from './status.js';
import type { JsonObject, UserInfo } from './types.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** `fullAuthority`: what setting an aggregationRule requires. */
const FULL_AUTHORITY: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'], resourceNames: [], nonResourceURLs: [] },
  { verbs: ['*'], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: ['*'] },
];
/** The metadata the garbage collector may change without an escalation check. */
const GC_FIELDS = ['ownerReferences', 'finalizers', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

/** The request a guarded write belongs to. */
export interface GuardedRequest {
  user: UserInfo;
  /** The URL's namespace (`''` for cluster-scoped) and name (`''` on create). */
  namespace: string;
  name: string;
}

function meta(o: JsonObject): JsonObject {
  return isRecord(o['metadata']) ? o['metadata'] : {};
}

/** `IsOnlyMutatingGCFields`: the object equals the stored one once the GC fields are taken from it. */
function onlyGcFields(obj: JsonObject, old: JsonObject): boolean {
  const copy = structuredClone(obj);
  const m = meta(copy);
  const o = meta(old);
  for (const f of GC_FIELDS) {
    if (o[f] === undefined) delete m[f];
    else m[f] = structuredClone(o[f]);
  }
  copy['metadata'] = m;
  return isDeepStrictEqual(copy, old);
}

function allowed(authz: Authorizer, a: Omit<Attributes, 'resourceRequest' | 'path' | 'apiVersion' | 'subresource'>): boolean {
  return authz.authorize({ ...a, resourceRequest: true, path: '', apiVersion: '*', subresource: '' }).decision === 'allow';
}

/**
 * `ConfirmNoEscalation`: the writer's rules in `namespace` must cover `rules`; the error text, or
 * `undefined` when they do.
 */
function escalation(authz: Authorizer, user: UserInfo, namespace: string, rules: readonly PolicyRule[]): string | undefined {
  const owner = authz.rulesFor(user, namespace, 'registry');
  const { covered, missing } = covers(owner.rules, rules);
  if (covered) return undefined;
  const descriptions = [...new Set(compactRules(missing).map(compactString))].sort();
  let msg = `user ${JSON.stringify(user.username)} (groups=${goQuotedList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`;
  if (owner.errors.length > 0) {
    const unique = [...new Set(owner.errors)];
    msg += `; resolution errors: [${unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`}]`;
  }
  return msg;
}

function hasAggregationRule(role: JsonObject | undefined): boolean {
  const rule = role?.['aggregationRule'];
  return isRecord(rule) && Array.isArray(rule['clusterRoleSelectors']) && rule['clusterRoleSelectors'].length > 0;
}

/**
 * Runs the checks for a write of `obj` (over `existing` on update) to `info`; throws the apiserver's
 * error when it refuses. Other resources and servers without RBAC pass untouched.
 */
export function guardRbacWrite(authz: Authorizer, req: GuardedRequest, info: ResourceInfo, obj: JsonObject, existing: JsonObject | undefined): void {
  if (!authz.rbac || info.group !== RBAC_GROUP || info.custom !== undefined) return;
  if (req.user.groups.includes(SYSTEM_MASTERS)) return;
  if (existing !== undefined && onlyGcFields(obj, existing)) return;
  const name = String(meta(obj)['name'] ?? '');
  const base = { user: req.user, namespace: req.namespace, apiGroup: RBAC_GROUP };
  if (info.resource === 'roles' || info.resource === 'clusterroles') {
    if (allowed(authz, { ...base, verb: 'escalate', resource: info.resource, name: req.name })) return;
    const refused = escalation(authz, req.user, req.namespace, rulesOf(obj));
    if (refused !== undefined) throw forbidden(RBAC_GROUP, info.resource, name, refused);
    if (info.resource === 'clusterroles' && (hasAggregationRule(obj) || hasAggregationRule(existing))) {
      if (escalation(authz, req.user, req.namespace, FULL_AUTHORITY) !== undefined) throw forbidden(RBAC_GROUP, info.resource, name, 'must have cluster-admin privileges to use the aggregationRule');
    }
    return;
  }
  if (info.resource !== 'rolebindings' && info.resource !== 'clusterrolebindings') return;
  const ref = isRecord(obj['roleRef']) ? obj['roleRef'] : {};
  const refKind = String(ref['kind'] ?? '');
  const refResource = refKind === 'ClusterRole' ? 'clusterroles' : refKind === 'Role' ? 'roles' : undefined;
  if (refResource !== undefined && allowed(authz, { ...base, verb: 'bind', apiGroup: String(ref['apiGroup'] ?? ''), resource: refResource, name: String(ref['name'] ?? '') })) return;
  const got = authz.roleRefRules(ref, req.namespace, 'registry');
  if ('error' in got) {
    if (got.notFound) throw notFound(refResource ?? '', RBAC_GROUP, String(ref['name'] ?? ''));
    throw new ApiError(500, 'InternalError', `Internal error occurred: ${got.error}`);
  }
  const refused = escalation(authz, req.user, req.namespace, got.rules);
  if (refused !== undefined) throw forbidden(RBAC_GROUP, info.resource, name, refused);
}
