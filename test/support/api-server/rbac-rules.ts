/**
 * RBAC's pure rule logic, ported from Kubernetes:
 * - `RuleAllows` (plugin/pkg/auth/authorizer/rbac/rbac.go) with `VerbMatches`, `APIGroupMatches`,
 *   `ResourceMatches` (`*\/status` style subresource wildcards), `ResourceNameMatches` (a rule with
 *   resourceNames never matches a request without a name: create, and list/watch without a
 *   `metadata.name` field selector) and `NonResourceURLMatches` (pkg/apis/rbac/v1/evaluation_helpers.go);
 * - `appliesTo` subjects (pkg/registry/rbac/validation/rule.go appliesToUser): User by name, Group by
 *   membership, ServiceAccount by `system:serviceaccount:<ns>:<name>`, the namespace defaulting to the
 *   binding's;
 * - `Covers` / `BreakdownRule` / `ruleCovers` (pkg/registry/rbac/validation/policy_comparator.go),
 *   `CompactRules` (compact.go) and `CompactString` (evaluation_helpers.go) for escalation checks.
 * Pure.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { UserInfo } from './types.js';

/** A `rbacv1.PolicyRule` with every list present. */
export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

/** `rbacv1.Subject`. */
export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

/** `authorizer.Attributes` of one request (or review). */
export interface Attributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** Non-resource requests: the URL path. */
  path: string;
  namespace: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  name: string;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A stored rule as JSON → {@link PolicyRule} (absent lists are empty). */
export function toPolicyRule(v: unknown): PolicyRule {
  const r = isRecord(v) ? v : {};
  return { verbs: strings(r['verbs']), apiGroups: strings(r['apiGroups']), resources: strings(r['resources']), resourceNames: strings(r['resourceNames']), nonResourceURLs: strings(r['nonResourceURLs']) };
}

/** A role's `rules` as {@link PolicyRule}s. */
export function rulesOf(role: Record<string, unknown> | undefined): PolicyRule[] {
  const rules = role?.['rules'];
  return Array.isArray(rules) ? rules.map(toPolicyRule) : [];
}

/** A rule back to its JSON form, empty lists left out (as the API omits them). */
export function policyRuleJson(r: PolicyRule): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) if (r[key].length > 0) out[key] = [...r[key]];
  return out;
}

const has = (set: readonly string[], x: string): boolean => set.includes(x);
const hasAll = (set: readonly string[], xs: readonly string[]): boolean => xs.every((x) => set.includes(x));

/** `VerbMatches`. */
function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

/** `APIGroupMatches`. */
function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === '*' || g === group);
}

/** `ResourceMatches`: `*`, exact `resource/subresource`, or `*\/<subresource>`. */
function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources) {
    if (r === '*' || r === combined) return true;
    if (subresource === '') continue;
    if (r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

/** `ResourceNameMatches`: no names means any; otherwise the request's name must be listed (`''` never is). */
function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name);
}

/** `NonResourceURLMatches`: `*`, exact, or a `prefix*` rule. */
function nonResourceUrlMatches(rule: PolicyRule, url: string): boolean {
  return rule.nonResourceURLs.some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.replace(/\*+$/, ''))));
}

/** `RuleAllows`. */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.resourceRequest) {
    const combined = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`;
    return verbMatches(rule, a.verb) && apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, combined, a.subresource) && resourceNameMatches(rule, a.name);
  }
  return verbMatches(rule, a.verb) && nonResourceUrlMatches(rule, a.path);
}

/** `serviceaccount.MakeUsername`. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** `serviceaccount.SplitUsername`: `[namespace, name]` of a service account user, else `undefined`. */
export function splitServiceAccount(username: string): [string, string] | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m === null ? undefined : [m[1] ?? '', m[2] ?? ''];
}

/** `serviceaccount.MakeGroupNames`. */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
}

/** `appliesToUser`: the index of the first subject the user matches, or -1. */
export function subjectIndex(user: UserInfo, subjects: readonly Subject[], bindingNamespace: string): number {
  return subjects.findIndex((s) => {
    switch (s.kind) {
      case 'User':
        return user.username === s.name;
      case 'Group':
        return user.groups.includes(s.name);
      case 'ServiceAccount': {
        const ns = s.namespace !== undefined && s.namespace !== '' ? s.namespace : bindingNamespace;
        return ns !== '' && user.username === serviceAccountUsername(ns, s.name);
      }
      default:
        return false;
    }
  });
}

/** `describeSubject`, as the allow reason names it. */
export function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace !== undefined && s.namespace !== '' ? s.namespace : bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

/** `BreakdownRule`: one verb, group, resource (and name) per rule; non-resource URLs by verb. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  const empty = { resourceNames: [] as string[], nonResourceURLs: [] as string[] };
  for (const group of rule.apiGroups) {
    for (const resource of rule.resources) {
      for (const verb of rule.verbs) {
        if (rule.resourceNames.length > 0) {
          for (const name of rule.resourceNames) out.push({ ...empty, apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
        } else out.push({ ...empty, apiGroups: [group], resources: [resource], verbs: [verb] });
      }
    }
  }
  for (const url of rule.nonResourceURLs) for (const verb of rule.verbs) out.push({ verbs: [verb], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [url] });
  return out;
}

/** `resourceCoversAll`: `*`, exact, or `*\/<subresource>` for a subresource. */
function resourceCoversAll(owner: readonly string[], wanted: readonly string[]): boolean {
  if (has(owner, '*') || hasAll(owner, wanted)) return true;
  return wanted.every((path) => {
    if (has(owner, path)) return true;
    const slash = path.indexOf('/');
    return slash >= 0 && has(owner, `*/${path.slice(slash + 1)}`);
  });
}

/** `nonResourceURLCovers`. */
function nonResourceUrlCovers(owner: string, sub: string): boolean {
  return owner === sub || (owner.endsWith('*') && sub.startsWith(owner.replace(/\*+$/, '')));
}

/** `ruleCovers`: the owner rule covers the single-verb, single-resource sub-rule. */
function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = has(owner.verbs, '*') || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, '*') || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = sub.nonResourceURLs.every((p) => owner.nonResourceURLs.some((o) => nonResourceUrlCovers(o, p)));
  const names = sub.resourceNames.length === 0 ? owner.resourceNames.length === 0 : owner.resourceNames.length === 0 || hasAll(owner.resourceNames, sub.resourceNames);
  return verbs && groups && resources && names && urls;
}

/** `Covers`: whether the owner's rules cover every servant rule, and the uncovered pieces. */
export function covers(owner: readonly PolicyRule[], servant: readonly PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing = servant.flatMap(breakdown).filter((sub) => !owner.some((o) => ruleCovers(o, sub)));
  return { covered: missing.length === 0, missing };
}

/**
 * `CompactRules`: rules of one group, one resource and at most one name that differ only by verb are
 * merged (their verbs in order of appearance); the merged ones follow the others. Go then lists them
 * from a map; the caller sorts the printed forms anyway.
 */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const simple = new Map<string, PolicyRule>();
  const out: PolicyRule[] = [];
  for (const r of rules) {
    const isSimple = r.resourceNames.length <= 1 && r.nonResourceURLs.length === 0 && r.apiGroups.length === 1 && r.resources.length === 1;
    if (!isSimple) {
      out.push(r);
      continue;
    }
    const key = JSON.stringify([r.apiGroups[0], r.resources[0], r.resourceNames.length > 0, r.resourceNames[0] ?? '']);
    const existing = simple.get(key);
    if (existing === undefined) simple.set(key, { ...r, verbs: [...r.verbs] });
    else for (const v of r.verbs) if (!existing.verbs.includes(v)) existing.verbs.push(v);
  }
  return [...out, ...simple.values()];
}

/** Go's `%q` of a `[]string`: `["a" "b"]`. */
export function goQuotedList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

/** `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create" "delete"]}`. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups.length > 0) parts.push(`APIGroups:${goQuotedList(r.apiGroups)}`);
  if (r.resources.length > 0) parts.push(`Resources:${goQuotedList(r.resources)}`);
  if (r.nonResourceURLs.length > 0) parts.push(`NonResourceURLs:${goQuotedList(r.nonResourceURLs)}`);
  if (r.resourceNames.length > 0) parts.push(`ResourceNames:${goQuotedList(r.resourceNames)}`);
  if (r.verbs.length > 0) parts.push(`Verbs:${goQuotedList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** `utilerrors.NewAggregate(errs).Error()`: one as is, several de-duplicated in brackets. */
export function aggregateMessage(messages: readonly string[]): string {
  const unique = [...new Set(messages)];
  return unique.length === 1 ? (unique[0] ?? '') : `[${unique.join(', ')}]`;
}
