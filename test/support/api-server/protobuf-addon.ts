/**
 * Protobuf schemas of the add-on kinds `kubectl create serviceaccount|role|clusterrole|rolebinding|
 * clusterrolebinding|priorityclass` sends as protobuf (helm sends its chart objects as JSON or apply
 * YAML). Field numbers follow k8s.io/api/{core,rbac,scheduling}/v1/generated.proto; other fields fail
 * loudly.
 */
import { labelSelector, objectMeta } from './protobuf-types.js';
import type { MessageSchema } from './protobuf-wire.js';

const objectReference: MessageSchema = {
  name: 'ObjectReference',
  fields: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'namespace', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'fieldPath', type: 'string' },
  },
};

const serviceAccount: MessageSchema = {
  name: 'ServiceAccount',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'secrets', type: () => objectReference, repeated: true },
    3: { name: 'imagePullSecrets', type: () => ({ name: 'LocalObjectReference', fields: { 1: { name: 'name', type: 'string' } } }), repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool', pointer: true },
  },
};

const policyRule: MessageSchema = {
  name: 'PolicyRule',
  fields: {
    1: { name: 'verbs', type: 'string', repeated: true },
    2: { name: 'apiGroups', type: 'string', repeated: true },
    3: { name: 'resources', type: 'string', repeated: true },
    4: { name: 'resourceNames', type: 'string', repeated: true },
    5: { name: 'nonResourceURLs', type: 'string', repeated: true },
  },
};

const role: MessageSchema = {
  name: 'Role',
  fields: { 1: { name: 'metadata', type: () => objectMeta }, 2: { name: 'rules', type: () => policyRule, repeated: true } },
};

const clusterRole: MessageSchema = {
  name: 'ClusterRole',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'rules', type: () => policyRule, repeated: true },
    3: { name: 'aggregationRule', type: () => ({ name: 'AggregationRule', fields: { 1: { name: 'clusterRoleSelectors', type: () => labelSelector, repeated: true } } }) },
  },
};

const binding = (name: string): MessageSchema => ({
  name,
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'subjects',
      repeated: true,
      type: () => ({ name: 'Subject', fields: { 1: { name: 'kind', type: 'string' }, 2: { name: 'apiGroup', type: 'string' }, 3: { name: 'name', type: 'string' }, 4: { name: 'namespace', type: 'string' } } }),
    },
    3: { name: 'roleRef', type: () => ({ name: 'RoleRef', fields: { 1: { name: 'apiGroup', type: 'string' }, 2: { name: 'kind', type: 'string' }, 3: { name: 'name', type: 'string' } } }) },
  },
});

const priorityClass: MessageSchema = {
  name: 'PriorityClass',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    // `value` has no omitempty in JSON: a zero is kept.
    2: { name: 'value', type: 'int', pointer: true },
    3: { name: 'globalDefault', type: 'bool' },
    4: { name: 'description', type: 'string' },
    5: { name: 'preemptionPolicy', type: 'string' },
  },
};

export const ADDON_SCHEMAS: Readonly<Record<string, MessageSchema>> = {
  ServiceAccount: serviceAccount,
  Role: role,
  ClusterRole: clusterRole,
  RoleBinding: binding('RoleBinding'),
  ClusterRoleBinding: binding('ClusterRoleBinding'),
  PriorityClass: priorityClass,
};
