/**
 * The validating webhook: evaluates the policies on the final object and answers allow or deny with
 * one message listing every violation, warnings for `warn` rules, and auditAnnotations for every
 * decision. Pure given its dependencies; dry-run requests are judged the same way (tracegate has no
 * side effects to skip).
 */
import { evaluate } from '../policy/evaluate.js';
import { createParseMemo } from '../policy/rules/context.js';
import type { ApprovalEvidence, PolicySet, Violation } from '../policy/types.js';
import type { DeletionNote } from '../provenance/deletion-event.js';
import type { MacKeyring } from '../provenance/mac.js';
import { apiVersionOf, workloadKind } from '../workload/kinds.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import { requestContext } from './context.js';
import { objectRef, policyRefs, type Decision } from './decision.js';
import { approvalAudit, auditAnnotations, auditFindings, denialMessage, ruleIds, ruleList, warningsFor } from './explain.js';
import { defaultStampKeys, oldStampsCurrent, provenanceKeys, trustedOld } from './stamp-plan.js';
import { withSignedProvenance } from './signed-provenance.js';
import { STAMPS_RULE, stampDenial, stampProblems } from './stamp-check.js';
import { tenantConflict } from './tenant-check.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';

export interface ValidatorDeps {
  policies: () => PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  keys: TracegateKeys;
  /** Annotation prefix, for the default provenance keys when no policy defines them. */
  prefix: string;
  /** The key shared with /mutate and the recorder: stamps whose MAC does not check are not the gate's. */
  keyring: MacKeyring;
}

export interface Handled {
  response: AdmissionResponse;
  decision: Decision;
  /** A recorded workload's deletion, for the server to publish once answered (never on dry run). */
  deletion?: DeletionNote;
}

/** The gate's own rule, reported like a policy rule: a user-supplied tenant annotation that disagrees. */
export const TENANT_RULE = 'tracegate/tenant-annotation';

/** The subresource `kubectl debug` writes; the only one whose objects the gate judges. */
const EPHEMERAL_CONTAINERS = 'ephemeralcontainers';

/**
 * A deletion is never refused here; for a recorded kind the answer carries a note of who deleted what,
 * which the server publishes after answering (the recorder's watch sees only that the object is gone).
 */
function observeDeletion(request: AdmissionRequest, decision: Decision): Handled {
  const uid = request.uid;
  const old = request.oldObject;
  const info = workloadKind(request.kind.kind);
  const audit = auditAnnotations({ decision: 'skip', 'deleted-by': request.userInfo.username || undefined });
  const handled: Handled = { response: { uid, allowed: true, auditAnnotations: audit }, decision };
  const objectUid = old?.metadata?.uid;
  if (info?.recorded && request.dryRun !== true && typeof objectUid === 'string' && objectUid !== '') {
    handled.deletion = {
      kind: info.kind,
      apiVersion: apiVersionOf(info),
      namespace: request.namespace ?? '',
      name: request.name ?? old?.metadata?.name ?? '',
      uid: objectUid,
      user: request.userInfo.username ?? '',
      requestUid: uid,
    };
  }
  return handled;
}

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

/** `policy/rule` of every violation, once each in order of first appearance, then the gate's own rules. */
function violatedRules(violations: readonly Violation[], tenantConflict: boolean, stamps: boolean): string[] {
  const ids = ruleIds(violations);
  if (tenantConflict) ids.push(TENANT_RULE);
  if (stamps) ids.push(STAMPS_RULE);
  return ids;
}

/** Creates the validate handler. */
export function createValidator(deps: ValidatorDeps) {
  const memo = createParseMemo();
  const defaults = defaultStampKeys(deps.prefix);
  return function validate(given: AdmissionRequest, evidence?: ApprovalEvidence): Handled {
    let request = given;
    const decision = baseDecision('validate', request);
    const uid = request.uid;
    const kind = request.kind.kind;
    if (request.operation === 'DELETE' && !request.subResource) return observeDeletion(request, decision);
    // kubectl debug writes pods/ephemeralcontainers with the whole Pod: its new container's image is judged.
    const judged = !request.subResource || (request.subResource === EPHEMERAL_CONTAINERS && kind === 'Pod');
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || !judged || !isWorkloadKind(kind) || !given.object) {
      // CONNECT, */scale (a Scale has no template), status and other kinds: nothing to judge.
      return { response: { uid, allowed: true, auditAnnotations: auditAnnotations({ decision: 'skip' }) }, decision };
    }
    const namespace = request.namespace ?? '';
    const tenant = deps.tenantOf(namespace);
    const ctx = requestContext(request, tenant);
    const policySet = deps.policies();
    if (evidence) {
      // Verified at the edge; the values the statements vouch for count as the change's own (see signed-provenance.ts).
      ctx.approval = evidence;
      request = withSignedProvenance(request, evidence, provenanceKeys(policySet, ctx, given.object, defaults));
    }
    // Stamps on the old object count only when their MAC checks: planted ones are no baseline for anything.
    const trusted = trustedOld(deps.keyring, deps.keys, request.oldObject && request.oldObject.kind === kind ? request.oldObject : null);
    // Read by the provenance rule and the stamp plan alike: the old template is hashed at most once.
    ctx.oldStampsCurrent = oldStampsCurrent(deps.keys, trusted, request.object);
    const result = evaluate(policySet, ctx, request.object, trusted.old, memo);
    const conflict = tenantConflict({ key: deps.keys.tenant, tenant, namespace, object: request.object, oldObject: request.oldObject });
    // The debug subresource changes ephemeral containers only: it can neither write nor fix stamps.
    // evaluate judged this very object and old object unless the object leaves out its kind (then it judged nothing).
    const evaluation = request.object?.kind === kind ? result : undefined;
    const stamps = request.subResource ? [] : stampProblems({ request, ctx, tenant, policies: policySet, k: deps.keys, keyring: deps.keyring, defaults, trusted, evaluation });

    const denied = conflict !== undefined || stamps.length > 0 || result.verdict === 'deny';
    const verdict = denied ? 'deny' : result.verdict;
    const policies = policyRefs(result.applied);
    // Assigned one by one in the order the decision line has always listed them.
    if (ctx.fieldManager !== undefined) decision.fieldManager = ctx.fieldManager;
    if (tenant !== undefined) decision.tenant = tenant;
    decision.decision = verdict;
    decision.rules = violatedRules(result.violations, conflict !== undefined, stamps.length > 0);
    decision.policies = policies;
    decision.policySet = policySet.digest;
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
      'policy-set': policySet.digest,
      'denied-rules': [deniedRules, conflict ? TENANT_RULE : '', stamps.length ? STAMPS_RULE : ''].filter(Boolean).join(','),
      'warned-rules': ruleList(result.violations, 'warn'),
      'audit-rules': ruleList(result.violations, 'audit'),
      'audit-findings': auditFindings(result.violations),
      'break-glass': result.breakGlass ? `${result.breakGlass.user}: ${result.breakGlass.reason}` : undefined,
      'field-manager': ctx.fieldManager,
      ...approvalAudit(evidence),
    });
    const response: AdmissionResponse = { uid, allowed: !denied, auditAnnotations: audit };
    if (warnings.length) response.warnings = warnings;
    if (denied) {
      const ref = objectRef(kind, namespace, decision.name);
      const parts = [result.verdict === 'deny' ? denialMessage(ref, result.violations) : `${ref} was refused:`];
      if (conflict) parts.push(`  - ${conflict}`);
      if (stamps.length) parts.push(stampDenial(stamps));
      response.status = { code: DENY_CODE, reason: 'Forbidden', message: parts.join('\n') };
    }
    return { response, decision };
  };
}
