/**
 * ValidatingAdmissionPolicies and their bindings from rendered YAML, the way {@link loadWebhookConfigs}
 * reads webhook configurations (the two can read the same text: each ignores the other's kinds), with
 * the apiserver's v1 defaults (`K/pkg/apis/admissionregistration/v1/defaults.go`:
 * SetDefaults_ValidatingAdmissionPolicySpec failurePolicy Fail, SetDefaults_MatchResources matchPolicy
 * Equivalent and selectors `{}`, SetDefaults_Rule scope `*`), then validated as the apiserver
 * validates them on write (policy-validation.ts): a set it would refuse to store throws its 422 text.
 * Other versions of these kinds (v1beta1, v1alpha1) are refused rather than skipped, so nothing a test
 * means to apply is silently left out.
 */
import { parseAllDocuments } from 'yaml';
import { createMatchConditionEnvs } from './cel-env.js';
import { compileAdmissionPolicies } from './policy-validation.js';
import type { AdmissionPolicies, MatchResources, NamedRule, PolicyValidation, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from './policy-types.js';
import type { LabelSelector } from './types.js';

const API_GROUP = 'admissionregistration.k8s.io';
const API_VERSION = `${API_GROUP}/v1`;
const KINDS: ReadonlySet<string> = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

type Loose = Record<string, unknown>;

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : String(x))) : [];
}

/** A missing string field reads as `''`, which validation then reports as required. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function objects(v: unknown): Loose[] {
  return Array.isArray(v) ? v.map((x) => (isObject(x) ? x : {})) : [];
}

function selector(v: unknown): LabelSelector {
  return isObject(v) ? (structuredClone(v) as LabelSelector) : {};
}

function rules(v: unknown): NamedRule[] {
  return objects(v).map((r) => ({
    operations: strings(r['operations']),
    apiGroups: strings(r['apiGroups']),
    apiVersions: strings(r['apiVersions']),
    resources: strings(r['resources']),
    scope: typeof r['scope'] === 'string' ? r['scope'] : '*',
    resourceNames: strings(r['resourceNames']),
  }));
}

function matchResources(v: Loose): MatchResources {
  return {
    namespaceSelector: selector(v['namespaceSelector']),
    objectSelector: selector(v['objectSelector']),
    resourceRules: rules(v['resourceRules']),
    excludeResourceRules: rules(v['excludeResourceRules']),
    matchPolicy: typeof v['matchPolicy'] === 'string' ? v['matchPolicy'] : 'Equivalent',
  };
}

function validation(v: Loose): PolicyValidation {
  const out: PolicyValidation = { expression: text(v['expression']), message: text(v['message']), messageExpression: text(v['messageExpression']) };
  if (typeof v['reason'] === 'string') out.reason = v['reason'];
  return out;
}

function policy(name: string, spec: Loose): ValidatingAdmissionPolicy {
  const constraints = spec['matchConstraints'];
  const out: ValidatingAdmissionPolicy = {
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: typeof spec['failurePolicy'] === 'string' ? spec['failurePolicy'] : 'Fail',
      matchConstraints: isObject(constraints) ? matchResources(constraints) : undefined,
      matchConditions: objects(spec['matchConditions']).map((c) => ({ name: text(c['name']), expression: text(c['expression']) })),
      variables: objects(spec['variables']).map((c) => ({ name: text(c['name']), expression: text(c['expression']) })),
      validations: objects(spec['validations']).map(validation),
      auditAnnotations: objects(spec['auditAnnotations']).map((a) => ({ key: text(a['key']), valueExpression: text(a['valueExpression']) })),
    },
  };
  if (spec['paramKind'] !== undefined && spec['paramKind'] !== null) out.spec.paramKind = spec['paramKind'];
  return out;
}

function binding(name: string, spec: Loose): ValidatingAdmissionPolicyBinding {
  const out: ValidatingAdmissionPolicyBinding = {
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: { policyName: text(spec['policyName']), validationActions: strings(spec['validationActions']) },
  };
  if (isObject(spec['matchResources'])) out.spec.matchResources = matchResources(spec['matchResources']);
  if (spec['paramRef'] !== undefined && spec['paramRef'] !== null) out.spec.paramRef = spec['paramRef'];
  return out;
}

/**
 * Every admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding
 * in a multi-document YAML text, with v1 defaults applied; other kinds are ignored. Throws on YAML
 * errors, on other versions of these kinds, and — with the apiserver's `… is invalid: …` text — on a
 * policy or binding it would refuse to store (including any use of params, which are not modelled).
 */
export function loadAdmissionPolicies(yamlText: string): AdmissionPolicies {
  const out: AdmissionPolicies = { policies: [], bindings: [] };
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`admission policies: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    const obj: unknown = doc.toJS();
    if (!isObject(obj) || typeof obj['kind'] !== 'string' || !KINDS.has(obj['kind'])) continue;
    const apiVersion = text(obj['apiVersion']);
    if (!apiVersion.startsWith(`${API_GROUP}/`)) continue;
    if (apiVersion !== API_VERSION) throw new Error(`${obj['kind']} ${apiVersion}: only ${API_VERSION} is modelled by this admission chain`);
    const name = isObject(obj['metadata']) ? text(obj['metadata']['name']) : '';
    const spec = isObject(obj['spec']) ? obj['spec'] : {};
    if (obj['kind'] === 'ValidatingAdmissionPolicy') out.policies.push(policy(name, spec));
    else out.bindings.push(binding(name, spec));
  }
  compileAdmissionPolicies(out, createMatchConditionEnvs());
  return out;
}
