/**
 * Defaulting of the add-on kinds, from the `SetDefaults_*` functions of k8s.io/kubernetes
 * pkg/apis/{core,rbac,admissionregistration,networking,scheduling}/v1/defaults.go (and flowcontrol's in
 * `flowcontrol.ts`). Idempotent: applied before and after admission.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { child, setDefault } from './defaults-pod.js';
import { defaultFlowControl } from './flowcontrol.js';
import type { JsonObject } from './types.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** `SetDefaults_ValidatingWebhook`: 10 s timeout; `SetDefaults_ServiceReference`: port 443. */
const WEBHOOK_TIMEOUT_SECONDS = 10;
const WEBHOOK_SERVICE_PORT = 443;
/** `v1.DefaultClientIPServiceAffinitySeconds`: three hours. */
const CLIENT_IP_AFFINITY_SECONDS = 10800;

function objects(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** `SetDefaults_Service`. */
function defaultService(svc: JsonObject): void {
  const spec = child(svc, 'spec');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec['sessionAffinity'] === 'None') delete spec['sessionAffinityConfig'];
  if (spec['sessionAffinity'] === 'ClientIP') {
    const clientIP = child(child(spec, 'sessionAffinityConfig'), 'clientIP');
    setDefault(clientIP, 'timeoutSeconds', CLIENT_IP_AFFINITY_SECONDS);
  }
  setDefault(spec, 'type', 'ClusterIP');
  for (const port of objects(spec['ports'])) {
    setDefault(port, 'protocol', 'TCP');
    if (port['targetPort'] === undefined || port['targetPort'] === 0 || port['targetPort'] === '') port['targetPort'] = port['port'];
  }
  const type = spec['type'];
  const external = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && Array.isArray(spec['externalIPs']) && spec['externalIPs'].length > 0);
  if (external) setDefault(spec, 'externalTrafficPolicy', 'Cluster');
  if (type === 'NodePort' || type === 'LoadBalancer' || type === 'ClusterIP') setDefault(spec, 'internalTrafficPolicy', 'Cluster');
  if (type === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true);
  // ServiceStatus has a non-pointer loadBalancer: it is always written.
  child(child(svc, 'status'), 'loadBalancer');
}

/** `SetDefaults_Subject` and `SetDefaults_RoleBinding`/`ClusterRoleBinding`. */
function defaultBinding(binding: JsonObject): void {
  setDefault(child(binding, 'roleRef'), 'apiGroup', RBAC_GROUP);
  for (const subject of objects(binding['subjects'])) {
    if (subject['apiGroup'] !== undefined && subject['apiGroup'] !== '') continue;
    if (subject['kind'] === 'ServiceAccount') subject['apiGroup'] = '';
    else if (subject['kind'] === 'User' || subject['kind'] === 'Group') subject['apiGroup'] = RBAC_GROUP;
  }
}

/** `SetDefaults_Rule` (scope `*`) on every rule of a webhook or a policy's match constraints. */
function defaultRules(rules: unknown): void {
  for (const rule of objects(rules)) setDefault(rule, 'scope', '*');
}

/** `SetDefaults_{Validating,Mutating}Webhook`, `SetDefaults_ServiceReference`. */
function defaultWebhooks(config: JsonObject, mutating: boolean): void {
  for (const hook of objects(config['webhooks'])) {
    setDefault(hook, 'failurePolicy', 'Fail');
    setDefault(hook, 'matchPolicy', 'Equivalent');
    setDefault(hook, 'namespaceSelector', {});
    setDefault(hook, 'objectSelector', {});
    setDefault(hook, 'timeoutSeconds', WEBHOOK_TIMEOUT_SECONDS);
    if (mutating) setDefault(hook, 'reinvocationPolicy', 'Never');
    const service = isRecord(hook['clientConfig']) ? hook['clientConfig']['service'] : undefined;
    if (isRecord(service)) setDefault(service, 'port', WEBHOOK_SERVICE_PORT);
    defaultRules(hook['rules']);
  }
}

/** `SetDefaults_MatchResources`: what a policy's (or binding's) match constraints leave out. */
function defaultMatchResources(match: unknown): void {
  if (!isRecord(match)) return;
  setDefault(match, 'matchPolicy', 'Equivalent');
  setDefault(match, 'namespaceSelector', {});
  setDefault(match, 'objectSelector', {});
  defaultRules(match['resourceRules']);
  defaultRules(match['excludeResourceRules']);
}

/** `SetDefaults_NetworkPolicy` (policyTypes from the rules present) and `SetDefaults_NetworkPolicyPort`. */
function defaultNetworkPolicy(np: JsonObject): void {
  const spec = child(np, 'spec');
  if (!Array.isArray(spec['policyTypes']) || spec['policyTypes'].length === 0) {
    spec['policyTypes'] = Array.isArray(spec['egress']) && spec['egress'].length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  for (const dir of ['ingress', 'egress']) {
    for (const rule of objects(spec[dir])) for (const port of objects(rule['ports'])) setDefault(port, 'protocol', 'TCP');
  }
}

/** Defaults of the add-on kinds by kind. */
export const ADDON_DEFAULTS: Readonly<Record<string, (obj: JsonObject) => void>> = {
  Service: defaultService,
  RoleBinding: defaultBinding,
  ClusterRoleBinding: defaultBinding,
  ValidatingWebhookConfiguration: (o) => defaultWebhooks(o, false),
  MutatingWebhookConfiguration: (o) => defaultWebhooks(o, true),
  ValidatingAdmissionPolicy: (o) => {
    const spec = child(o, 'spec');
    setDefault(spec, 'failurePolicy', 'Fail');
    defaultMatchResources(spec['matchConstraints']);
  },
  ValidatingAdmissionPolicyBinding: (o) => defaultMatchResources(child(o, 'spec')['matchResources']),
  NetworkPolicy: defaultNetworkPolicy,
  // SetDefaults_PriorityClass.
  PriorityClass: (o) => setDefault(o, 'preemptionPolicy', 'PreemptLowerPriority'),
  // PodDisruptionBudgetStatus' counters have no omitempty: a new PDB shows them as 0.
  PodDisruptionBudget: (o) => {
    const status = child(o, 'status');
    for (const k of ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']) setDefault(status, k, 0);
  },
  FlowSchema: (o) => defaultFlowControl('FlowSchema', o),
  PriorityLevelConfiguration: (o) => defaultFlowControl('PriorityLevelConfiguration', o),
};
