/**
 * Version and discovery documents: `/version`, legacy discovery (`/api`, `/apis`, `/api/v1`,
 * `/apis/<group>/<version>`), and a minimal OpenAPI v3 that only declares the `fieldValidation`
 * query parameter on each resource's PATCH. That is what kubectl and helm look for before they skip
 * client-side schema validation; without it they want a full OpenAPI v2 schema (or
 * `--validate=false` / `--disable-openapi-validation`).
 */
import type { ResourceRegistry } from './crd-registry.js';
import { apiVersionOf } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { JsonObject } from './types.js';

/** The Kubernetes version the server claims to be (the kubectl binary's). */
export const SERVER_VERSION = { major: '1', minor: '35', gitVersion: 'v1.35.2' };

/** `/version` (`version.Info`). */
export function versionInfo(): JsonObject {
  return {
    ...SERVER_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.25.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

/** `/api`. */
export function coreVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** `/apis` (APIGroupList), CRD groups included. */
export function groupList(resources: ResourceRegistry): JsonObject {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: resources.groups().map((g) => {
      const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v }));
      return { name: g.name, versions, preferredVersion: versions[0] };
    }),
  };
}

/** `/apis/<group>` (APIGroup), or `undefined` for an unknown group. */
export function group(resources: ResourceRegistry, name: string): JsonObject | undefined {
  const g = resources.groups().find((x) => x.name === name);
  if (g === undefined) return undefined;
  const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.name, versions, preferredVersion: versions[0] };
}

function resourceEntries(r: ResourceInfo): JsonObject[] {
  const main: JsonObject = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
  if (r.shortNames.length > 0) main['shortNames'] = r.shortNames;
  if (r.categories.length > 0) main['categories'] = r.categories;
  const subs = r.subresources.map((s) => {
    const entry: JsonObject = { name: `${r.resource}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: s.verbs };
    // Discovery names the subresource's own group/version only when it differs (Scale is autoscaling/v1).
    if (s.group !== r.group || s.version !== r.version) Object.assign(entry, { group: s.group, version: s.version });
    return entry;
  });
  return [main, ...subs];
}

/** `/api/v1` or `/apis/<group>/<version>` (APIResourceList), or `undefined` if not served. */
export function resourceList(resources: ResourceRegistry, groupName: string, version: string): JsonObject | undefined {
  const served = resources.served().filter((r) => r.group === groupName && r.version === version);
  if (served.length === 0) return undefined;
  const first = served[0];
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: first === undefined ? version : apiVersionOf(first),
    resources: served.flatMap(resourceEntries),
  };
}

function openApiPath(gv: string): string {
  return gv.includes('/') ? `apis/${gv}` : `api/${gv}`;
}

/** `/openapi/v3`: one document per served group/version. */
export function openApiV3Index(resources: ResourceRegistry): JsonObject {
  const paths: JsonObject = {};
  // The review APIs are create-only: no PATCH to declare.
  for (const gv of new Set(resources.served().filter((r) => r.review !== true).map(apiVersionOf))) {
    const path = openApiPath(gv);
    // The hash only needs to be stable: clients use it as a cache key.
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${SERVER_VERSION.gitVersion}` };
  }
  return { paths };
}

/**
 * `/openapi/v3/<api|apis>/<gv>`: a PATCH operation per resource, tagged with its GVK and declaring the
 * `fieldValidation` parameter. The request body omits strategic-merge-patch so that kubectl's
 * client-side apply computes its patch from compiled-in types instead of looking for schemas here.
 */
export function openApiV3Document(resources: ResourceRegistry, gvPath: string): JsonObject | undefined {
  const served = resources.served().filter((r) => r.review !== true && openApiPath(apiVersionOf(r)) === gvPath);
  if (served.length === 0) return undefined;
  const paths: JsonObject = {};
  const queryParam = (name: string): JsonObject => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
  for (const r of served) {
    const ns = r.namespaced ? '/namespaces/{namespace}' : '';
    const operation = {
      'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
      'x-kubernetes-action': 'patch',
      parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map(queryParam),
      requestBody: {
        content: {
          'application/apply-patch+yaml': { schema: {} },
          'application/json-patch+json': { schema: {} },
          'application/merge-patch+json': { schema: {} },
        },
      },
      responses: { '200': { description: 'OK' } },
    };
    paths[`/${gvPath}${ns}/${r.resource}/{name}`] = { patch: operation };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion }, paths, components: { schemas: {} } };
}
