/**
 * The validating webhook: evaluates the policies on the final object and answers allow or deny with
 * one message listing every violation, warnings for `warn` rules, and auditAnnotations for every
 * decision. Pure given its dependencies; dry-run requests are judged the same way (tracegate has no
 * side effects to skip).
 */
import { evaluate } from '../policy/evaluate.js';
import { createParseMemo } from '../policy/rules/context.js';
import type { PolicySet } from '../policy/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import { requestContext } from './context.js';
import { objectRef, policyRefs, type Decision } from './decision.js';
import { auditAnnotations, denialMessage, ruleList, warningsFor } from './explain.js';
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
  return {
    webhook,
    uid: request.uid,
    kind: request.kind.kind,
    namespace: request.namespace ?? '',
    name: request.name ?? obj?.metadata?.name ?? obj?.metadata?.generateName ?? '',
    operation: request.operation,
    ...(request.subResource ? { subResource: request.subResource } : {}),
    user: request.userInfo.username ?? '',
    decision: 'skip',
    rules: [],
    policies: [],
    dryRun: request.dryRun === true,
  };
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
    Object.assign(decision, {
      ...(ctx.fieldManager !== undefined ? { fieldManager: ctx.fieldManager } : {}),
      ...(tenant !== undefined ? { tenant } : {}),
      decision: verdict,
      rules: [...new Set(result.violations.map((v) => `${v.policy}/${v.rule}`)), ...(conflict ? [TENANT_RULE] : [])],
      policies,
      templateChanged: result.templateChanged,
      changes: result.changes,
      ...(result.breakGlass ? { breakGlass: true } : {}),
    });

    const breakGlassWarning = result.breakGlass
      ? [`break-glass by ${result.breakGlass.user}: ${result.breakGlass.reason} — provenance rules were waived and this change is flagged for review`]
      : [];
    const warnings = warningsFor(result, breakGlassWarning);
    const audit = auditAnnotations({
      decision: verdict,
      tenant,
      policies: policies.join(','),
      'denied-rules': [ruleList(result.violations, 'deny'), conflict ? TENANT_RULE : undefined].filter(Boolean).join(',') || undefined,
      'warned-rules': ruleList(result.violations, 'warn'),
      'audit-rules': ruleList(result.violations, 'audit'),
      'audit-findings': result.violations.filter((v) => v.action === 'audit').map((v) => v.message).join(' | ') || undefined,
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
