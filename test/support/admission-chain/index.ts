/**
 * A model of kube-apiserver's webhook admission chain for tests: load the webhook configurations
 * from the rendered manifests, then `server.setAdmission(createAdmissionChain({...}).hook)`.
 */
export { createAdmissionChain } from './chain.js';
export { loadWebhookConfigs } from './load.js';
export { NAMESPACE_NAME_LABEL, compileSelector, noEquivalents, ruleMatches, shouldCallHook } from './match.js';
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
