/**
 * The resources the test API server serves, with the discovery facts kubectl and helm rely on
 * (names, kinds, scope, verbs, short names, subresources) and the storage behaviour of each.
 */

/** A subresource as discovery lists it (`deployments/scale` is an `autoscaling/v1 Scale`). */
export interface SubresourceInfo {
  name: 'status' | 'scale';
  group: string;
  version: string;
  kind: string;
  verbs: string[];
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
  /** Writes are passed to the admission hook. */
  admitted: boolean;
  /** `false` for events: accepted and dropped. */
  persisted: boolean;
  /** The strategy keeps `metadata.generation` (bumped on spec changes). */
  generation: boolean;
  /** A PUT of a missing object creates it (true for leases, as in the coordination strategy). */
  createOnUpdate: boolean;
}

const RW_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
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

/** Every resource served, in discovery order. */
export const RESOURCES: readonly ResourceInfo[] = [
  resource({
    group: '',
    version: 'v1',
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: [{ name: 'status', group: '', version: 'v1', kind: 'Namespace', verbs: SUB_VERBS }],
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
    subresources: [{ name: 'status', group: '', version: 'v1', kind: 'Pod', verbs: SUB_VERBS }],
  }),
  resource({ group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', shortNames: ['ev'], persisted: false }),
  resource({
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [
      { name: 'scale', group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SUB_VERBS },
      { name: 'status', group: 'apps', version: 'v1', kind: 'Deployment', verbs: SUB_VERBS },
    ],
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
    subresources: [{ name: 'status', group: 'apps', version: 'v1', kind: 'ReplicaSet', verbs: SUB_VERBS }],
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
];

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The resource served at `group/version/resource`, if any. */
export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === plural);
}

/**
 * The resource for a plural (`deployments`), a `plural.group` (`leases.coordination.k8s.io`) or a kind
 * (`Deployment`); what the test-facing store accepts.
 */
export function resolveResource(name: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.resource === name || `${r.resource}.${r.group}` === name || r.kind === name);
}

/** The resource whose objects have this apiVersion and kind. */
export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** The groups other than core, in discovery order. */
export function apiGroups(): { name: string; versions: string[] }[] {
  const groups: { name: string; versions: string[] }[] = [];
  for (const r of RESOURCES) {
    if (r.group === '') continue;
    const existing = groups.find((g) => g.name === r.group);
    if (existing === undefined) groups.push({ name: r.group, versions: [r.version] });
    else if (!existing.versions.includes(r.version)) existing.versions.push(r.version);
  }
  return groups;
}
