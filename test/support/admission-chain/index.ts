/**
 * A model of kube-apiserver's admission chain for tests — webhooks and ValidatingAdmissionPolicies:
 * load the webhook configurations and policies from the rendered manifests, then
 * `server.setAdmission(createAdmissionChain({...}).hook)`.
 */
export { createAdmissionChain } from './chain.js';
export { followStoredAdmission } from './dynamic.js';
export type { StoredAdmission, StoredAdmissionOptions } from './dynamic.js';
export { InvalidObjectError } from './field-errors.js';
export { loadWebhookConfigs } from './load.js';
export { loadAdmissionPolicies } from './policy-load.js';
export { PARAMS_NOT_MODELLED } from './policy-validation.js';
export type {
  AdmissionPolicies,
  MatchResources,
  NamedRule,
  PolicyDecisionRecord,
  PolicyRun,
  PolicyValidation,
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
  ValidatingAdmissionPolicySpec,
  ValidationAction,
} from './policy-types.js';
export { NAMESPACE_NAME_LABEL, compileSelector, noEquivalents, ruleMatches, shouldCallHook } from './match.js';
export { compileConfigurations, compileWebhookConditions, qualifiedNameErrors } from './condition-validation.js';
export type { CompiledConditionsByHook } from './condition-validation.js';
export { AUTHORIZER_NOT_MODELLED } from './cel-env.js';
export { compileCondition, evaluateConditions } from './match-conditions.js';
export type { CompiledCondition, ConditionsOutcome } from './match-conditions.js';
export type { Invocation, MatchAttributes, MatchContext, MatchResult } from './match.js';
export type { ChainError } from './status.js';
export type {
  AdmissionChain,
  AdmissionChainOptions,
  AdmissionRun,
  CallOutcome,
  EquivalentResources,
  LabelSelector,
  MutatingWebhook,
  MutatingWebhookConfiguration,
  ServiceResolver,
  SkippedWebhook,
  ValidatingWebhook,
  ValidatingWebhookConfiguration,
  WebhookBase,
  WebhookCall,
  WebhookClientConfig,
  WebhookConfigs,
  WebhookRule,
} from './types.js';
export { allowAll, startFakeWebhook, strangerCa } from './fake-webhook.js';
export type { FakeAnswer, FakeHandler, FakeRequest, FakeWebhook } from './fake-webhook.js';
