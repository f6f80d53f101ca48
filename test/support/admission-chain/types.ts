/**
 * Shapes of the admission chain: the `admissionregistration.k8s.io/v1` webhook configurations it reads
 * (with the v1 defaults filled in by {@link loadWebhookConfigs}), what it records per webhook call, and
 * its options. Field names follow the Kubernetes API so configurations load from rendered YAML as-is.
 */
import type { AdmissionHook, AdmissionHookRequest, AdmissionHookResult, GroupVersionKind, GroupVersionResource } from '../api-server/index.js';
import type { PolicyRun, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from './policy-types.js';

/** `metav1.LabelSelector`; `{}` (or absent) selects everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** One `RuleWithOperations`. `scope` is defaulted to `*`. */
export interface WebhookRule {
  operations: string[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope: 'Cluster' | 'Namespaced' | '*';
}

/** `clientConfig`: a Service reference or a URL, and the PEM CA bundle (base64) to trust. */
export interface WebhookClientConfig {
  service?: { namespace: string; name: string; path?: string; port: number };
  url?: string;
  caBundle?: string;
}

/** The fields mutating and validating webhooks share, after v1 defaulting. */
export interface WebhookBase {
  name: string;
  clientConfig: WebhookClientConfig;
  rules: WebhookRule[];
  failurePolicy: 'Fail' | 'Ignore';
  matchPolicy: 'Exact' | 'Equivalent';
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
  /** Required in v1; `undefined` models a configuration the apiserver would have refused. */
  sideEffects: string | undefined;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  /** CEL conditions, all of which must hold for the webhook to be called (match-conditions.ts). */
  matchConditions: { name: string; expression: string }[];
}

/** A mutating webhook; `reinvocationPolicy` defaults to `Never`. */
export interface MutatingWebhook extends WebhookBase {
  reinvocationPolicy: 'Never' | 'IfNeeded';
}

/** A validating webhook. */
export type ValidatingWebhook = WebhookBase;

/** A MutatingWebhookConfiguration: its name orders it among the others. */
export interface MutatingWebhookConfiguration {
  kind: 'MutatingWebhookConfiguration';
  metadata: { name: string };
  webhooks: MutatingWebhook[];
}

/** A ValidatingWebhookConfiguration. */
export interface ValidatingWebhookConfiguration {
  kind: 'ValidatingWebhookConfiguration';
  metadata: { name: string };
  webhooks: ValidatingWebhook[];
}

/** Both kinds, as found in a rendered install. */
export interface WebhookConfigs {
  mutating: MutatingWebhookConfiguration[];
  validating: ValidatingWebhookConfiguration[];
}

/** Where a Service-referenced webhook is really reachable in the test (the apiserver's service resolver). */
export type ServiceResolver = (namespace: string, name: string, port: number) => { host: string; port: number };

/**
 * Other group/versions serving the same resource, for `matchPolicy: Equivalent` (the apiserver's
 * EquivalentResourceMapper). kube-apiserver 1.35 serves Deployments only as apps/v1, so the default
 * mapper returns none and Exact and Equivalent coincide.
 */
export type EquivalentResources = (resource: GroupVersionResource, subResource: string) => { resource: GroupVersionResource; kind: GroupVersionKind }[];

/** How one webhook call ended. */
export type CallOutcome =
  /** Allowed without a patch (or with an empty one). */
  | 'allowed'
  /** Allowed with a patch that was applied. */
  | 'patched'
  | 'denied'
  /** The call failed and failurePolicy Ignore let the request go on. */
  | 'failed-open'
  /** The call failed and failurePolicy Fail failed the request (HTTP 500). */
  | 'failed-closed'
  /** The patch could not be applied or the webhook patched a DELETE: HTTP 500 whatever the failurePolicy. */
  | 'patch-error'
  /** `sideEffects` other than None/NoneOnDryRun on a dry-run request: 400, the webhook is not called. */
  | 'dry-run-unsupported';

/** One webhook call as the chain made it. */
export interface WebhookCall {
  stage: 'mutating' | 'validating';
  configuration: string;
  webhook: string;
  /** 0, or 1 for a reinvocation (mutating only). */
  round: 0 | 1;
  /** The index in the audit annotation keys: among all mutating webhooks, among the matching validating ones. */
  index: number;
  /** The fresh `request.uid` of this call. */
  uid: string;
  /** What was POSTed to, with the service DNS name as host (`https://tracegate.tracegate.svc:443/validate?timeout=5s`). */
  url: string;
  /** The `?timeout=` query value, a Go duration (`5s`). */
  timeout: string;
  outcome: CallOutcome;
  /** The error as the apiserver words it (`failed calling webhook "…": …`), for failures. */
  error?: string;
  /** The patch changed the object (drives reinvocation and the mutation audit annotation). */
  mutated?: boolean;
  /** The AdmissionReview sent (`undefined` when the webhook was not called, e.g. dry run unsupported). */
  review?: Record<string, any>;
  /** The parsed response body, when there was one. */
  response?: unknown;
}

/** Why a configured webhook was not called for a request. */
export interface SkippedWebhook {
  stage: 'mutating' | 'validating';
  webhook: string;
  reason: 'namespaceSelector' | 'objectSelector' | 'rules' | 'matchConditions' | 'not-reinvoked';
  /** For `matchConditions`: the first condition that evaluated to false. */
  condition?: string;
  /** For `matchConditions` without a false one: the evaluation errors failurePolicy Ignore skipped over. */
  errors?: string;
}

/** One pass of a request through the chain. */
export interface AdmissionRun {
  request: AdmissionHookRequest;
  calls: WebhookCall[];
  skipped: SkippedWebhook[];
  /** Audit annotations the apiserver would record (its own `mutation.`/`patch.`/`failed-open.` keys and the webhooks'). */
  auditAnnotations: Record<string, string>;
  warnings: string[];
  /** What the ValidatingAdmissionPolicies did (policy-dispatch.ts). */
  policies: PolicyRun;
  /** What the chain answered the API server; set when the run has finished. */
  result?: AdmissionHookResult;
}

/** Options of {@link createAdmissionChain}. */
export interface AdmissionChainOptions {
  mutating: MutatingWebhookConfiguration[];
  validating: ValidatingWebhookConfiguration[];
  /** ValidatingAdmissionPolicies and their bindings ({@link loadAdmissionPolicies}); evaluated in-process. */
  policies?: ValidatingAdmissionPolicy[];
  bindings?: ValidatingAdmissionPolicyBinding[];
  resolveService: ServiceResolver;
  /** The labels of a namespace, `undefined` when it does not exist. */
  namespaceLabels: (namespace: string) => Record<string, string> | undefined;
  /**
   * The Namespace object as stored, for policies' `namespaceObject` (`undefined`: it does not exist).
   * Default: a Namespace with the name and the labels of {@link namespaceLabels}.
   */
  namespaceObject?: (namespace: string) => Record<string, unknown> | undefined;
  /** The apiserver's log lines (`Failed calling webhook, failing open …`). */
  log?: (line: string) => void;
  equivalentResources?: EquivalentResources;
  /** Defaulting re-run after each patch, as the apiserver does (default: the test API server's). */
  defaults?: (kind: string, obj: Record<string, unknown>) => void;
  /** The apiserver's request deadline (60 s): webhook timeouts are capped by what is left of it. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

/** A running chain. */
export interface AdmissionChain {
  /** Plug into the test API server: `server.setAdmission(chain.hook)`. */
  hook: AdmissionHook;
  /** Every run so far, oldest first. */
  readonly history: readonly AdmissionRun[];
  /** The latest run, if any. */
  readonly last: AdmissionRun | undefined;
  /** The calls of the latest run (empty when nothing matched). */
  readonly lastCalls: readonly WebhookCall[];
  /** Forgets the history. */
  reset(): void;
  /** Drops pooled connections to the webhooks. */
  close(): void;
}
