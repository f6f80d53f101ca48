/**
 * Webhook configurations from rendered YAML (`kubectl kustomize manifests/` or the overlay written by
 * `tracegate certs --kustomize`), with the defaults the apiserver's v1 defaulting fills in
 * (`K/api/admissionregistration/v1` SetDefaults_*): failurePolicy Fail, matchPolicy Equivalent,
 * selectors `{}`, timeoutSeconds 10, reinvocationPolicy Never, rule scope `*`, service port 443.
 * matchConditions are validated as the apiserver validates them on write (condition-validation.ts).
 */
import { parseAllDocuments } from 'yaml';
import { createMatchConditionEnvs } from './cel-env.js';
import { compileConfigurations } from './condition-validation.js';
import type {
  LabelSelector,
  MutatingWebhook,
  MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration,
  WebhookBase,
  WebhookClientConfig,
  WebhookConfigs,
  WebhookRule,
} from './types.js';

const API_VERSION = 'admissionregistration.k8s.io/v1';
/** v1 default of `timeoutSeconds` (v1beta1 had 30). */
const DEFAULT_TIMEOUT_SECONDS = 10;
/** v1 default of `service.port`. */
const DEFAULT_SERVICE_PORT = 443;

type Loose = Record<string, unknown>;

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function selector(v: unknown): LabelSelector {
  return isObject(v) ? (structuredClone(v) as LabelSelector) : {};
}

function clientConfig(v: unknown, where: string): WebhookClientConfig {
  if (!isObject(v)) throw new Error(`${where}: clientConfig is required`);
  const out: WebhookClientConfig = {};
  if (typeof v['caBundle'] === 'string') out.caBundle = v['caBundle'];
  if (typeof v['url'] === 'string') out.url = v['url'];
  const svc = v['service'];
  if (isObject(svc)) {
    if (typeof svc['name'] !== 'string' || typeof svc['namespace'] !== 'string') throw new Error(`${where}: clientConfig.service needs name and namespace`);
    out.service = {
      name: svc['name'],
      namespace: svc['namespace'],
      port: typeof svc['port'] === 'number' ? svc['port'] : DEFAULT_SERVICE_PORT,
      ...(typeof svc['path'] === 'string' ? { path: svc['path'] } : {}),
    };
  }
  if ((out.url === undefined) === (out.service === undefined)) throw new Error(`${where}: clientConfig needs exactly one of url and service`);
  return out;
}

function rules(v: unknown): WebhookRule[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isObject).map((r) => ({
    operations: strings(r['operations']),
    apiGroups: strings(r['apiGroups']),
    apiVersions: strings(r['apiVersions']),
    resources: strings(r['resources']),
    scope: r['scope'] === 'Cluster' || r['scope'] === 'Namespaced' ? r['scope'] : '*',
  }));
}

/** Missing or non-string members become `''`, which validation then reports as required. */
function matchConditions(v: unknown): WebhookBase['matchConditions'] {
  if (!Array.isArray(v)) return [];
  const text = (x: unknown): string => (typeof x === 'string' ? x : '');
  return v.map((c) => (isObject(c) ? { name: text(c['name']), expression: text(c['expression']) } : { name: '', expression: '' }));
}

function base(w: Loose, where: string): WebhookBase {
  if (typeof w['name'] !== 'string' || w['name'] === '') throw new Error(`${where}: a webhook has no name`);
  const at = `${where} webhook ${w['name']}`;
  return {
    name: w['name'],
    clientConfig: clientConfig(w['clientConfig'], at),
    rules: rules(w['rules']),
    failurePolicy: w['failurePolicy'] === 'Ignore' ? 'Ignore' : 'Fail',
    matchPolicy: w['matchPolicy'] === 'Exact' ? 'Exact' : 'Equivalent',
    namespaceSelector: selector(w['namespaceSelector']),
    objectSelector: selector(w['objectSelector']),
    sideEffects: typeof w['sideEffects'] === 'string' ? w['sideEffects'] : undefined,
    timeoutSeconds: typeof w['timeoutSeconds'] === 'number' ? w['timeoutSeconds'] : DEFAULT_TIMEOUT_SECONDS,
    admissionReviewVersions: strings(w['admissionReviewVersions']),
    matchConditions: matchConditions(w['matchConditions']),
  };
}

/**
 * Every admissionregistration.k8s.io/v1 webhook configuration in a multi-document YAML text, with v1
 * defaults applied; other documents are ignored. Throws on YAML errors and on configurations the
 * apiserver would refuse to store (no name, no clientConfig target, invalid matchConditions — with
 * the apiserver's `… is invalid: …` text).
 */
export function loadWebhookConfigs(yamlText: string): WebhookConfigs {
  const out: WebhookConfigs = { mutating: [], validating: [] };
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`webhook configurations: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    const obj: unknown = doc.toJS();
    if (!isObject(obj) || obj['apiVersion'] !== API_VERSION) continue;
    const kind = obj['kind'];
    if (kind !== 'MutatingWebhookConfiguration' && kind !== 'ValidatingWebhookConfiguration') continue;
    const name = isObject(obj['metadata']) ? obj['metadata']['name'] : undefined;
    if (typeof name !== 'string') throw new Error(`a ${kind} has no metadata.name`);
    const where = `${kind}/${name}`;
    const hooks = Array.isArray(obj['webhooks']) ? obj['webhooks'].filter(isObject) : [];
    if (kind === 'MutatingWebhookConfiguration') {
      const webhooks: MutatingWebhook[] = hooks.map((w) => ({ ...base(w, where), reinvocationPolicy: w['reinvocationPolicy'] === 'IfNeeded' ? 'IfNeeded' : 'Never' }));
      out.mutating.push({ kind, metadata: { name }, webhooks } satisfies MutatingWebhookConfiguration);
    } else {
      out.validating.push({ kind, metadata: { name }, webhooks: hooks.map((w) => base(w, where)) } satisfies ValidatingWebhookConfiguration);
    }
  }
  compileConfigurations(out, createMatchConditionEnvs());
  return out;
}
