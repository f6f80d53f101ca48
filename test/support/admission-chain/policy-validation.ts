/**
 * What the apiserver enforces when a ValidatingAdmissionPolicy or a binding is written
 * (`K/pkg/apis/admissionregistration/validation/validation.go` validateValidatingAdmissionPolicySpec,
 * validateValidatingAdmissionPolicyBindingSpec), so that a set it would refuse to store is refused
 * here with its 422 text; compiling for validation gives the programs the chain then evaluates
 * (`policy/validating/plugin.go` compilePolicy), once per chain:
 * - policy: name a DNS subdomain; failurePolicy Fail/Ignore; matchConstraints required with at least
 *   one resourceRule (match-resources-validation.ts); matchConditions as a webhook's (no `variables`);
 *   variables named as CEL identifiers, compiled in order (each sees the ones before); at least one
 *   validation or auditAnnotation; a validation's expression compiles to bool, its messageExpression
 *   to string (no authorizer), its message is one non-blank line, its reason Forbidden, Invalid or
 *   RequestEntityTooLarge; at most 20 auditAnnotations with unique keys making `<policy>/<key>` a
 *   qualified name and valueExpressions (≤ 5 KiB) compiling to string or null;
 * - binding: policyName a DNS subdomain; validationActions non-empty, unique, of Deny/Warn/Audit, not
 *   Deny with Warn; matchResources as above.
 * Params (paramKind, paramRef) are not modelled: a configuration using them is refused, never ignored.
 */
import { CelScalar, type CelType } from '@bufbuild/cel';
import { compileExpression, type CompiledExpression } from './cel-compile.js';
import type { MatchConditionEnvs } from './cel-env.js';
import { dnsSubdomainErrors, qualifiedNameErrors, validateMatchConditions } from './condition-validation.js';
import { duplicate, forbiddenField, goSlice, invalid, InvalidObjectError, notSupported, q, required } from './field-errors.js';
import { validateMatchResources } from './match-resources-validation.js';
import type { CompiledCondition } from './match-conditions.js';
import { policyDecls, variableFieldType, type CompiledVariable } from './policy-cel.js';
import type { AdmissionPolicies, MatchResources, PolicyValidation, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidationAction } from './policy-types.js';

const { BOOL, DYN, NULL, STRING } = CelScalar;
/** Why a configuration using params is refused. */
export const PARAMS_NOT_MODELLED = 'params are not modelled by this admission chain (it reads no parameter resources): write the policy without paramKind and the binding without paramRef';
const FAILURE_POLICIES = ['Fail', 'Ignore'];
const REASONS = ['Forbidden', 'Invalid', 'RequestEntityTooLarge'];
const ACTIONS = ['Audit', 'Deny', 'Warn'];
/** maxAuditAnnotations and maxAuditAnnotationValueExpressionLength. */
const MAX_AUDIT_ANNOTATIONS = 20;
const MAX_VALUE_EXPRESSION_BYTES = 5 * 1024;
const CEL_IDENT = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
const CEL_RESERVED: ReadonlySet<string> = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);
const NEWLINES = /[\n\r]+/;

/** A validation with its programs. */
export interface CompiledValidation {
  validation: PolicyValidation;
  run: CompiledExpression['run'];
  message?: CompiledExpression['run'];
}

/** A policy ready to evaluate. */
export interface CompiledPolicy {
  name: string;
  failurePolicy: 'Fail' | 'Ignore';
  matchConstraints: MatchResources;
  matchConditions: CompiledCondition[];
  variables: CompiledVariable[];
  validations: CompiledValidation[];
  auditAnnotations: { key: string; valueExpression: string; run: CompiledExpression['run'] }[];
}

/** A binding as the dispatcher uses it. */
export interface CompiledBinding {
  name: string;
  policyName: string;
  validationActions: ValidationAction[];
  matchResources?: MatchResources;
}

/** A policy with its bindings (`generic.PolicyHook`); only policies with at least one binding are hooks. */
export interface PolicyHook {
  policy: CompiledPolicy;
  bindings: CompiledBinding[];
}

function metadataNameErrors(name: string): string[] {
  if (name === '') return [required('metadata.name', 'name or generateName is required')];
  return dnsSubdomainErrors(name).map((msg) => invalid('metadata.name', q(name), msg));
}

/** Compiles one expression; a failure becomes the field error convertCELErrorToValidationError words. */
function compileField(errs: string[], path: string, shown: string, expression: string, compile: (e: string) => ReturnType<typeof compileExpression>): CompiledExpression | undefined {
  const got = compile(expression);
  if (got.ok) return got.value;
  errs.push(invalid(path, q(shown), got.error));
  return undefined;
}

function validatePolicy(p: ValidatingAdmissionPolicy, envs: MatchConditionEnvs): { errors: string[]; compiled: CompiledPolicy } {
  const { spec } = p;
  const errs = metadataNameErrors(p.metadata.name);
  if (!FAILURE_POLICIES.includes(spec.failurePolicy)) errs.push(notSupported('spec.failurePolicy', spec.failurePolicy, FAILURE_POLICIES));
  if (spec.paramKind !== undefined) errs.push(forbiddenField('spec.paramKind', PARAMS_NOT_MODELLED));
  if (spec.matchConstraints === undefined) errs.push(required('spec.matchConstraints'));
  else {
    errs.push(...validateMatchResources(spec.matchConstraints, 'spec.matchConstraints'));
    if (spec.matchConstraints.resourceRules.length === 0) errs.push(required('spec.matchConstraints.resourceRules'));
  }
  const conditions = validateMatchConditions(spec, 'spec.matchConditions', envs);
  errs.push(...conditions.errors);
  // The composition compiler (and `variables`) only when the policy has variables.
  const fields: Record<string, CelType> | undefined = spec.variables.length > 0 ? {} : undefined;
  const decls = policyDecls({ authorizer: true, ...(fields === undefined ? {} : { variableFields: fields }) });
  const messageDecls = policyDecls({ authorizer: false, ...(fields === undefined ? {} : { variableFields: fields }) });
  const variables: CompiledVariable[] = [];
  spec.variables.forEach((v, i) => {
    const at = `spec.variables[${i}]`;
    if (v.name.trim() === '') errs.push(required(`${at}.name`, 'name is not specified'));
    else if (!CEL_IDENT.test(v.name) || CEL_RESERVED.has(v.name)) errs.push(invalid(`${at}.name`, q(v.name), 'name is not a valid CEL identifier'));
    if (v.expression.trim() === '') {
      errs.push(required(`${at}.expression`, 'expression is not specified'));
      return;
    }
    const got = compileField(errs, `${at}.expression`, v.expression, v.expression, (e) => compileExpression(e, envs, decls, 'any'));
    // CompileAndStoreVariable declares the field whatever happened: a failed one is dyn.
    if (fields !== undefined) fields[v.name] = got === undefined ? DYN : variableFieldType(got.type);
    if (got !== undefined) variables.push({ name: v.name, run: got.run });
  });
  const validations: CompiledValidation[] = [];
  if (spec.validations.length === 0 && spec.auditAnnotations.length === 0) {
    errs.push(required('spec.validations', 'validations or auditAnnotations must contain at least one item'));
    errs.push(required('spec.auditAnnotations', 'validations or auditAnnotations must contain at least one item'));
  }
  spec.validations.forEach((v, i) => {
    const at = `spec.validations[${i}]`;
    let run: CompiledExpression | undefined;
    if (v.expression.trim() === '') errs.push(required(`${at}.expression`, 'expression is not specified'));
    else run = compileField(errs, `${at}.expression`, v.expression, v.expression, (e) => compileExpression(e, envs, decls, [BOOL]));
    let message: CompiledExpression | undefined;
    if (v.messageExpression !== '' && v.messageExpression.trim() === '') errs.push(invalid(`${at}.messageExpression`, q(v.messageExpression), 'must be non-empty if specified'));
    else if (v.messageExpression !== '') {
      message = compileField(errs, `${at}.messageExpression`, v.messageExpression, v.messageExpression, (e) => compileExpression(e, envs, messageDecls, [STRING]));
    }
    if (v.message !== '' && v.message.trim() === '') errs.push(invalid(`${at}.message`, q(v.message), 'message must be non-empty if specified'));
    else if (NEWLINES.test(v.message.trim())) errs.push(invalid(`${at}.message`, q(v.message), 'message must not contain line breaks'));
    if (v.reason !== undefined && !REASONS.includes(v.reason)) errs.push(notSupported(`${at}.reason`, v.reason, REASONS));
    if (run !== undefined) validations.push({ validation: v, run: run.run, ...(message === undefined ? {} : { message: message.run }) });
  });
  if (spec.auditAnnotations.length > MAX_AUDIT_ANNOTATIONS) {
    // %#v of the []AuditAnnotation the apiserver shows as the value.
    const shown = `[]admissionregistration.AuditAnnotation{${spec.auditAnnotations.map((a) => `admissionregistration.AuditAnnotation{Key:${q(a.key)}, ValueExpression:${q(a.valueExpression)}}`).join(', ')}}`;
    errs.push(invalid('spec.auditAnnotations', shown, `must not have more than ${MAX_AUDIT_ANNOTATIONS} auditAnnotations`));
  }
  const auditAnnotations: CompiledPolicy['auditAnnotations'] = [];
  const keys = new Set<string>();
  spec.auditAnnotations.forEach((a, i) => {
    const at = `spec.auditAnnotations[${i}]`;
    if (p.metadata.name === '') errs.push(invalid(`${at}.key`, q(a.key), 'requires metadata.name be non-empty'));
    else for (const msg of qualifiedNameErrors(`${p.metadata.name}/${a.key}`)) errs.push(invalid(`${at}.key`, q(`${p.metadata.name}/${a.key}`), msg));
    const trimmed = a.valueExpression.trim();
    if (trimmed === '') errs.push(required(`${at}.valueExpression`, 'valueExpression is not specified'));
    else if (Buffer.byteLength(trimmed) > MAX_VALUE_EXPRESSION_BYTES) errs.push(required(`${at}.valueExpression`, `must not exceed ${MAX_VALUE_EXPRESSION_BYTES} bytes in length`));
    else {
      const got = compileField(errs, `${at}.valueExpression`, a.valueExpression, trimmed, (e) => compileExpression(e, envs, decls, [STRING, NULL]));
      if (got !== undefined) auditAnnotations.push({ key: a.key, valueExpression: a.valueExpression, run: got.run });
    }
    if (keys.has(a.key)) errs.push(duplicate(`${at}.key`, a.key));
    keys.add(a.key);
  });
  const compiled: CompiledPolicy = {
    name: p.metadata.name,
    failurePolicy: spec.failurePolicy === 'Ignore' ? 'Ignore' : 'Fail',
    matchConstraints: spec.matchConstraints ?? { namespaceSelector: {}, objectSelector: {}, resourceRules: [], excludeResourceRules: [], matchPolicy: 'Equivalent' },
    matchConditions: conditions.compiled,
    variables,
    validations,
    auditAnnotations,
  };
  return { errors: errs, compiled };
}

function validateBinding(b: ValidatingAdmissionPolicyBinding): string[] {
  const { spec } = b;
  const errs = metadataNameErrors(b.metadata.name);
  if (spec.policyName === '') errs.push(required('spec.policyName'));
  else for (const msg of dnsSubdomainErrors(spec.policyName)) errs.push(invalid('spec.policyName', q(spec.policyName), msg));
  if (spec.paramRef !== undefined) errs.push(forbiddenField('spec.paramRef', PARAMS_NOT_MODELLED));
  if (spec.matchResources !== undefined) errs.push(...validateMatchResources(spec.matchResources, 'spec.matchResouces'));
  const seen = new Set<string>();
  spec.validationActions.forEach((a, i) => {
    if (!ACTIONS.includes(a)) errs.push(notSupported(`spec.validationActions[${i}]`, a, ACTIONS));
    if (seen.has(a)) errs.push(duplicate(`spec.validationActions[${i}]`, a));
    seen.add(a);
  });
  if (seen.has('Deny') && seen.has('Warn')) {
    errs.push(invalid('spec.validationActions', goSlice('admissionregistration.ValidationAction', spec.validationActions), 'must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)'));
  }
  if (seen.size === 0) errs.push(required('spec.validationActions', 'at least one validation action is required'));
  return errs;
}

const byName = <T extends { metadata: { name: string } }>(a: T, b: T): number => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

/**
 * Validates and compiles a policy set. Throws the apiserver's 422 text for the first policy or binding
 * it would refuse. Bindings naming a policy that does not exist are kept out (the apiserver skips
 * them); policies and bindings are ordered by name so that the first denial is deterministic (the
 * apiserver walks a Go map).
 */
export function compileAdmissionPolicies(set: AdmissionPolicies, envs: MatchConditionEnvs): PolicyHook[] {
  const compiled = new Map<string, CompiledPolicy>();
  for (const p of [...set.policies].sort(byName)) {
    if (compiled.has(p.metadata.name)) throw new Error(`ValidatingAdmissionPolicy ${q(p.metadata.name)} is given twice`);
    const { errors, compiled: policy } = validatePolicy(p, envs);
    if (errors.length > 0) throw new InvalidObjectError('ValidatingAdmissionPolicy', p.metadata.name, errors);
    compiled.set(p.metadata.name, policy);
  }
  const names = new Set<string>();
  const bindings: CompiledBinding[] = [];
  for (const b of [...set.bindings].sort(byName)) {
    if (names.has(b.metadata.name)) throw new Error(`ValidatingAdmissionPolicyBinding ${q(b.metadata.name)} is given twice`);
    names.add(b.metadata.name);
    const errors = validateBinding(b);
    if (errors.length > 0) throw new InvalidObjectError('ValidatingAdmissionPolicyBinding', b.metadata.name, errors);
    const { policyName, validationActions, matchResources } = b.spec;
    bindings.push({ name: b.metadata.name, policyName, validationActions: validationActions as ValidationAction[], ...(matchResources === undefined ? {} : { matchResources }) });
  }
  return [...compiled.values()].map((policy) => ({ policy, bindings: bindings.filter((b) => b.policyName === policy.name) })).filter((h) => h.bindings.length > 0);
}
