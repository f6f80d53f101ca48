/**
 * `WithImpersonation` (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go): `Impersonate-User`
 * (a `system:serviceaccount:<ns>:<name>` user is impersonated as that ServiceAccount), `Impersonate-Group`
 * and `Impersonate-Uid`, each authorized in turn as the `impersonate` verb on `users` / `serviceaccounts`
 * (in the account's namespace) / `groups` (core group) / `uids` (authentication.k8s.io) with the target as
 * the name; the first refusal is the apiserver's 403 (`users "bob" is forbidden: User "alice" cannot
 * impersonate resource "users" in API group "" at the cluster scope`). The impersonated user gets the
 * given groups (a ServiceAccount without any: its `system:serviceaccounts[:<ns>]`) plus
 * `system:authenticated`, unless `system:authenticated` or `system:unauthenticated` was given.
 * Without RBAC only `system:masters` may impersonate (stricter than AlwaysAllow, as before).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AUTHENTICATED } from './auth.js';
import { forbiddenRequest } from './authz-attributes.js';
import { SYSTEM_MASTERS } from './rbac-authorizer.js';
import type { Authorizer } from './rbac-authorizer.js';
import { serviceAccountGroups, splitServiceAccount } from './rbac-rules.js';
import type { Attributes } from './rbac-rules.js';
import { ApiError } from './status.js';
import type { UserInfo } from './types.js';

function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** The user a request acts as: `requestor`, or whom its impersonation headers name once authorized. */
export function impersonate(requestor: UserInfo, headers: IncomingHttpHeaders, authz: Authorizer): UserInfo {
  const asUser = typeof headers['impersonate-user'] === 'string' ? headers['impersonate-user'] : '';
  const asGroups = headerList(headers['impersonate-group']);
  const asUid = typeof headers['impersonate-uid'] === 'string' ? headers['impersonate-uid'] : '';
  if (asUser === '') {
    if (asGroups.length === 0 && asUid === '') return requestor;
    // buildImpersonationRequests refuses groups or a uid without a user.
    throw new ApiError(500, 'InternalError', `Internal error occurred: requested impersonation of ${asGroups.length > 0 ? `groups ${JSON.stringify(asGroups)}` : 'a uid'} without impersonating a user`);
  }
  if (!authz.rbac) {
    if (!requestor.groups.includes(SYSTEM_MASTERS)) throw new ApiError(403, 'Forbidden', 'impersonation is only allowed for system:masters');
  } else {
    const sa = splitServiceAccount(asUser);
    const checks: Partial<Attributes>[] = [
      sa === undefined ? { resource: 'users', name: asUser } : { resource: 'serviceaccounts', namespace: sa[0], name: sa[1] },
      ...asGroups.map((g) => ({ resource: 'groups', name: g })),
      ...(asUid === '' ? [] : [{ resource: 'uids', apiGroup: 'authentication.k8s.io', name: asUid }]),
    ];
    for (const check of checks) {
      const a: Attributes = { user: requestor, verb: 'impersonate', resourceRequest: true, path: '', namespace: '', apiGroup: '', apiVersion: 'v1', resource: '', subresource: '', name: '', ...check };
      const d = authz.authorize(a);
      if (d.decision !== 'allow') throw forbiddenRequest(a, d.reason);
    }
  }
  const sa = splitServiceAccount(asUser);
  const groups = asGroups.length === 0 && sa !== undefined ? serviceAccountGroups(sa[0]) : [...asGroups];
  if (!groups.includes(AUTHENTICATED) && !groups.includes('system:unauthenticated')) groups.push(AUTHENTICATED);
  return { username: asUser, groups };
}
