/**
 * Shapes of `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy and
 * ValidatingAdmissionPolicyBinding as the chain reads them (field names as in the API, so they load
 * from rendered YAML as-is), with the v1 defaults {@link loadAdmissionPolicies} fills in, and what a
 * request's pass through the policies records. Values the apiserver would refuse (an unknown
 * failurePolicy, reason or operation) are kept as written so configuration validation can word the
 * refusal; a policy set is only evaluated once it validated.
 */
import type { LabelSelector } from './types.js';

/** `NamedRuleWithOperations`; `scope` is defaulted to `*`, `resourceNames` to `[]` (all names). */
export interface NamedRule {
  operations: string[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope: string;
  resourceNames: string[];
}

/** `MatchResources`, after SetDefaults_MatchResources (matchPolicy Equivalent, selectors `{}`). */
export interface MatchResources {
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
  resourceRules: NamedRule[];
  excludeResourceRules: NamedRule[];
  matchPolicy: string;
}

/** One `Validation`; absent optional fields are `''`/`undefined` as the API leaves them. */
export interface PolicyValidation {
  expression: string;
  message: string;
  messageExpression: string;
  /** `Forbidden`, `Invalid` or `RequestEntityTooLarge`; `undefined` answers `Invalid` (422). */
  reason?: string;
}

/** The spec of a ValidatingAdmissionPolicy, after SetDefaults_ValidatingAdmissionPolicySpec (failurePolicy Fail). */
export interface ValidatingAdmissionPolicySpec {
  failurePolicy: string;
  /** Required: `undefined` models a policy the apiserver would refuse. */
  matchConstraints: MatchResources | undefined;
  matchConditions: { name: string; expression: string }[];
  variables: { name: string; expression: string }[];
  validations: PolicyValidation[];
  auditAnnotations: { key: string; valueExpression: string }[];
  /** Params are not modelled: a policy carrying paramKind is refused at load. */
  paramKind?: unknown;
}

/** A ValidatingAdmissionPolicy. */
export interface ValidatingAdmissionPolicy {
  kind: 'ValidatingAdmissionPolicy';
  metadata: { name: string };
  spec: ValidatingAdmissionPolicySpec;
}

/** What a binding does with a failed validation. */
export type ValidationAction = 'Deny' | 'Warn' | 'Audit';

/** A ValidatingAdmissionPolicyBinding; `matchResources` narrows the policy's own constraints. */
export interface ValidatingAdmissionPolicyBinding {
  kind: 'ValidatingAdmissionPolicyBinding';
  metadata: { name: string };
  spec: {
    policyName: string;
    validationActions: string[];
    matchResources?: MatchResources;
    /** Params are not modelled: a binding carrying paramRef is refused at load. */
    paramRef?: unknown;
  };
}

/** Both kinds, as found in rendered YAML. */
export interface AdmissionPolicies {
  policies: ValidatingAdmissionPolicy[];
  bindings: ValidatingAdmissionPolicyBinding[];
}

/** One decision of a policy for a request, as the dispatcher acted on it. */
export interface PolicyDecisionRecord {
  policy: string;
  /** `undefined` for a configuration error of the policy itself. */
  binding?: string;
  /**
   * What produced it: a validation (its index), the matchConditions (an evaluation error), an
   * auditAnnotation (an evaluation error) or the configuration (e.g. the request's namespace is gone).
   */
  source: { validation: number } | 'matchConditions' | { auditAnnotation: string } | 'configuration';
  /** `admit`, `deny` (the expression was false) or `error` (it could not be evaluated). */
  evaluation: 'admit' | 'deny' | 'error';
  /** What the binding's validationActions did with a deny: Deny, Warn and/or Audit; `[]` when admitted. */
  actions: ValidationAction[];
  message?: string;
}

/** How the policies judged one request. */
export interface PolicyRun {
  /** Policy/binding pairs that matched the request and were evaluated, as `<policy>/<binding>`. */
  evaluated: string[];
  /** Pairs whose policy's matchConditions did not all hold (or failed under Ignore): nothing was validated. */
  conditionsNotMet: string[];
  /** Every decision other than a plain admit. */
  decisions: PolicyDecisionRecord[];
}
