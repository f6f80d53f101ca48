/**
 * The validating webhook: evaluates the policies on the final object and answers allow or deny with
 * one message listing every violation, warnings for `warn` rules, and auditAnnotations for every
 * decision. Pure given its dependencies; dry-run requests are judged the same way (tracegate has no
 * side effects to skip).
 */
import { evaluate } from '../policy/evaluate.js';
import { createParseMemo } from '../policy/rules/context.js';
import type { PolicySet, Violation } from '../policy/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import { requestContext } from './context.js';
import { objectRef, policyRefs, type Decision } from './decision.js';
import { auditAnnotations, auditFindings, denialMessage, ruleIds, ruleList, warningsFor } from './explain.js';
import { tenantConflict } from './tenant-check.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';

export interface ValidatorDeps {
  policies: () => PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  keys: TracegateKeys;
}

export interface Handled {
  response: AdmissionResponse;
  decision: Decision;
}

/** The gate's own rule, reported like a policy rule: a user-supplied tenant annotation that disagrees. */
export const TENANT_RULE = 'tracegate/tenant-annotation';

/** HTTP status the client sees for a denial: 403 Forbidden, as for an RBAC refusal. */
const DENY_CODE = 403;

export function baseDecision(webhook: Decision['webhook'], request: AdmissionRequest): Decision {
  const obj = request.object ?? request.oldObject;
  const uid = request.uid;
  const kind = request.kind.kind;
  const namespace = request.namespace ?? '';
  const name = request.name ?? obj?.metadata?.name ?? obj?.metadata?.generateName ?? '';
  const operation = request.operation;
  const user = request.userInfo.username ?? '';
  const dryRun = request.dryRun === true;
  // Two literal shapes rather than a conditional spread: the same keys in the same order, without copies.
  return request.subResource
    ? { webhook, uid, kind, namespace, name, operation, subResource: request.subResource, user, decision: 'skip', rules: [], policies: [], dryRun }
    : { webhook, uid, kind, namespace, name, operation, user, decision: 'skip', rules: [], policies: [], dryRun };
}

/** `policy/rule` of every violation, once each in order of first appearance, then the gate's own rule. */
function violatedRules(violations: readonly Violation[], tenantConflict: boolean): string[] {
  const ids = ruleIds(violations);
  if (tenantConflict) ids.push(TENANT_RULE);
  return ids;
}

/** Creates the validate handler. */
export function createValidator(deps: ValidatorDeps) {
  const memo = createParseMemo();
  return function validate(request: AdmissionRequest): Handled {
    const decision = baseDecision('validate', request);
    const uid = request.uid;
    const kind = request.kind.kind;
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || request.subResource || !isWorkloadKind(kind) || !request.object) {
      // DELETE, CONNECT, deployments/scale (a Scale has no template) and other kinds: nothing to judge.
      return { response: { uid, allowed: true, auditAnnotations: auditAnnotations({ decision: 'skip' }) }, decision };
    }
    const namespace = request.namespace ?? '';
    const tenant = deps.tenantOf(namespace);
    const ctx = requestContext(request, tenant);
    const result = evaluate(deps.policies(), ctx, request.object, request.oldObject, memo);
    const conflict = tenantConflict({ key: deps.keys.tenant, tenant, namespace, object: request.object, oldObject: request.oldObject });

    const denied = conflict !== undefined || result.verdict === 'deny';
    const verdict = denied ? 'deny' : result.verdict;
    const policies = policyRefs(result.applied);
    // Assigned one by one in the order the decision line has always listed them.
    if (ctx.fieldManager !== undefined) decision.fieldManager = ctx.fieldManager;
    if (tenant !== undefined) decision.tenant = tenant;
    decision.decision = verdict;
    decision.rules = violatedRules(result.violations, conflict !== undefined);
    decision.policies = policies;
    decision.templateChanged = result.templateChanged;
    decision.changes = result.changes;
    if (result.breakGlass) decision.breakGlass = true;

    const breakGlassWarning = result.breakGlass
      ? [`break-glass by ${result.breakGlass.user}: ${result.breakGlass.reason} — provenance rules were waived and this change is flagged for review`]
      : [];
    const warnings = warningsFor(result, breakGlassWarning);
    const deniedRules = ruleList(result.violations, 'deny');
    const audit = auditAnnotations({
      decision: verdict,
      tenant,
      policies: policies.join(','),
      'denied-rules': conflict ? (deniedRules ? `${deniedRules},${TENANT_RULE}` : TENANT_RULE) : deniedRules,
      'warned-rules': ruleList(result.violations, 'warn'),
      'audit-rules': ruleList(result.violations, 'audit'),
      'audit-findings': auditFindings(result.violations),
      'break-glass': result.breakGlass ? `${result.breakGlass.user}: ${result.breakGlass.reason}` : undefined,
      'field-manager': ctx.fieldManager,
    });
    const response: AdmissionResponse = { uid, allowed: !denied, auditAnnotations: audit };
    if (warnings.length) response.warnings = warnings;
    if (denied) {
      const ref = objectRef(kind, namespace, decision.name);
      const parts = [result.verdict === 'deny' ? denialMessage(ref, result.violations) : `${ref} was refused:`];
      if (conflict) parts.push(`  - ${conflict}`);
      response.status = { code: DENY_CODE, reason: 'Forbidden', message: parts.join('\n') };
    }
    return { response, decision };
  };
}
