/**
 * The resources the test API server serves, with the discovery facts kubectl and helm rely on
 * (names, kinds, scope, verbs, short names, subresources) and the storage behaviour of each.
 * Custom resources are added per server by `crd-registry.ts`.
 */
import { ADDON_RESOURCES } from './resources-addon.js';
import { REVIEW_RESOURCES } from './resources-review.js';
import type { JsonObject } from './types.js';

/** A subresource as discovery lists it (`deployments/scale` is an `autoscaling/v1 Scale`). */
export interface SubresourceInfo {
  name: 'status' | 'scale' | 'ephemeralcontainers';
  group: string;
  version: string;
  kind: string;
  verbs: string[];
}

/** An `additionalPrinterColumns` entry of a CRD version (the default `Age` column when it has none). */
export interface PrinterColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
  jsonPath: string;
}

/** The `scale` subresource of a CRD version: where replicas and the selector live. */
export interface CustomScale {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath: string | undefined;
}

/** What a custom resource version adds to {@link ResourceInfo}, taken from its established CRD. */
export interface CustomResourceInfo {
  /** `<plural>.<group>`. */
  crdName: string;
  listKind: string;
  /** The version objects are stored in; with conversion `None` only `apiVersion` differs. */
  storageVersion: string;
  /** The version's `openAPIV3Schema` (structural), `undefined` if it has none. */
  schema: JsonObject | undefined;
  columns: PrinterColumn[];
  /** `selectableFields` JSONPaths without the leading dot (`spec.color`). */
  selectableFields: string[];
  scale: CustomScale | undefined;
}

/** One served resource. */
export interface ResourceInfo {
  group: string;
  version: string;
  /** Plural, as in URLs: `deployments`. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames: string[];
  categories: string[];
  subresources: SubresourceInfo[];
  /** Writes (incl. `scale`, `status`, `ephemeralcontainers`) are passed to the admission hook: the pod-bearing kinds. */
  admitted: boolean;
  /** `false`: writes are answered but not stored (none of the built-in resources; events are stored). */
  persisted: boolean;
  /** The strategy keeps `metadata.generation` (bumped on spec changes). */
  generation: boolean;
  /** A PUT of a missing object creates it (true for leases, as in the coordination strategy). */
  createOnUpdate: boolean;
  /** The strategy's `AllowUnconditionalUpdate` is false: a PUT must carry a resourceVersion (webhook configurations, admission policies). */
  conditionalUpdate?: boolean;
  /** A review API (TokenReview, SubjectAccessReview, …): create only, answered by `reviews.ts`, never stored. */
  review?: boolean;
  /** Set for a version of a custom resource (served from an established CRD). */
  custom?: CustomResourceInfo;
}

export const RW_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const SUB_VERBS = ['get', 'patch', 'update'];

function resource(r: Partial<ResourceInfo> & Pick<ResourceInfo, 'group' | 'version' | 'resource' | 'singular' | 'kind'>): ResourceInfo {
  return {
    namespaced: true,
    verbs: RW_VERBS,
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

/** `<resource>/status` of the resource's own kind. */
export function status(group: string, kind: string, version = 'v1'): SubresourceInfo {
  return { name: 'status', group, version, kind, verbs: SUB_VERBS };
}

/** `<resource>/scale`: always an `autoscaling/v1 Scale`, whatever the resource's group. */
export const SCALE: SubresourceInfo = { name: 'scale', group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SUB_VERBS };

/**
 * Every resource served, in discovery order. Short names and categories are the apiserver's
 * (`ShortNames()` / `Categories()` of each REST storage in pkg/registry/{core,apps,batch}).
 */
export const RESOURCES: readonly ResourceInfo[] = [
  resource({
    group: '',
    version: 'v1',
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: [status('', 'Namespace')],
  }),
  resource({ group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret' }),
  resource({ group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', shortNames: ['cm'] }),
  resource({
    group: '',
    version: 'v1',
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    shortNames: ['po'],
    categories: ['all'],
    // `pods/ephemeralcontainers` reads and writes the whole Pod (kind Pod), as `kubectl debug` expects.
    subresources: [{ name: 'ephemeralcontainers', group: '', version: 'v1', kind: 'Pod', verbs: SUB_VERBS }, status('', 'Pod')],
    admitted: true,
    // Pod generation (KEP-5067, PodObservedGenerationTracking): 1 on create, bumped on every spec change.
    generation: true,
  }),
  resource({
    group: '',
    version: 'v1',
    resource: 'replicationcontrollers',
    singular: 'replicationcontroller',
    kind: 'ReplicationController',
    shortNames: ['rc'],
    categories: ['all'],
    subresources: [SCALE, status('', 'ReplicationController')],
    admitted: true,
    generation: true,
  }),
  resource({ group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', shortNames: ['ev'] }),
  resource({
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [SCALE, status('apps', 'Deployment')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    shortNames: ['rs'],
    categories: ['all'],
    subresources: [SCALE, status('apps', 'ReplicaSet')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    singular: 'statefulset',
    kind: 'StatefulSet',
    shortNames: ['sts'],
    categories: ['all'],
    subresources: [SCALE, status('apps', 'StatefulSet')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'apps',
    version: 'v1',
    resource: 'daemonsets',
    singular: 'daemonset',
    kind: 'DaemonSet',
    shortNames: ['ds'],
    categories: ['all'],
    subresources: [status('apps', 'DaemonSet')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'batch',
    version: 'v1',
    resource: 'jobs',
    singular: 'job',
    kind: 'Job',
    categories: ['all'],
    subresources: [status('batch', 'Job')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'batch',
    version: 'v1',
    resource: 'cronjobs',
    singular: 'cronjob',
    kind: 'CronJob',
    shortNames: ['cj'],
    categories: ['all'],
    subresources: [status('batch', 'CronJob')],
    admitted: true,
    generation: true,
  }),
  resource({
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resource: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    subresources: [status('apiextensions.k8s.io', 'CustomResourceDefinition')],
    // The CRD strategy bumps generation on spec changes (pkg/registry/customresourcedefinition/strategy.go).
    generation: true,
  }),
  resource({
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    singular: 'lease',
    kind: 'Lease',
    createOnUpdate: true,
  }),
  ...ADDON_RESOURCES,
  ...REVIEW_RESOURCES,
];

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The built-in resource served at `group/version/resource`, if any (the server's registry adds custom resources). */
export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === plural);
}

/** The built-in resource whose objects have this apiVersion and kind. */
export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}
