/**
 * What `K/pkg/apis/admissionregistration/validation/validation.go` enforces on a policy's
 * matchConstraints and a binding's matchResources (validateMatchResources): the matchPolicy, both
 * label selectors (`metav1validation.ValidateLabelSelector`, strictly: selectors of these kinds were
 * released after label values were checked), and every resource rule (validateNamedRuleWithOperations:
 * resourceNames as path segments and unique, then validateRuleWithOperations / validateRule /
 * validateResources with subresources allowed). Texts are the field errors' own. Pure.
 */
import { qualifiedNameErrors, regexError } from './condition-validation.js';
import { duplicate, forbiddenField, goSlice, invalid, notSupported, q, required } from './field-errors.js';
import type { MatchResources, NamedRule } from './policy-types.js';
import type { LabelSelector } from './types.js';

/** supportedOperations.List(), sorted as sets.String lists them. */
const OPERATIONS = ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'];
const SCOPES = ['*', 'Cluster', 'Namespaced'];
const MATCH_POLICIES = ['Equivalent', 'Exact'];
/** validation.LabelValueMaxLength. */
const LABEL_VALUE_MAX = 63;
const LABEL_VALUE_FMT = '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?';
const LABEL_VALUE_MSG = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** validation.IsValidLabelValue. */
function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(value) > LABEL_VALUE_MAX) errs.push(`must be no more than ${LABEL_VALUE_MAX} bytes`);
  if (!new RegExp(`^${LABEL_VALUE_FMT}$`).test(value)) errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  return errs;
}

/** ValidateLabelSelector: matchLabels (keys sorted: Go walks a map), then each requirement. */
function validateSelector(sel: LabelSelector, path: string): string[] {
  const errs: string[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const msg of qualifiedNameErrors(key)) errs.push(invalid(`${path}.matchLabels`, q(key), msg));
    for (const msg of labelValueErrors(String(value))) errs.push(invalid(`${path}.matchLabels`, q(String(value)), msg));
  }
  (sel.matchExpressions ?? []).forEach((expr, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const values = expr.values ?? [];
    if (expr.operator === 'In' || expr.operator === 'NotIn') {
      if (values.length === 0) errs.push(required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (expr.operator === 'Exists' || expr.operator === 'DoesNotExist') {
      if (values.length > 0) errs.push(forbiddenField(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else {
      errs.push(invalid(`${at}.operator`, q(String(expr.operator)), 'not a valid selector operator'));
    }
    for (const msg of qualifiedNameErrors(String(expr.key))) errs.push(invalid(`${at}.key`, q(String(expr.key)), msg));
    values.forEach((v, j) => {
      for (const msg of labelValueErrors(String(v))) errs.push(invalid(`${at}.values[${j}]`, q(String(v)), msg));
    });
  });
  return errs;
}

/** validateResources (subresources allowed), including its `hasResourceWithoutSubresource` being reassigned, not accumulated. */
function validateResources(resources: readonly string[], path: string): string[] {
  const errs: string[] = [];
  if (resources.length === 0) errs.push(required(path));
  const wildcardSubresourcesOf = new Set<string>();
  const wildcardResourcesFor = new Set<string>();
  let hasDoubleWildcard = false;
  let hasSingleWildcard = false;
  let hasResourceWithoutSubresource = false;
  resources.forEach((resSub, i) => {
    if (resSub === '') {
      errs.push(required(`${path}[${i}]`));
      return;
    }
    if (resSub === '*/*') hasDoubleWildcard = true;
    if (resSub === '*') hasSingleWildcard = true;
    const slash = resSub.indexOf('/');
    if (slash < 0) {
      hasResourceWithoutSubresource = resSub !== '*';
      return;
    }
    const res = resSub.slice(0, slash);
    const sub = resSub.slice(slash + 1);
    if (wildcardSubresourcesOf.has(res)) errs.push(invalid(`${path}[${i}]`, q(resSub), `if '${res}/*' is present, must not specify ${resSub}`));
    if (wildcardResourcesFor.has(sub)) errs.push(invalid(`${path}[${i}]`, q(resSub), `if '*/${sub}' is present, must not specify ${resSub}`));
    if (sub === '*') wildcardSubresourcesOf.add(res);
    if (res === '*') wildcardResourcesFor.add(sub);
  });
  if (resources.length > 1 && hasDoubleWildcard) errs.push(invalid(path, goSlice('string', resources), "if '*/*' is present, must not specify other resources"));
  if (hasSingleWildcard && hasResourceWithoutSubresource) errs.push(invalid(path, goSlice('string', resources), "if '*' is present, must not specify other resources without subresources"));
  return errs;
}

/** apimachinery's path.IsValidPathSegmentName: what a resourceName may not be or contain. */
function pathSegmentErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

/** validateNamedRuleWithOperations. */
function validateRule(rule: NamedRule, path: string): string[] {
  const errs: string[] = [];
  const names = new Set<string>();
  rule.resourceNames.forEach((n, i) => {
    for (const msg of pathSegmentErrors(n)) errs.push(invalid(`${path}.resourceNames[${i}]`, q(n), msg));
    if (names.has(n)) errs.push(duplicate(`${path}.resourceNames[${i}]`, n));
    names.add(n);
  });
  if (rule.operations.length === 0) errs.push(required(`${path}.operations`));
  if (rule.operations.length > 1 && rule.operations.includes('*')) {
    errs.push(invalid(`${path}.operations`, goSlice('admissionregistration.OperationType', rule.operations), "if '*' is present, must not specify other operations"));
  }
  rule.operations.forEach((op, i) => {
    if (!OPERATIONS.includes(op)) errs.push(notSupported(`${path}.operations[${i}]`, op, OPERATIONS));
  });
  if (rule.apiGroups.length === 0) errs.push(required(`${path}.apiGroups`));
  if (rule.apiGroups.length > 1 && rule.apiGroups.includes('*')) errs.push(invalid(`${path}.apiGroups`, goSlice('string', rule.apiGroups), "if '*' is present, must not specify other API groups"));
  if (rule.apiVersions.length === 0) errs.push(required(`${path}.apiVersions`));
  if (rule.apiVersions.length > 1 && rule.apiVersions.includes('*')) errs.push(invalid(`${path}.apiVersions`, goSlice('string', rule.apiVersions), "if '*' is present, must not specify other API versions"));
  rule.apiVersions.forEach((v, i) => {
    if (v === '') errs.push(required(`${path}.apiVersions[${i}]`));
  });
  errs.push(...validateResources(rule.resources, `${path}.resources`));
  if (!SCOPES.includes(rule.scope)) errs.push(notSupported(`${path}.scope`, rule.scope, SCOPES));
  return errs;
}

/** validateMatchResources at `path` (`spec.matchConstraints`, or a binding's `spec.matchResouces` — sic, the apiserver's spelling). */
export function validateMatchResources(mr: MatchResources, path: string): string[] {
  const errs: string[] = [];
  if (!MATCH_POLICIES.includes(mr.matchPolicy)) errs.push(notSupported(`${path}.matchPolicy`, mr.matchPolicy, MATCH_POLICIES));
  errs.push(...validateSelector(mr.namespaceSelector, `${path}.namespaceSelector`));
  errs.push(...validateSelector(mr.objectSelector, `${path}.objectSelector`));
  mr.resourceRules.forEach((r, i) => errs.push(...validateRule(r, `${path}.resourceRules[${i}]`)));
  mr.excludeResourceRules.forEach((r, i) => errs.push(...validateRule(r, `${path}.excludeResourceRules[${i}]`)));
  return errs;
}
