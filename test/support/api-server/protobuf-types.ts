/**
 * Protobuf schemas of the kinds kubectl and helm send as protobuf (Secret, ConfigMap, Namespace,
 * Deployment, Lease, Scale, DeleteOptions) and of the messages they share with the workload kinds
 * of `protobuf-workloads.ts`. Field numbers follow `k8s.io/api/*\/generated.proto` and
 * `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`; fields no client here sends are left out
 * and fail loudly when they appear.
 */
import type { MessageSchema } from './protobuf-wire.js';

const ownerReference: MessageSchema = {
  name: 'OwnerReference',
  fields: {
    1: { name: 'kind', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'controller', type: 'bool', pointer: true },
    7: { name: 'blockOwnerDeletion', type: 'bool', pointer: true },
  },
};

const managedFieldsEntry: MessageSchema = {
  name: 'ManagedFieldsEntry',
  fields: {
    1: { name: 'manager', type: 'string' },
    2: { name: 'operation', type: 'string' },
    3: { name: 'apiVersion', type: 'string' },
    4: { name: 'time', type: 'time' },
    6: { name: 'fieldsType', type: 'string' },
    7: { name: 'fieldsV1', type: 'json' },
    8: { name: 'subresource', type: 'string' },
  },
};

export const objectMeta: MessageSchema = {
  name: 'ObjectMeta',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'generateName', type: 'string' },
    3: { name: 'namespace', type: 'string' },
    4: { name: 'selfLink', type: 'string' },
    5: { name: 'uid', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'generation', type: 'int' },
    8: { name: 'creationTimestamp', type: 'time' },
    9: { name: 'deletionTimestamp', type: 'time' },
    10: { name: 'deletionGracePeriodSeconds', type: 'int', pointer: true },
    11: { name: 'labels', type: 'string', map: true },
    12: { name: 'annotations', type: 'string', map: true },
    13: { name: 'ownerReferences', type: () => ownerReference, repeated: true },
    14: { name: 'finalizers', type: 'string', repeated: true },
    17: { name: 'managedFields', type: () => managedFieldsEntry, repeated: true },
  },
};

export const labelSelector: MessageSchema = {
  name: 'LabelSelector',
  fields: {
    1: { name: 'matchLabels', type: 'string', map: true },
    2: {
      name: 'matchExpressions',
      repeated: true,
      type: () => ({
        name: 'LabelSelectorRequirement',
        fields: {
          1: { name: 'key', type: 'string' },
          2: { name: 'operator', type: 'string' },
          3: { name: 'values', type: 'string', repeated: true },
        },
      }),
    },
  },
};

const containerPort: MessageSchema = {
  name: 'ContainerPort',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'hostPort', type: 'int' },
    3: { name: 'containerPort', type: 'int' },
    4: { name: 'protocol', type: 'string' },
    5: { name: 'hostIP', type: 'string' },
  },
};

const envVar: MessageSchema = {
  name: 'EnvVar',
  fields: { 1: { name: 'name', type: 'string' }, 2: { name: 'value', type: 'string' } },
};

const resourceRequirements: MessageSchema = {
  name: 'ResourceRequirements',
  fields: {
    1: { name: 'limits', type: 'quantity', map: true },
    2: { name: 'requests', type: 'quantity', map: true },
  },
};

const volumeMount: MessageSchema = {
  name: 'VolumeMount',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'readOnly', type: 'bool' },
    3: { name: 'mountPath', type: 'string' },
    4: { name: 'subPath', type: 'string' },
    5: { name: 'mountPropagation', type: 'string', pointer: true },
    6: { name: 'subPathExpr', type: 'string' },
  },
};

export const container: MessageSchema = {
  name: 'Container',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'image', type: 'string' },
    3: { name: 'command', type: 'string', repeated: true },
    4: { name: 'args', type: 'string', repeated: true },
    5: { name: 'workingDir', type: 'string' },
    6: { name: 'ports', type: () => containerPort, repeated: true },
    7: { name: 'env', type: () => envVar, repeated: true },
    8: { name: 'resources', type: () => resourceRequirements },
    9: { name: 'volumeMounts', type: () => volumeMount, repeated: true },
    13: { name: 'terminationMessagePath', type: 'string' },
    14: { name: 'imagePullPolicy', type: 'string' },
    16: { name: 'stdin', type: 'bool' },
    17: { name: 'stdinOnce', type: 'bool' },
    18: { name: 'tty', type: 'bool' },
    20: { name: 'terminationMessagePolicy', type: 'string' },
  },
};

const podSecurityContext: MessageSchema = {
  name: 'PodSecurityContext',
  fields: {
    2: { name: 'runAsUser', type: 'int', pointer: true },
    3: { name: 'runAsNonRoot', type: 'bool', pointer: true },
    4: { name: 'supplementalGroups', type: 'int', repeated: true },
    5: { name: 'fsGroup', type: 'int', pointer: true },
    6: { name: 'runAsGroup', type: 'int', pointer: true },
  },
};

export const podSpec: MessageSchema = {
  name: 'PodSpec',
  fields: {
    2: { name: 'containers', type: () => container, repeated: true },
    3: { name: 'restartPolicy', type: 'string' },
    4: { name: 'terminationGracePeriodSeconds', type: 'int', pointer: true },
    5: { name: 'activeDeadlineSeconds', type: 'int', pointer: true },
    6: { name: 'dnsPolicy', type: 'string' },
    7: { name: 'nodeSelector', type: 'string', map: true },
    8: { name: 'serviceAccountName', type: 'string' },
    9: { name: 'serviceAccount', type: 'string' },
    10: { name: 'nodeName', type: 'string' },
    11: { name: 'hostNetwork', type: 'bool' },
    12: { name: 'hostPID', type: 'bool' },
    13: { name: 'hostIPC', type: 'bool' },
    14: { name: 'securityContext', type: () => podSecurityContext },
    15: { name: 'imagePullSecrets', repeated: true, type: () => ({ name: 'LocalObjectReference', fields: { 1: { name: 'name', type: 'string' } } }) },
    16: { name: 'hostname', type: 'string' },
    17: { name: 'subdomain', type: 'string' },
    19: { name: 'schedulerName', type: 'string' },
    20: { name: 'initContainers', type: () => container, repeated: true },
    21: { name: 'automountServiceAccountToken', type: 'bool', pointer: true },
    24: { name: 'priorityClassName', type: 'string' },
    25: { name: 'priority', type: 'int', pointer: true },
    30: { name: 'enableServiceLinks', type: 'bool', pointer: true },
  },
};

export const podTemplateSpec: MessageSchema = {
  name: 'PodTemplateSpec',
  fields: { 1: { name: 'metadata', type: () => objectMeta }, 2: { name: 'spec', type: () => podSpec } },
};

const deploymentCondition: MessageSchema = {
  name: 'DeploymentCondition',
  fields: {
    1: { name: 'type', type: 'string' },
    2: { name: 'status', type: 'string' },
    4: { name: 'reason', type: 'string' },
    5: { name: 'message', type: 'string' },
    6: { name: 'lastUpdateTime', type: 'time' },
    7: { name: 'lastTransitionTime', type: 'time' },
  },
};

const deployment: MessageSchema = {
  name: 'Deployment',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'spec',
      type: () => ({
        name: 'DeploymentSpec',
        fields: {
          1: { name: 'replicas', type: 'int', pointer: true },
          2: { name: 'selector', type: () => labelSelector },
          3: { name: 'template', type: () => podTemplateSpec },
          4: {
            name: 'strategy',
            type: () => ({
              name: 'DeploymentStrategy',
              fields: {
                1: { name: 'type', type: 'string' },
                2: {
                  name: 'rollingUpdate',
                  type: () => ({
                    name: 'RollingUpdateDeployment',
                    fields: { 1: { name: 'maxUnavailable', type: 'intOrString' }, 2: { name: 'maxSurge', type: 'intOrString' } },
                  }),
                },
              },
            }),
          },
          5: { name: 'minReadySeconds', type: 'int' },
          6: { name: 'revisionHistoryLimit', type: 'int', pointer: true },
          7: { name: 'paused', type: 'bool' },
          9: { name: 'progressDeadlineSeconds', type: 'int', pointer: true },
        },
      }),
    },
    3: {
      name: 'status',
      type: () => ({
        name: 'DeploymentStatus',
        fields: {
          1: { name: 'observedGeneration', type: 'int' },
          2: { name: 'replicas', type: 'int' },
          3: { name: 'updatedReplicas', type: 'int' },
          4: { name: 'availableReplicas', type: 'int' },
          5: { name: 'unavailableReplicas', type: 'int' },
          6: { name: 'conditions', type: () => deploymentCondition, repeated: true },
          7: { name: 'readyReplicas', type: 'int' },
          8: { name: 'collisionCount', type: 'int', pointer: true },
          9: { name: 'terminatingReplicas', type: 'int', pointer: true },
        },
      }),
    },
  },
};

const secret: MessageSchema = {
  name: 'Secret',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    // map<string, bytes>: the raw bytes become base64, exactly as the JSON API shows Secret data.
    2: { name: 'data', type: 'bytes', map: true },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'string', map: true },
    5: { name: 'immutable', type: 'bool', pointer: true },
  },
};

const configMap: MessageSchema = {
  name: 'ConfigMap',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'data', type: 'string', map: true },
    3: { name: 'binaryData', type: 'bytes', map: true },
    4: { name: 'immutable', type: 'bool', pointer: true },
  },
};

const namespace: MessageSchema = {
  name: 'Namespace',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'spec', type: () => ({ name: 'NamespaceSpec', fields: { 1: { name: 'finalizers', type: 'string', repeated: true } } }) },
    3: { name: 'status', type: () => ({ name: 'NamespaceStatus', fields: { 1: { name: 'phase', type: 'string' } } }) },
  },
};

const lease: MessageSchema = {
  name: 'Lease',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'spec',
      type: () => ({
        name: 'LeaseSpec',
        fields: {
          1: { name: 'holderIdentity', type: 'string', pointer: true },
          2: { name: 'leaseDurationSeconds', type: 'int', pointer: true },
          3: { name: 'acquireTime', type: 'microtime' },
          4: { name: 'renewTime', type: 'microtime' },
          5: { name: 'leaseTransitions', type: 'int', pointer: true },
          6: { name: 'strategy', type: 'string', pointer: true },
          7: { name: 'preferredHolder', type: 'string', pointer: true },
        },
      }),
    },
  },
};

const scale: MessageSchema = {
  name: 'Scale',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'spec', type: () => ({ name: 'ScaleSpec', fields: { 1: { name: 'replicas', type: 'int' } } }) },
    3: {
      name: 'status',
      type: () => ({ name: 'ScaleStatus', fields: { 1: { name: 'replicas', type: 'int' }, 2: { name: 'selector', type: 'string' } } }),
    },
  },
};

const deleteOptions: MessageSchema = {
  name: 'DeleteOptions',
  fields: {
    1: { name: 'gracePeriodSeconds', type: 'int', pointer: true },
    2: {
      name: 'preconditions',
      type: () => ({
        name: 'Preconditions',
        fields: { 1: { name: 'uid', type: 'string', pointer: true }, 2: { name: 'resourceVersion', type: 'string', pointer: true } },
      }),
    },
    3: { name: 'orphanDependents', type: 'bool', pointer: true },
    4: { name: 'propagationPolicy', type: 'string', pointer: true },
    5: { name: 'dryRun', type: 'string', repeated: true },
    6: { name: 'ignoreStoreReadErrorWithClusterBreakingPotential', type: 'bool', pointer: true },
  },
};

/** The kinds of this file whose protobuf bodies are decoded, by kind (apiVersion comes from the envelope). */
export const CORE_SCHEMAS: Readonly<Record<string, MessageSchema>> = {
  Secret: secret,
  ConfigMap: configMap,
  Namespace: namespace,
  Deployment: deployment,
  Lease: lease,
  Scale: scale,
  DeleteOptions: deleteOptions,
};
