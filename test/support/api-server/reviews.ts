/**
 * The review APIs, answered (201) and never stored:
 * - `TokenReview` (pkg/registry/authentication/tokenreview/storage.go): no namespace, a token required
 *   (400 `token is required for TokenReview in authentication`), authenticated for `spec.audiences` (the
 *   API audiences when empty) → `status.authenticated`, `user`, `audiences`; an unknown token is no
 *   error but `status: {user: {}, error: "invalid bearer token"}` (the bearer token authenticator's
 *   `invalidToken`).
 * - `SelfSubjectReview` (selfsubjectreview/rest.go): the caller's user info, as `kubectl auth whoami` shows.
 * - `SubjectAccessReview`, `SelfSubjectAccessReview`, `LocalSubjectAccessReview`
 *   (pkg/registry/authorization/*): validated as `ValidateSubjectAccessReview` & co.
 *   (pkg/apis/authorization/validation) — exactly one of resourceAttributes and nonResourceAttributes,
 *   a user or group, empty metadata (a local review's namespace aside, which its resourceAttributes must
 *   repeat) — then authorized by the server's authorizer for the given user (`AuthorizationAttributesFrom`:
 *   an empty version matches all) or the caller → `status.allowed`, `denied`, `reason`.
 * - `SelfSubjectRulesReview`: the caller's rules in `spec.namespace`, as the authorizer chain's
 *   `RulesFor` lists them (`kubectl auth can-i --list`).
 * Who may create them is RBAC's business (`system:basic-user`, `system:auth-delegator`).
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { HandlerDeps, HandlerResult, RequestContext, SecurityDeps } from './context.js';
import { SYSTEM_MASTERS } from './rbac-authorizer.js';
import { aggregateMessage, policyRuleJson } from './rbac-rules.js';
import type { Attributes, PolicyRule } from './rbac-rules.js';
import { apiVersionOf } from './resources.js';
import { decodeObjectBody } from './rest-write.js';
import { ApiError, badRequest, invalid } from './status.js';
import type { JsonObject, UserInfo } from './types.js';
import { timestamp } from './write-pipeline.js';

type FieldError = { field: string; message: string };

const rec = (v: unknown): JsonObject => (isRecord(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A bad value as 1.34+ prints it: JSON. */
function shown(v: unknown): string {
  return JSON.stringify(v === undefined ? null : v);
}

/** `ValidateSubjectAccessReviewSpec` / `ValidateSelfSubjectAccessReviewSpec` (`self`: no user check). */
function specErrors(spec: JsonObject, self: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const resource = spec['resourceAttributes'];
  const nonResource = spec['nonResourceAttributes'];
  const one = 'exactly one of nonResourceAttributes or resourceAttributes must be specified';
  if ((resource === undefined || resource === null) === (nonResource === undefined || nonResource === null)) errors.push({ field: 'spec', message: `Invalid value: ${shown(nonResource)}: ${one}` });
  if (!self && text(spec['user']) === '' && strings(spec['groups']).length === 0) errors.push({ field: 'spec.user', message: `Invalid value: ${shown(text(spec['user']))}: at least one of user or group must be specified` });
  return errors;
}

/** The metadata rule: nothing but (for local reviews) the namespace; managedFields are ignored. */
function metadataErrors(metadata: JsonObject, allowNamespace: boolean): FieldError[] {
  const rest = Object.entries(metadata).filter(([k, v]) => v !== null && k !== 'managedFields' && !(allowNamespace && k === 'namespace') && !(k === 'creationTimestamp' && v === null));
  if (rest.length === 0) return [];
  return [{ field: 'metadata', message: `Invalid value: ${shown(metadata)}: must be empty${allowNamespace ? ' except for namespace' : ''}` }];
}

/** `ResourceAttributesFrom` / `NonResourceAttributesFrom`. */
function attributesFrom(user: UserInfo, spec: JsonObject): Attributes {
  const base: Attributes = { user, verb: '', resourceRequest: false, path: '', namespace: '', apiGroup: '', apiVersion: '', resource: '', subresource: '', name: '' };
  if (isRecord(spec['resourceAttributes'])) {
    const r = spec['resourceAttributes'];
    const version = text(r['version']);
    return { ...base, resourceRequest: true, verb: text(r['verb']), namespace: text(r['namespace']), apiGroup: text(r['group']), apiVersion: version === '' ? '*' : version, resource: text(r['resource']), subresource: text(r['subresource']), name: text(r['name']) };
  }
  const n = rec(spec['nonResourceAttributes']);
  return { ...base, verb: text(n['verb']), path: text(n['path']) };
}

function accessStatus(security: SecurityDeps, a: Attributes): JsonObject {
  const d = security.authorizer.authorize(a);
  const status: JsonObject = { allowed: d.decision === 'allow' };
  if (d.decision === 'deny') status['denied'] = true;
  if (d.reason !== '') status['reason'] = d.reason;
  return status;
}

/** `RulesFor` of the authorizer chain: the superuser's (or AlwaysAllow's) wildcard rules, then RBAC's. */
function rulesReviewStatus(security: SecurityDeps, user: UserInfo, namespace: string): JsonObject {
  const wildcard: PolicyRule[] = [
    { verbs: ['*'], apiGroups: ['*'], resources: ['*'], resourceNames: [], nonResourceURLs: [] },
    { verbs: ['*'], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: ['*'] },
  ];
  const { authorizer } = security;
  const rbac = authorizer.rbac ? authorizer.rulesFor(user, namespace, 'lister') : { rules: [], errors: [] };
  const privileged = !authorizer.rbac || user.groups.includes(SYSTEM_MASTERS) ? wildcard : [];
  const rules = [...privileged, ...rbac.rules];
  const status: JsonObject = {
    resourceRules: rules.filter((r) => r.resources.length > 0).map((r) => policyRuleJson({ ...r, nonResourceURLs: [] })),
    nonResourceRules: rules.filter((r) => r.nonResourceURLs.length > 0).map((r) => ({ verbs: [...r.verbs], nonResourceURLs: [...r.nonResourceURLs] })),
    incomplete: false,
  };
  if (rbac.errors.length > 0) status['evaluationError'] = aggregateMessage(rbac.errors);
  return status;
}

/** The kind and apiVersion of the body must be the endpoint's (omitted ones are fine). */
function checkKind(ctx: RequestContext, obj: JsonObject): void {
  const { info } = ctx.route;
  if (obj['kind'] !== undefined && obj['kind'] !== info.kind) throw badRequest(`the kind in the data (${String(obj['kind'])}) does not match the expected kind (${info.kind})`);
  if (obj['apiVersion'] !== undefined && obj['apiVersion'] !== apiVersionOf(info)) {
    throw badRequest(`the API version in the data (${String(obj['apiVersion'])}) does not match the expected API version (${apiVersionOf(info)})`);
  }
}

/** POST of a review. */
export function handleReview(ctx: RequestContext, deps: HandlerDeps): HandlerResult {
  const { info, name, subresource, namespace } = ctx.route;
  if (ctx.method !== 'POST' || name !== undefined || subresource !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const security = deps.security;
  if (security === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: the review APIs need the server');
  if (info.namespaced && namespace === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const obj = decodeObjectBody(ctx);
  checkKind(ctx, obj);
  const metadata = rec(obj['metadata']);
  const spec = rec(obj['spec']);
  const out: JsonObject = { kind: info.kind, apiVersion: apiVersionOf(info), metadata: { ...metadata } };
  if (obj['spec'] !== undefined) out['spec'] = structuredClone(obj['spec']);
  const refuse = (errors: FieldError[]): void => {
    if (errors.length > 0) throw invalid(info.kind, info.group, '', errors);
  };
  switch (info.kind) {
    case 'TokenReview': {
      const token = text(spec['token']);
      if (token === '') throw badRequest('token is required for TokenReview in authentication');
      const identity = security.reviewToken(token, strings(spec['audiences']));
      out['status'] = identity === undefined ? { user: {}, error: 'invalid bearer token' } : { authenticated: true, user: { username: identity.user.username, groups: identity.user.groups }, audiences: identity.audiences };
      break;
    }
    case 'SelfSubjectReview':
      out['metadata'] = { ...metadata, creationTimestamp: timestamp(deps.now()) };
      out['status'] = { userInfo: { username: ctx.user.username, groups: [...ctx.user.groups] } };
      break;
    case 'SubjectAccessReview':
      refuse([...specErrors(spec, false), ...metadataErrors(metadata, false)]);
      out['status'] = accessStatus(security, attributesFrom({ username: text(spec['user']), groups: strings(spec['groups']) }, spec));
      break;
    case 'SelfSubjectAccessReview':
      refuse([...specErrors(spec, true), ...metadataErrors(metadata, false)]);
      out['status'] = accessStatus(security, attributesFrom(ctx.user, spec));
      break;
    case 'LocalSubjectAccessReview': {
      const bodyNs = text(metadata['namespace']);
      if (bodyNs !== '' && bodyNs !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      const errors = [...specErrors(spec, false), ...metadataErrors(metadata, true)];
      const resourceNs = isRecord(spec['resourceAttributes']) ? text(spec['resourceAttributes']['namespace']) : undefined;
      if (resourceNs !== undefined && resourceNs !== namespace) errors.push({ field: 'spec.resourceAttributes.namespace', message: `Invalid value: ${shown(resourceNs)}: must match metadata.namespace` });
      if (spec['nonResourceAttributes'] !== undefined && spec['nonResourceAttributes'] !== null) errors.push({ field: 'spec.nonResourceAttributes', message: `Invalid value: ${shown(spec['nonResourceAttributes'])}: disallowed on this kind of request` });
      refuse(errors);
      out['metadata'] = { ...metadata, namespace };
      out['status'] = accessStatus(security, attributesFrom({ username: text(spec['user']), groups: strings(spec['groups']) }, spec));
      break;
    }
    case 'SelfSubjectRulesReview':
      out['status'] = rulesReviewStatus(security, ctx.user, text(spec['namespace']));
      break;
    default:
      throw new ApiError(500, 'InternalError', `Internal error occurred: no review handler for ${info.kind}`);
  }
  return { status: 201, body: out };
}
