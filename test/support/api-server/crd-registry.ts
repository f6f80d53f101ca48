/**
 * The resources one server serves: the built-in ones of `resources.ts` plus, for every established
 * CustomResourceDefinition in its store, each served version of the custom resource — named by the
 * CRD's `status.acceptedNames`, as the apiextensions-apiserver's crdHandler and discovery controller
 * do (an unestablished CRD serves nothing; its paths are 404). Rebuilt when a CRD changes.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { RESOURCES, RW_VERBS, SCALE, apiVersionOf, status } from './resources.js';
import type { CustomScale, PrinterColumn, ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';

/** A served API group with its versions, preferred first. */
export interface ApiGroup {
  name: string;
  versions: string[];
}

/** Looks up what the server serves; one per server, since CRDs live in its store. */
export interface ResourceRegistry {
  find(group: string, version: string, plural: string): ResourceInfo | undefined;
  /** Every served resource version, built-ins first. */
  served(): readonly ResourceInfo[];
  /** One entry per stored resource (custom resources at their storage version). */
  stored(): readonly ResourceInfo[];
  /** By plural (`deployments`), `plural.group` or kind, as the test-facing store accepts. */
  resolve(name: string): ResourceInfo | undefined;
  forKind(apiVersion: string, kind: string): ResourceInfo | undefined;
  /** The non-core groups, built-ins first, then CRD groups by name. */
  groups(): ApiGroup[];
  close(): void;
}

const CRD_GROUP = 'apiextensions.k8s.io';
const CRD_RESOURCE = 'customresourcedefinitions';

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** True when a CRD has the condition `type` with status True. */
function crdConditionTrue(crd: JsonObject, type: string): boolean {
  const conditions = rec(crd['status'])['conditions'];
  return Array.isArray(conditions) && conditions.some((c) => isRecord(c) && c['type'] === type && c['status'] === 'True');
}

/**
 * `version.CompareKubeAwareVersionStrings`: GA before beta before alpha, higher numbers first within
 * each; names that do not look like Kubernetes versions sort last, alphabetically.
 */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (m === null) return undefined;
    const maturity = m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0;
    return [maturity, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa === undefined || pb === undefined) {
    if (pa !== undefined) return -1;
    if (pb !== undefined) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return (pb[i] ?? 0) - (pa[i] ?? 0);
  return 0;
}

/** The default column of a version without `additionalPrinterColumns` (`serveDefaultColumnsIfEmpty`). */
const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  priority: 0,
  jsonPath: '.metadata.creationTimestamp',
};

function printerColumns(version: JsonObject): PrinterColumn[] {
  const columns = Array.isArray(version['additionalPrinterColumns']) ? version['additionalPrinterColumns'].filter(isRecord) : [];
  if (columns.length === 0) return [AGE_COLUMN];
  return columns.map((c) => ({
    name: String(c['name'] ?? ''),
    type: String(c['type'] ?? ''),
    format: typeof c['format'] === 'string' ? c['format'] : '',
    // tableconvertor.New: the description, else the JSONPath.
    description: typeof c['description'] === 'string' && c['description'] !== '' ? c['description'] : `Custom resource definition column (in JSONPath format): ${String(c['jsonPath'] ?? '')}`,
    priority: typeof c['priority'] === 'number' ? c['priority'] : 0,
    jsonPath: String(c['jsonPath'] ?? ''),
  }));
}

function scaleOf(version: JsonObject): CustomScale | undefined {
  const scale = rec(version['subresources'])['scale'];
  if (!isRecord(scale)) return undefined;
  const labelSelectorPath = typeof scale['labelSelectorPath'] === 'string' ? scale['labelSelectorPath'] : undefined;
  return { specReplicasPath: String(scale['specReplicasPath'] ?? ''), statusReplicasPath: String(scale['statusReplicasPath'] ?? ''), labelSelectorPath };
}

/**
 * The served versions of an established CRD as resources, named by its accepted names; `[]` for a
 * CRD that is not (yet) established.
 */
export function customResourcesOf(crd: JsonObject): ResourceInfo[] {
  if (!crdConditionTrue(crd, 'Established')) return [];
  const spec = rec(crd['spec']);
  const names = rec(rec(crd['status'])['acceptedNames']);
  const group = String(spec['group'] ?? '');
  const versions = Array.isArray(spec['versions']) ? spec['versions'].filter(isRecord) : [];
  const storageVersion = String(versions.find((v) => v['storage'] === true)?.['name'] ?? '');
  const kind = String(names['kind'] ?? '');
  const out: ResourceInfo[] = [];
  for (const v of versions) {
    if (v['served'] !== true) continue;
    const version = String(v['name'] ?? '');
    const subs = rec(v['subresources']);
    const scale = scaleOf(v);
    out.push({
      group,
      version,
      resource: String(names['plural'] ?? ''),
      singular: String(names['singular'] ?? ''),
      kind,
      namespaced: spec['scope'] === 'Namespaced',
      verbs: RW_VERBS,
      shortNames: strings(names['shortNames']),
      categories: strings(names['categories']),
      subresources: [...(isRecord(subs['status']) ? [status(group, kind, version)] : []), ...(scale === undefined ? [] : [SCALE])],
      admitted: true,
      persisted: true,
      generation: true,
      createOnUpdate: false,
      custom: {
        crdName: String(rec(crd['metadata'])['name'] ?? ''),
        listKind: String(names['listKind'] ?? `${kind}List`),
        storageVersion,
        schema: isRecord(rec(v['schema'])['openAPIV3Schema']) ? (rec(v['schema'])['openAPIV3Schema'] as JsonObject) : undefined,
        columns: printerColumns(v),
        selectableFields: (Array.isArray(v['selectableFields']) ? v['selectableFields'].filter(isRecord) : []).map((f) => String(f['jsonPath'] ?? '').replace(/^\./, '')),
        scale,
      },
    });
  }
  return out;
}

/** Creates the registry of a server whose CRDs live in `store`. */
export function createResourceRegistry(store: ObjectStore): ResourceRegistry {
  const crdInfo = RESOURCES.find((r) => r.group === CRD_GROUP && r.resource === CRD_RESOURCE);
  let custom: ResourceInfo[] | undefined;
  const unsubscribe = store.subscribe((e) => {
    if (e.info.group === CRD_GROUP && e.info.resource === CRD_RESOURCE) custom = undefined;
  });
  const customResources = (): ResourceInfo[] => {
    if (custom === undefined) {
      const crds = crdInfo === undefined ? [] : store.list(crdInfo);
      // A built-in resource wins over a CRD claiming the same path: the CRD handler only gets what nothing else serves.
      custom = crds.flatMap(customResourcesOf).filter((r) => !RESOURCES.some((b) => b.group === r.group && b.version === r.version && b.resource === r.resource));
    }
    return custom;
  };
  const served = (): ResourceInfo[] => [...RESOURCES, ...customResources()];
  return {
    find: (group, version, plural) => served().find((r) => r.group === group && r.version === version && r.resource === plural),
    served,
    stored: () => served().filter((r) => r.custom === undefined || r.version === r.custom.storageVersion),
    resolve: (name) => {
      const all = served().filter((r) => r.resource === name || `${r.resource}.${r.group}` === name || r.kind === name);
      return all.find((r) => r.custom === undefined || r.version === r.custom.storageVersion) ?? all[0];
    },
    forKind: (apiVersion, kind) => served().find((r) => apiVersionOf(r) === apiVersion && r.kind === kind),
    groups() {
      const groups: ApiGroup[] = [];
      for (const r of RESOURCES) {
        if (r.group === '') continue;
        const existing = groups.find((g) => g.name === r.group);
        if (existing === undefined) groups.push({ name: r.group, versions: [r.version] });
        else if (!existing.versions.includes(r.version)) existing.versions.push(r.version);
      }
      const customGroups: ApiGroup[] = [];
      for (const r of customResources()) {
        const existing = groups.find((g) => g.name === r.group) ?? customGroups.find((g) => g.name === r.group);
        if (existing === undefined) customGroups.push({ name: r.group, versions: [r.version] });
        else if (!existing.versions.includes(r.version)) existing.versions.push(r.version);
      }
      // The discovery controller lists a CRD group's versions in kube-aware order; the first is preferred.
      for (const g of customGroups) g.versions.sort(compareKubeVersions);
      customGroups.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return [...groups, ...customGroups];
    },
    close: () => void unsubscribe(),
  };
}
