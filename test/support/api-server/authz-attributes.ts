/**
 * What a request asks to do, as the authorizer sees it, and the 403 a refusal is:
 * - `RequestInfoFactory.NewRequestInfo` (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): paths
 *   with fewer than three parts under `/api` (four under `/apis`) — discovery — and everything outside
 *   them are non-resource requests whose verb is the lower-cased method; resource requests get
 *   create/get/list/watch/update/patch/delete/deletecollection, the `/watch/` prefix, the namespace (a
 *   Namespace's own name for `/namespaces/<name>`), resource, name and subresource; a list or watch with a
 *   `metadata.name=<x>` field selector carries that name (so `resourceNames` rules can allow it);
 * - `responsewriters.Forbidden` / `forbiddenMessage` (endpoints/handlers/responsewriters/errors.go) with
 *   `apierrors.NewForbidden`: `deployments.apps "web" is forbidden: User "alice" cannot update resource
 *   "deployments" in API group "apps" in the namespace "team-a"`, `… at the cluster scope`, or for a
 *   path `forbidden: User "system:anonymous" cannot get path "/api"`; a non-empty reason follows after `: `.
 */
import type { Attributes } from './rbac-rules.js';
import { ApiError } from './status.js';
import type { UserInfo } from './types.js';

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIXES = new Set(['api']);
/** `specialVerbs`: path prefixes that set the verb. */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** `path.IsValidPathSegmentName`: not `.`/`..`, no `/` or `%`. */
function validPathSegment(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The `metadata.name` a field selector requires exactly (`RequiresExactMatch`), if any. */
function exactName(fieldSelector: string | null): string | undefined {
  if (fieldSelector === null || fieldSelector === '') return undefined;
  for (const term of fieldSelector.split(',')) {
    const m = /^\s*metadata\.name\s*(==|=)\s*(.*?)\s*$/.exec(term);
    if (m !== null) return m[2];
  }
  return undefined;
}

/** `NewRequestInfo` for a request of `user`. `pathname` is without the `/u/<token>` prefix. */
export function requestAttributes(method: string, pathname: string, query: URLSearchParams, user: UserInfo): Attributes {
  const base: Attributes = { user, verb: method.toLowerCase(), resourceRequest: false, path: pathname, namespace: '', apiGroup: '', apiVersion: '', resource: '', subresource: '', name: '' };
  // splitPath: trimmed of slashes, split, as Go sees the decoded URL path.
  const trimmed = pathname.replace(/^\/+|\/+$/g, '');
  let parts = trimmed === '' ? [] : trimmed.split('/').map(safeDecode);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] ?? '')) return base;
  const prefix = parts[0] ?? '';
  parts = parts.slice(1);
  const out: Attributes = { ...base };
  if (!GROUPLESS_PREFIXES.has(prefix)) {
    if (parts.length < 3) return base;
    out.apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }
  out.resourceRequest = true;
  out.apiVersion = parts[0] ?? '';
  parts = parts.slice(1);
  if (SPECIAL_VERBS.has(parts[0] ?? '')) {
    out.verb = parts[0] ?? '';
    parts = parts.slice(1);
  } else {
    out.verb = METHOD_VERBS[method.toUpperCase()] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      out.namespace = parts[1] ?? '';
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && out.verb !== 'proxy') out.subresource = parts[2] ?? '';
  if (parts.length >= 2) out.name = parts[1] ?? '';
  if (parts.length >= 1) out.resource = parts[0] ?? '';
  if (out.name === '' && out.verb === 'get') {
    const watch = (query.get('watch') ?? '').toLowerCase();
    out.verb = watch !== '' && watch !== 'false' && watch !== '0' ? 'watch' : 'list';
    const named = exactName(query.get('fieldSelector'));
    if (named !== undefined && validPathSegment(named)) out.name = named;
  }
  if (out.name === '' && out.verb === 'delete') out.verb = 'deletecollection';
  return out;
}

/** `forbiddenMessage`. */
export function forbiddenMessage(a: Attributes): string {
  if (!a.resourceRequest) return `User ${JSON.stringify(a.user.username)} cannot ${a.verb} path ${JSON.stringify(a.path)}`;
  const resource = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`;
  const where = a.namespace === '' ? 'at the cluster scope' : `in the namespace ${JSON.stringify(a.namespace)}`;
  return `User ${JSON.stringify(a.user.username)} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.apiGroup)} ${where}`;
}

/** `apierrors.NewForbidden(groupResource, name, err)`: the 403 Status with its details. */
export function forbidden(group: string, resource: string, name: string, message: string): ApiError {
  const qualified = group === '' ? resource : `${resource}.${group}`;
  let text: string;
  if (qualified === '') text = `forbidden: ${message}`;
  else if (name === '') text = `${qualified} is forbidden: ${message}`;
  else text = `${qualified} ${JSON.stringify(name)} is forbidden: ${message}`;
  const details: Record<string, unknown> = {};
  if (name !== '') details['name'] = name;
  if (group !== '') details['group'] = group;
  if (resource !== '') details['kind'] = resource;
  return new ApiError(403, 'Forbidden', text, details);
}

/** `responsewriters.Forbidden`: the refusal of a request with these attributes (reason appended when given). */
export function forbiddenRequest(a: Attributes, reason: string): ApiError {
  const msg = forbiddenMessage(a);
  return forbidden(a.apiGroup, a.resource, a.name, reason === '' ? msg : `${msg}: ${reason}`);
}
