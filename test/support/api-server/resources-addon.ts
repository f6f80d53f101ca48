/**
 * The resources a cluster add-on installs (a chart's ServiceAccount, Service, RBAC, webhook
 * configurations, admission policies, PodDisruptionBudget, NetworkPolicy, PriorityClass) and the
 * API Priority and Fairness objects, with the discovery facts of their REST storages
 * (pkg/registry/{core,rbac,admissionregistration,policy,networking,scheduling,flowcontrol}).
 * Kept apart from `resources.ts` only for size; that file serves them.
 */
import type { ResourceInfo, SubresourceInfo } from './resources.js';

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const SUB_VERBS = ['get', 'patch', 'update'];

function statusOf(group: string, kind: string): SubresourceInfo {
  return { name: 'status', group, version: 'v1', kind, verbs: SUB_VERBS };
}

function addon(r: Pick<ResourceInfo, 'group' | 'resource' | 'singular' | 'kind'> & Partial<ResourceInfo>): ResourceInfo {
  return {
    version: 'v1',
    namespaced: true,
    verbs: VERBS,
    shortNames: [],
    categories: [],
    subresources: [],
    admitted: false,
    persisted: true,
    generation: false,
    createOnUpdate: false,
    ...r,
  };
}

const ADMISSION = 'admissionregistration.k8s.io';
const RBAC = 'rbac.authorization.k8s.io';
const FLOWCONTROL = 'flowcontrol.apiserver.k8s.io';

/** In discovery order within each group; the groups follow the built-in ones of `resources.ts`. */
export const ADDON_RESOURCES: readonly ResourceInfo[] = [
  addon({ group: '', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', shortNames: ['sa'] }),
  addon({ group: '', resource: 'services', singular: 'service', kind: 'Service', shortNames: ['svc'], categories: ['all'], subresources: [statusOf('', 'Service')] }),
  addon({ group: RBAC, resource: 'clusterrolebindings', singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', namespaced: false }),
  addon({ group: RBAC, resource: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', namespaced: false }),
  addon({ group: RBAC, resource: 'rolebindings', singular: 'rolebinding', kind: 'RoleBinding' }),
  addon({ group: RBAC, resource: 'roles', singular: 'role', kind: 'Role' }),
  // The webhook configuration strategies set generation 1 and bump it when the webhooks change; they and the
  // admission policy strategies refuse unconditional updates (AllowUnconditionalUpdate false).
  addon({ group: ADMISSION, resource: 'mutatingwebhookconfigurations', singular: 'mutatingwebhookconfiguration', kind: 'MutatingWebhookConfiguration', namespaced: false, categories: ['api-extensions'], generation: true, conditionalUpdate: true }),
  addon({ group: ADMISSION, resource: 'validatingadmissionpolicies', singular: 'validatingadmissionpolicy', kind: 'ValidatingAdmissionPolicy', namespaced: false, categories: ['api-extensions'], subresources: [statusOf(ADMISSION, 'ValidatingAdmissionPolicy')], generation: true, conditionalUpdate: true }),
  addon({ group: ADMISSION, resource: 'validatingadmissionpolicybindings', singular: 'validatingadmissionpolicybinding', kind: 'ValidatingAdmissionPolicyBinding', namespaced: false, categories: ['api-extensions'], generation: true, conditionalUpdate: true }),
  addon({ group: ADMISSION, resource: 'validatingwebhookconfigurations', singular: 'validatingwebhookconfiguration', kind: 'ValidatingWebhookConfiguration', namespaced: false, categories: ['api-extensions'], generation: true, conditionalUpdate: true }),
  addon({ group: 'policy', resource: 'poddisruptionbudgets', singular: 'poddisruptionbudget', kind: 'PodDisruptionBudget', shortNames: ['pdb'], subresources: [statusOf('policy', 'PodDisruptionBudget')], generation: true }),
  addon({ group: 'networking.k8s.io', resource: 'networkpolicies', singular: 'networkpolicy', kind: 'NetworkPolicy', shortNames: ['netpol'], generation: true }),
  addon({ group: 'scheduling.k8s.io', resource: 'priorityclasses', singular: 'priorityclass', kind: 'PriorityClass', namespaced: false, shortNames: ['pc'] }),
  addon({ group: FLOWCONTROL, resource: 'flowschemas', singular: 'flowschema', kind: 'FlowSchema', namespaced: false, subresources: [statusOf(FLOWCONTROL, 'FlowSchema')], generation: true }),
  addon({ group: FLOWCONTROL, resource: 'prioritylevelconfigurations', singular: 'prioritylevelconfiguration', kind: 'PriorityLevelConfiguration', namespaced: false, subresources: [statusOf(FLOWCONTROL, 'PriorityLevelConfiguration')], generation: true }),
];
