/**
 * API Priority and Fairness objects (`flowcontrol.apiserver.k8s.io/v1`): the mandatory and suggested
 * FlowSchemas and PriorityLevelConfigurations the apiserver creates (k8s.io/apiserver
 * pkg/apis/flowcontrol/bootstrap/default.go), their v1 defaulting (pkg/apis/flowcontrol/v1/defaults.go),
 * the validation clients trip over (pkg/apis/flowcontrol/validation), and how a request is
 * classified (k8s.io/apiserver pkg/util/flowcontrol/rule.go: `matchesFlowSchema`; FlowSchemas by
 * ascending matchingPrecedence, ties by name, dangling ones skipped).
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject, UserInfo } from './types.js';
import { required } from './validation-common.js';
import type { FieldError } from './validation-common.js';

export const FLOWCONTROL_GROUP = 'flowcontrol.apiserver.k8s.io';
const API_VERSION = `${FLOWCONTROL_GROUP}/v1`;
/** `apf.kubernetes.io/autoupdate-spec`: the apiserver keeps the spec of its own objects up to date. */
const AUTO_UPDATE = 'apf.kubernetes.io/autoupdate-spec';
/** FlowSchemaDefaultMatchingPrecedence and FlowSchemaMaxMatchingPrecedence. */
const DEFAULT_PRECEDENCE = 1000;
const MAX_PRECEDENCE = 10000;
/** SetDefaults_QueuingConfiguration and the v1 default of nominalConcurrencyShares. */
const QUEUING_DEFAULTS = { handSize: 8, queues: 64, queueLengthLimit: 50 };
const DEFAULT_NOMINAL_SHARES = 30;

/** What classification needs to know about a request (`request.RequestInfo`). */
export interface RequestDigest {
  user: UserInfo;
  resource: boolean;
  verb: string;
  apiGroup: string;
  /** `deployments`, or `deployments/scale` with its subresource. */
  resource_: string;
  namespace: string;
  path: string;
}

const all = ['*'];
const everyResource = { verbs: all, apiGroups: all, resources: all, namespaces: all, clusterScope: true };
const everyPath = { verbs: all, nonResourceURLs: all };
const group = (name: string): JsonObject => ({ kind: 'Group', group: { name } });
const user = (name: string): JsonObject => ({ kind: 'User', user: { name } });
const kubeSystemSa = (name: string): JsonObject => ({ kind: 'ServiceAccount', serviceAccount: { namespace: 'kube-system', name } });

function flowSchema(name: string, pl: string, precedence: number, distinguisher: string | undefined, subjects: JsonObject[], resourceRules: JsonObject[], nonResourceRules: JsonObject[] = []): JsonObject {
  const rule: JsonObject = { subjects };
  if (resourceRules.length > 0) rule['resourceRules'] = resourceRules;
  if (nonResourceRules.length > 0) rule['nonResourceRules'] = nonResourceRules;
  const spec: JsonObject = { priorityLevelConfiguration: { name: pl }, matchingPrecedence: precedence, rules: [rule] };
  if (distinguisher !== undefined) spec['distinguisherMethod'] = { type: distinguisher };
  return { apiVersion: API_VERSION, kind: 'FlowSchema', metadata: { name, annotations: { [AUTO_UPDATE]: 'true' } }, spec };
}

function limited(name: string, shares: number, lendable: number, queuing?: [queues: number, handSize: number, limit: number]): JsonObject {
  const limitResponse = queuing === undefined ? { type: 'Reject' } : { type: 'Queue', queuing: { queues: queuing[0], handSize: queuing[1], queueLengthLimit: queuing[2] } };
  return {
    apiVersion: API_VERSION,
    kind: 'PriorityLevelConfiguration',
    metadata: { name, annotations: { [AUTO_UPDATE]: 'true' } },
    spec: { type: 'Limited', limited: { nominalConcurrencyShares: shares, lendablePercent: lendable, limitResponse } },
  };
}

const leaseRule = { verbs: ['get', 'create', 'update'], apiGroups: ['coordination.k8s.io'], resources: ['leases'], namespaces: all };

/** The PriorityLevelConfigurations of a fresh cluster: mandatory `exempt` and `catch-all`, then the suggested ones. */
export function bootstrapPriorityLevels(): JsonObject[] {
  return [
    { apiVersion: API_VERSION, kind: 'PriorityLevelConfiguration', metadata: { name: 'exempt', annotations: { [AUTO_UPDATE]: 'true' } }, spec: { type: 'Exempt', exempt: { nominalConcurrencyShares: 0, lendablePercent: 0 } } },
    limited('catch-all', 5, 0),
    limited('system', 30, 33, [64, 6, 50]),
    limited('node-high', 40, 25, [64, 6, 50]),
    limited('leader-election', 10, 0, [16, 4, 50]),
    limited('workload-high', 40, 50, [128, 6, 50]),
    limited('workload-low', 100, 90, [128, 6, 50]),
    limited('global-default', 20, 50, [128, 6, 50]),
  ];
}

/** The FlowSchemas of a fresh cluster, mandatory and suggested. */
export function bootstrapFlowSchemas(): JsonObject[] {
  return [
    flowSchema('exempt', 'exempt', 1, undefined, [group('system:masters')], [everyResource], [everyPath]),
    flowSchema('probes', 'exempt', 2, undefined, [group('system:unauthenticated'), group('system:authenticated')], [], [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/readyz', '/livez'] }]),
    flowSchema('system-leader-election', 'leader-election', 100, 'ByUser', [user('system:kube-controller-manager'), user('system:kube-scheduler'), kubeSystemSa('*')], [leaseRule]),
    flowSchema('endpoint-controller', 'workload-high', 150, 'ByUser', [user('system:kube-controller-manager'), kubeSystemSa('endpoint-controller'), kubeSystemSa('endpointslicemirroring-controller')], [{ verbs: ['get', 'create', 'update'], apiGroups: [''], resources: ['endpoints'], namespaces: all }]),
    flowSchema('workload-leader-election', 'leader-election', 200, 'ByUser', [kubeSystemSa('*')], [{ verbs: ['get', 'create', 'update'], apiGroups: [''], resources: ['endpoints', 'configmaps'], namespaces: all }, leaseRule]),
    flowSchema('system-node-high', 'node-high', 400, 'ByUser', [group('system:nodes')], [{ verbs: all, apiGroups: [''], resources: ['nodes', 'nodes/status'], namespaces: all, clusterScope: true }, { verbs: all, apiGroups: ['coordination.k8s.io'], resources: ['leases'], namespaces: all }]),
    flowSchema('system-nodes', 'system', 500, 'ByUser', [group('system:nodes')], [everyResource], [everyPath]),
    flowSchema('kube-controller-manager', 'workload-high', 800, 'ByNamespace', [user('system:kube-controller-manager')], [everyResource], [everyPath]),
    flowSchema('kube-scheduler', 'workload-high', 800, 'ByNamespace', [user('system:kube-scheduler')], [everyResource], [everyPath]),
    flowSchema('kube-system-service-accounts', 'workload-high', 900, 'ByNamespace', [kubeSystemSa('*')], [everyResource], [everyPath]),
    flowSchema('service-accounts', 'workload-low', 9000, 'ByUser', [group('system:serviceaccounts')], [everyResource], [everyPath]),
    flowSchema('global-default', 'global-default', 9900, 'ByUser', [group('system:unauthenticated'), group('system:authenticated')], [everyResource], [everyPath]),
    flowSchema('catch-all', 'catch-all', 10000, 'ByUser', [group('system:unauthenticated'), group('system:authenticated')], [everyResource], [everyPath]),
  ];
}

/** The mandatory objects the apiserver puts back when they are deleted (the config producer's "ensurer"). */
export const MANDATORY = { flowSchemas: ['exempt', 'catch-all'], priorityLevels: ['exempt', 'catch-all'] };

function rec(v: unknown): JsonObject {
  return isRecord(v) ? v : {};
}

function child(parent: JsonObject, key: string): JsonObject {
  if (!isRecord(parent[key])) parent[key] = {};
  return parent[key] as JsonObject;
}

/** v1 defaulting of a FlowSchema or PriorityLevelConfiguration, in place. */
export function defaultFlowControl(kind: string, obj: JsonObject): void {
  const spec = child(obj, 'spec');
  if (kind === 'FlowSchema') {
    if (spec['matchingPrecedence'] === undefined || spec['matchingPrecedence'] === 0) spec['matchingPrecedence'] = DEFAULT_PRECEDENCE;
    return;
  }
  if (isRecord(spec['exempt']) || spec['type'] === 'Exempt') {
    const exempt = child(spec, 'exempt');
    exempt['nominalConcurrencyShares'] ??= 0;
    exempt['lendablePercent'] ??= 0;
  }
  if (isRecord(spec['limited'])) {
    const lim = spec['limited'];
    lim['nominalConcurrencyShares'] ??= DEFAULT_NOMINAL_SHARES;
    lim['lendablePercent'] ??= 0;
    const response = rec(lim['limitResponse']);
    if (isRecord(response['queuing'])) {
      const q = response['queuing'];
      for (const [k, v] of Object.entries(QUEUING_DEFAULTS)) if (q[k] === undefined || q[k] === 0) q[k] = v;
    }
  }
}

/** `ValidateFlowSchema` / `ValidatePriorityLevelConfiguration`: the rules a hand-written object breaks. */
export function validateFlowControl(kind: string, obj: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const spec = rec(obj['spec']);
  const name = String(rec(obj['metadata'])['name'] ?? '');
  if (kind === 'FlowSchema') {
    const precedence = spec['matchingPrecedence'];
    if (typeof precedence === 'number' && precedence <= 0) errors.push({ field: 'spec.matchingPrecedence', message: `Invalid value: ${precedence}: must be a positive value` });
    if (typeof precedence === 'number' && precedence > MAX_PRECEDENCE) errors.push({ field: 'spec.matchingPrecedence', message: `Invalid value: ${precedence}: must not be greater than ${MAX_PRECEDENCE}` });
    if (precedence === 1 && name !== 'exempt') errors.push({ field: 'spec.matchingPrecedence', message: "Invalid value: 1: only the schema named 'exempt' may have matching precedence 1" });
    const pl = rec(spec['priorityLevelConfiguration'])['name'];
    if (typeof pl !== 'string' || pl === '') errors.push(required('spec.priorityLevelConfiguration.name', 'must reference a priority level'));
    const rules = Array.isArray(spec['rules']) ? spec['rules'] : [];
    rules.forEach((r, i) => {
      const subjects = rec(r)['subjects'];
      if (!Array.isArray(subjects) || subjects.length === 0) errors.push(required(`spec.rules[${i}].subjects`, 'subjects must contain at least one value'));
    });
    return errors;
  }
  const type = spec['type'];
  if (type === undefined || type === '') errors.push(required('spec.type', 'must not be empty'));
  else if (type !== 'Exempt' && type !== 'Limited') errors.push({ field: 'spec.type', message: `Unsupported value: ${JSON.stringify(type)}: supported values: "Exempt", "Limited"` });
  if (type === 'Limited' && !isRecord(spec['limited'])) errors.push(required('spec.limited', 'must not be empty when type is Limited'));
  if (type === 'Limited' && isRecord(spec['exempt'])) errors.push({ field: 'spec.exempt', message: 'Forbidden: must be nil if the type is Limited' });
  if (type === 'Exempt' && isRecord(spec['limited'])) errors.push({ field: 'spec.limited', message: 'Forbidden: must be nil if the type is not Limited' });
  return errors;
}

function contains(list: unknown, value: string, wildcard: string): boolean {
  return Array.isArray(list) && list.some((v) => v === value || v === wildcard);
}

/** `matchesSubject`: users and groups by name or `*`; service accounts by namespace and name (`*` for any). */
function matchesSubject(u: UserInfo, subject: JsonObject): boolean {
  switch (subject['kind']) {
    case 'User': {
      const n = rec(subject['user'])['name'];
      return n === '*' || n === u.username;
    }
    case 'Group': {
      const n = rec(subject['group'])['name'];
      return n === '*' || u.groups.includes(String(n));
    }
    case 'ServiceAccount': {
      const sa = rec(subject['serviceAccount']);
      const prefix = `system:serviceaccount:${String(sa['namespace'] ?? '')}:`;
      return u.username.startsWith(prefix) && (sa['name'] === '*' || u.username === `${prefix}${String(sa['name'] ?? '')}`);
    }
    default:
      return false;
  }
}

/** `matchPolicyRuleNonResourceURL`: exact, `*`, a `/prefix/*` wildcard, or a prefix ending at a path segment. */
function matchesUrl(patterns: unknown, path: string): boolean {
  if (!Array.isArray(patterns)) return false;
  return patterns.some((p) => {
    if (typeof p !== 'string') return false;
    if (p === '*' || p === path) return true;
    const prefix = p.endsWith('*') ? p.slice(0, -1) : `${p}/`;
    return path.startsWith(prefix);
  });
}

function matchesRule(d: RequestDigest, rule: JsonObject): boolean {
  const subjects = Array.isArray(rule['subjects']) ? rule['subjects'].filter(isRecord) : [];
  if (!subjects.some((s) => matchesSubject(d.user, s))) return false;
  if (!d.resource) {
    const rules = Array.isArray(rule['nonResourceRules']) ? rule['nonResourceRules'].filter(isRecord) : [];
    return rules.some((r) => contains(r['verbs'], d.verb, '*') && matchesUrl(r['nonResourceURLs'], d.path));
  }
  const rules = Array.isArray(rule['resourceRules']) ? rule['resourceRules'].filter(isRecord) : [];
  return rules.some((r) => {
    if (!contains(r['verbs'], d.verb, '*') || !contains(r['resources'], d.resource_, '*') || !contains(r['apiGroups'], d.apiGroup, '*')) return false;
    return d.namespace === '' ? r['clusterScope'] === true : contains(r['namespaces'], d.namespace, '*');
  });
}

/** The FlowSchema and PriorityLevelConfiguration a request is classified into, or `undefined` if none match. */
export function classify(d: RequestDigest, flowSchemas: readonly JsonObject[], priorityLevels: readonly JsonObject[]): { flowSchema: JsonObject; priorityLevel: JsonObject } | undefined {
  const precedence = (fs: JsonObject): number => Number(rec(fs['spec'])['matchingPrecedence'] ?? DEFAULT_PRECEDENCE);
  const nameOf = (o: JsonObject): string => String(rec(o['metadata'])['name'] ?? '');
  const ordered = [...flowSchemas].sort((a, b) => precedence(a) - precedence(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  for (const fs of ordered) {
    const plName = rec(rec(fs['spec'])['priorityLevelConfiguration'])['name'];
    const pl = priorityLevels.find((p) => nameOf(p) === plName);
    // A dangling FlowSchema (its priority level does not exist) is not used.
    if (pl === undefined) continue;
    const rules = Array.isArray(rec(fs['spec'])['rules']) ? (rec(fs['spec'])['rules'] as unknown[]).filter(isRecord) : [];
    if (rules.some((r) => matchesRule(d, r))) return { flowSchema: fs, priorityLevel: pl };
  }
  return undefined;
}

/** The `Dangling` condition the apiserver's config controller writes on a FlowSchema's status. */
export function danglingCondition(fs: JsonObject, priorityLevels: readonly JsonObject[], now: string): JsonObject {
  const plName = String(rec(rec(fs['spec'])['priorityLevelConfiguration'])['name'] ?? '');
  const exists = priorityLevels.some((p) => rec(p['metadata'])['name'] === plName);
  return exists
    ? { type: 'Dangling', status: 'False', lastTransitionTime: now, reason: 'Found', message: `This FlowSchema references the PriorityLevelConfiguration object named "${plName}" and it exists` }
    : { type: 'Dangling', status: 'True', lastTransitionTime: now, reason: 'NotFound', message: `This FlowSchema references the PriorityLevelConfiguration object named "${plName}" but there is no such object` };
}
