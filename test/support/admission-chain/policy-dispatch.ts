/**
 * The ValidatingAdmissionPolicy admission plugin for one request, as
 * `K/apiserver/pkg/admission/plugin/policy/validating/dispatcher.go` Dispatch (v1.35) runs it. It
 * runs in the apiserver itself — no call leaves the process, so it decides even when every webhook
 * is unreachable — after the mutating webhooks and before the validating ones (`AllOrderedPlugins`:
 * MutatingAdmissionWebhook, ValidatingAdmissionPolicy, ValidatingAdmissionWebhook), on the object
 * the validating webhooks see:
 * - for each policy with bindings: its matchConstraints, then each binding's matchResources; a
 *   matching error is a configuration error (`failed to configure policy|binding: …`), a denial under
 *   failurePolicy Fail and nothing under Ignore; the request's Namespace must exist (404 otherwise);
 * - each deny decision goes through the binding's validationActions: Deny collects a denial, Warn adds
 *   `Validation failed for ValidatingAdmissionPolicy '<p>' with binding '<b>': <message>`, Audit sets
 *   `validation.policy.admission.k8s.io/validation_failure` to a one-item JSON list (per decision: a
 *   second failure in the same request cannot override it and is only logged — fixed after 1.35);
 * - published auditAnnotations become `<policy>/<key>` (distinct values of several bindings joined by
 *   `, `, 10 KiB at most); an auditAnnotation error is a denial;
 * - the first denial ends the request: `admission.NewForbidden` wording (`<resource> "<name>" is
 *   forbidden: ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <message>`), with the
 *   decision's reason (Invalid by default) and its code (422, or 403 Forbidden, 413, 401), and the
 *   message again as the one cause kubectl prints a 422 from.
 */
import type { GroupVersionResource } from '../api-server/index.js';
import { createMatchConditionEnvs } from './cel-env.js';
import { conditionBindings } from './match-conditions.js';
import type { MatchAttributes, MatchContext } from './match.js';
import { namespaceValue } from './policy-cel.js';
import { validateRequest, type ValidateResult } from './policy-evaluate.js';
import { matchResources } from './policy-match.js';
import type { AdmissionPolicies, PolicyDecisionRecord, PolicyRun } from './policy-types.js';
import { compileAdmissionPolicies, type CompiledPolicy } from './policy-validation.js';
import { forbidden, namespaceNotFound, type ChainError } from './status.js';

const VALIDATION_FAILURE_KEY = 'validation.policy.admission.k8s.io/validation_failure';
/** maxAuditAnnotationValueLength. */
const MAX_AUDIT_VALUE_BYTES = 10 * 1024;
/** reasonToCode; anything else (not allowed by validation) is 422. */
const REASON_CODES: Readonly<Record<string, number>> = { Forbidden: 403, Unauthorized: 401, RequestEntityTooLarge: 413, Invalid: 422 };
const UNPROCESSABLE = 422;

/** What the dispatcher needs besides the request: matching facts and the Namespace objects. */
export interface PolicyContext extends MatchContext {
  /** The Namespace as stored, `undefined` when it does not exist. */
  namespaceObject: (namespace: string) => Record<string, unknown> | undefined;
}

/** Where the dispatcher reports: the run's record, warnings, audit annotations (returns why one was dropped) and log lines. */
export interface PolicySink {
  run: PolicyRun;
  warn(text: string): void;
  audit(key: string, value: string): string | undefined;
  log(line: string): void;
}

/** The plugin, ready for requests. */
export interface PolicyDispatcher {
  /** Runs every policy on the validating-stage request; resolves to the error ending it, if any. */
  dispatch(attr: MatchAttributes, sink: PolicySink): ChainError | undefined;
}

interface Denied {
  policy: string;
  binding?: string;
  message: string;
  reason?: string;
}

/** Go's json.Marshal escapes these for HTML safety; the audit annotation value carries them so. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `value[:maxAuditAnnotationValueLength]`: a byte cut, as Go slices a string. */
function truncated(value: string): string {
  const bytes = Buffer.from(value);
  return bytes.length <= MAX_AUDIT_VALUE_BYTES ? value : bytes.subarray(0, MAX_AUDIT_VALUE_BYTES).toString();
}

/** extractResourceName: the request's name, else the object's, else `Unknown`. */
function resourceName(attr: MatchAttributes): string {
  if (attr.name !== '') return attr.name;
  const meta = (attr.object as { metadata?: { name?: unknown } } | null)?.metadata;
  return typeof meta?.name === 'string' && meta.name !== '' ? meta.name : 'Unknown';
}

function denial(resource: GroupVersionResource, name: string, d: Denied): ChainError {
  const message = d.binding === undefined ? `ValidatingAdmissionPolicy '${d.policy}' denied request: ${d.message}` : `ValidatingAdmissionPolicy '${d.policy}' with binding '${d.binding}' denied request: ${d.message}`;
  const reason = d.reason ?? 'Invalid';
  const text = forbidden(resource, name, message).message;
  return { code: REASON_CODES[reason] ?? UNPROCESSABLE, reason, message: text, details: { name, group: resource.group, kind: resource.resource, causes: [{ message }] } };
}

/** The default `namespaceObject`: a Namespace with just its name and labels. */
export function namespaceFromLabels(labelsOf: (namespace: string) => Record<string, string> | undefined): PolicyContext['namespaceObject'] {
  return (name) => {
    const labels = labelsOf(name);
    return labels === undefined ? undefined : { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
  };
}

/**
 * Creates the dispatcher, compiling the set once (policy-validation.ts). Throws the apiserver's 422
 * text for a policy or binding it would refuse to store.
 */
export function createPolicyDispatcher(set: AdmissionPolicies, ctx: PolicyContext): PolicyDispatcher {
  const hooks = compileAdmissionPolicies(set, createMatchConditionEnvs());
  return {
    dispatch(attr, sink) {
      if (hooks.length === 0) return undefined;
      const denied: Denied[] = [];
      const record = (r: PolicyDecisionRecord) => sink.run.decisions.push(r);
      const configError = (policy: CompiledPolicy, binding: string | undefined, err: string) => {
        const message = `failed to configure ${binding === undefined ? 'policy' : 'binding'}: ${err}`;
        record({ policy: policy.name, ...(binding === undefined ? {} : { binding }), source: 'configuration', evaluation: 'error', actions: [], message });
        if (policy.failurePolicy === 'Fail') denied.push({ policy: policy.name, ...(binding === undefined ? {} : { binding }), message });
      };
      for (const { policy, bindings } of hooks) {
        const m = matchResources(policy.matchConstraints, attr, ctx);
        if ('error' in m) {
          configError(policy, undefined, m.error);
          continue;
        }
        if (!m.matches) continue;
        const published = new Map<string, string[]>();
        // No params: the verdict is the same for every binding, so it is computed once.
        let result: ValidateResult | undefined;
        for (const binding of bindings) {
          if (binding.matchResources !== undefined) {
            const bm = matchResources(binding.matchResources, attr, ctx);
            if ('error' in bm) {
              configError(policy, binding.name, bm.error);
              continue;
            }
            if (!bm.matches) continue;
          }
          // The Namespace itself is not "in" a namespace for this lookup.
          const isNamespace = attr.kind.group === '' && attr.kind.version === 'v1' && attr.kind.kind === 'Namespace';
          let namespace: Record<string, unknown> | undefined;
          if (attr.namespace !== '' && !isNamespace) {
            namespace = ctx.namespaceObject(attr.namespace);
            if (namespace === undefined) return namespaceNotFound(attr.namespace);
          }
          result ??= validateRequest(policy, { ...conditionBindings(attr, m.invocation), namespaceObject: namespaceValue(namespace) });
          const pair = `${policy.name}/${binding.name}`;
          sink.run.evaluated.push(pair);
          if (result.conditionsNotMet) sink.run.conditionsNotMet.push(pair);
          for (const d of result.decisions) {
            const source = d.source === 'matchConditions' ? 'matchConditions' : { validation: d.index };
            if (d.action === 'admit') {
              if (d.evaluation === 'error') record({ policy: policy.name, binding: binding.name, source, evaluation: 'error', actions: [], message: d.message });
              continue;
            }
            record({ policy: policy.name, binding: binding.name, source, evaluation: d.evaluation, actions: [...binding.validationActions], message: d.message });
            for (const action of binding.validationActions) {
              if (action === 'Deny') denied.push({ policy: policy.name, binding: binding.name, message: d.message, ...(d.reason === undefined ? {} : { reason: d.reason }) });
              else if (action === 'Warn') sink.warn(`Validation failed for ValidatingAdmissionPolicy '${policy.name}' with binding '${binding.name}': ${d.message}`);
              else {
                const value = goJson([{ message: d.message, policy: policy.name, binding: binding.name, expressionIndex: d.index, validationActions: binding.validationActions }]);
                const dropped = sink.audit(VALIDATION_FAILURE_KEY, value);
                if (dropped !== undefined) sink.log(`Failed to set admission audit annotation ${VALIDATION_FAILURE_KEY} to ${value} for ValidatingAdmissionPolicy ${policy.name} and ValidatingAdmissionPolicyBinding ${binding.name}: ${dropped}`);
              }
            }
          }
          for (const a of result.auditAnnotations) {
            if (a.action === 'publish') {
              const values = published.get(a.key) ?? [];
              const value = truncated(a.value);
              if (!values.includes(value)) published.set(a.key, [...values, value]);
            } else if (a.action === 'error') {
              record({ policy: policy.name, binding: binding.name, source: { auditAnnotation: a.key }, evaluation: 'error', actions: [], message: a.error });
              denied.push({ policy: policy.name, binding: binding.name, message: a.error });
            }
          }
        }
        for (const [key, values] of published) {
          const value = values.join(', ');
          const dropped = sink.audit(`${policy.name}/${key}`, value);
          if (dropped !== undefined) sink.log(`Failed to set admission audit annotation ${key} to ${value} for ValidatingAdmissionPolicy ${policy.name}: ${dropped}`);
        }
      }
      const first = denied[0];
      return first === undefined ? undefined : denial(attr.resource, resourceName(attr), first);
    },
  };
}
