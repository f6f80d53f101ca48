/**
 * The authorizer of a test API server. With RBAC (`authorization: 'rbac'`) it is kube-apiserver's chain
 * for `--authorization-mode=RBAC`: first the `system:masters` superuser authorizer
 * (pkg/kubeapiserver/authorizer/config.go adds `authorizerfactory.NewPrivilegedGroups`), then
 * `RBACAuthorizer.Authorize` (plugin/pkg/auth/authorizer/rbac/rbac.go), which walks the rules of every
 * ClusterRoleBinding and, in a namespace, every RoleBinding there that applies to the user
 * (`DefaultRuleResolver.VisitRulesFor`, pkg/registry/rbac/validation/rule.go) and allows on the first rule
 * that matches, with the reason `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "u"`.
 * It never denies: without a match the answer is "no opinion", whose reason lists the resolution errors
 * (a binding to a missing role: `RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
 * Without RBAC it is AlwaysAllow. Reads the store directly, cached until an RBAC object changes.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { aggregateMessage, describeSubject, ruleAllows, rulesOf, subjectIndex } from './rbac-rules.js';
import type { Attributes, PolicyRule, Subject } from './rbac-rules.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject, UserInfo } from './types.js';

/** An authorizer's answer (`authorizer.Decision` and the reason). */
export interface Decision {
  decision: 'allow' | 'deny' | 'noOpinion';
  reason: string;
}

/** How role lookups word a missing role: the authorizer's informer listers, or the RBAC registry's storage. */
export type RoleSource = 'lister' | 'registry';

/** Authorization as the apiserver's chain does it, plus the rule resolver RBAC's write checks use. */
export interface Authorizer {
  readonly rbac: boolean;
  authorize(a: Attributes): Decision;
  /** `RulesFor`: every rule granted to `user` cluster-wide and (when given) in `namespace`, and the resolution errors. */
  rulesFor(user: UserInfo, namespace: string, source: RoleSource): { rules: PolicyRule[]; errors: string[] };
  /** `GetRoleReferenceRules`: the rules of a binding's roleRef, or the lookup error. */
  roleRefRules(ref: JsonObject, namespace: string, source: RoleSource): { rules: PolicyRule[] } | { error: string; notFound: boolean };
  stop(): void;
}

/** `user.SystemPrivilegedGroup`. */
export const SYSTEM_MASTERS = 'system:masters';
const RBAC_GROUP = 'rbac.authorization.k8s.io';

interface Snapshot {
  clusterRoles: Map<string, JsonObject>;
  roles: Map<string, JsonObject>;
  clusterRoleBindings: JsonObject[];
  roleBindings: Map<string, JsonObject[]>;
}

function meta(o: JsonObject): JsonObject {
  return isRecord(o['metadata']) ? o['metadata'] : {};
}

function nameOf(o: JsonObject): string {
  return String(meta(o)['name'] ?? '');
}

function subjectsOf(binding: JsonObject): Subject[] {
  const subjects = binding['subjects'];
  if (!Array.isArray(subjects)) return [];
  return subjects.filter(isRecord).map((s) => ({
    kind: String(s['kind'] ?? ''),
    name: String(s['name'] ?? ''),
    ...(typeof s['namespace'] === 'string' ? { namespace: s['namespace'] } : {}),
    ...(typeof s['apiGroup'] === 'string' ? { apiGroup: s['apiGroup'] } : {}),
  }));
}

function info(resource: string): ResourceInfo {
  const found = findResource(RBAC_GROUP, 'v1', resource);
  if (found === undefined) throw new Error(`the test API server does not serve ${resource}`);
  return found;
}

/** One rule with where it came from, as `VisitRulesFor` hands it to a visitor. */
type Visit = { source: string; rule: PolicyRule } | { error: string };

/** Creates the authorizer of a server; `rbac` false gives AlwaysAllow. */
export function createAuthorizer(deps: { store: ObjectStore; rbac: boolean }): Authorizer {
  const infos = { clusterRoles: info('clusterroles'), roles: info('roles'), clusterRoleBindings: info('clusterrolebindings'), roleBindings: info('rolebindings') };
  let snapshot: Snapshot | undefined;
  const unsubscribe = deps.store.subscribe((e) => {
    if (e.info.group === RBAC_GROUP) snapshot = undefined;
  });

  function current(): Snapshot {
    if (snapshot !== undefined) return snapshot;
    const byName = (a: JsonObject, b: JsonObject): number => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
    const roleBindings = new Map<string, JsonObject[]>();
    for (const rb of deps.store.list(infos.roleBindings).sort(byName)) {
      const ns = String(meta(rb)['namespace'] ?? '');
      roleBindings.set(ns, [...(roleBindings.get(ns) ?? []), rb]);
    }
    snapshot = {
      clusterRoles: new Map(deps.store.list(infos.clusterRoles).map((r) => [nameOf(r), r])),
      roles: new Map(deps.store.list(infos.roles).map((r) => [`${String(meta(r)['namespace'] ?? '')}/${nameOf(r)}`, r])),
      // The listers hand bindings out in map order; by name keeps the allow reason stable.
      clusterRoleBindings: deps.store.list(infos.clusterRoleBindings).sort(byName),
      roleBindings,
    };
    return snapshot;
  }

  /**
   * `GetRoleReferenceRules`. A missing role is the lister's `NewNotFound(rbac.Resource("role"), name)`
   * for the authorizer, and the registry's `roles.rbac.authorization.k8s.io` for the write checks.
   */
  function roleRefRules(ref: JsonObject, namespace: string, source: RoleSource): { rules: PolicyRule[] } | { error: string; notFound: boolean } {
    const kind = String(ref['kind'] ?? '');
    const name = String(ref['name'] ?? '');
    const s = current();
    const missing = (singular: string): { error: string; notFound: boolean } => ({ error: `${source === 'lister' ? singular : `${singular}s`}.${RBAC_GROUP} ${JSON.stringify(name)} not found`, notFound: true });
    if (kind === 'Role') {
      const role = s.roles.get(`${namespace}/${name}`);
      return role === undefined ? missing('role') : { rules: rulesOf(role) };
    }
    if (kind === 'ClusterRole') {
      const role = s.clusterRoles.get(name);
      return role === undefined ? missing('clusterrole') : { rules: rulesOf(role) };
    }
    return { error: `unsupported role reference kind: ${JSON.stringify(kind)}`, notFound: false };
  }

  /** `VisitRulesFor`, as a list: cluster role bindings first, then the namespace's role bindings. */
  function visits(user: UserInfo, namespace: string, source: RoleSource): Visit[] {
    const s = current();
    const out: Visit[] = [];
    const walk = (binding: JsonObject, bindingNamespace: string, describe: (subject: Subject) => string): void => {
      const subjects = subjectsOf(binding);
      const index = subjectIndex(user, subjects, bindingNamespace);
      const subject = subjects[index];
      if (subject === undefined) return;
      const ref = isRecord(binding['roleRef']) ? binding['roleRef'] : {};
      const got = roleRefRules(ref, bindingNamespace, source);
      if ('error' in got) {
        out.push({ error: got.error });
        return;
      }
      const text = describe(subject);
      for (const rule of got.rules) out.push({ source: text, rule });
    };
    const refText = (b: JsonObject): string => {
      const ref = isRecord(b['roleRef']) ? b['roleRef'] : {};
      return `${String(ref['kind'] ?? '')} ${JSON.stringify(String(ref['name'] ?? ''))}`;
    };
    for (const crb of s.clusterRoleBindings) {
      walk(crb, '', (subject) => `ClusterRoleBinding ${JSON.stringify(nameOf(crb))} of ${refText(crb)} to ${describeSubject(subject, '')}`);
    }
    if (namespace !== '') {
      for (const rb of s.roleBindings.get(namespace) ?? []) {
        walk(rb, namespace, (subject) => `RoleBinding ${JSON.stringify(`${nameOf(rb)}/${namespace}`)} of ${refText(rb)} to ${describeSubject(subject, namespace)}`);
      }
    }
    return out;
  }

  function authorizeRbac(a: Attributes): Decision {
    const errors: string[] = [];
    for (const v of visits(a.user, a.namespace, 'lister')) {
      if ('error' in v) errors.push(v.error);
      else if (ruleAllows(a, v.rule)) return { decision: 'allow', reason: `RBAC: allowed by ${v.source}` };
    }
    return { decision: 'noOpinion', reason: errors.length === 0 ? '' : `RBAC: ${aggregateMessage(errors)}` };
  }

  return {
    rbac: deps.rbac,
    authorize(a) {
      if (!deps.rbac) return { decision: 'allow', reason: '' };
      // authorizerfactory.NewPrivilegedGroups: system:masters may do anything, with no reason given.
      if (a.user.groups.includes(SYSTEM_MASTERS)) return { decision: 'allow', reason: '' };
      return authorizeRbac(a);
    },
    rulesFor(user, namespace, source) {
      const rules: PolicyRule[] = [];
      const errors: string[] = [];
      for (const v of visits(user, namespace, source)) {
        if ('error' in v) errors.push(v.error);
        else rules.push(v.rule);
      }
      return { rules, errors };
    },
    roleRefRules,
    stop: unsubscribe,
  };
}
