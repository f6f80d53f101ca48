/**
 * Maps a request path to what it addresses: discovery documents or a resource (collection, object,
 * subresource) in a namespace. Mirrors the apiserver's URL layout, including the legacy `/watch/` prefix.
 */
import type { ResourceInfo } from './resources.js';

/** Finds the resource served at `group/version/plural` (the server's registry, custom resources included). */
export type ResourceFinder = (group: string, version: string, plural: string) => ResourceInfo | undefined;

/** A resource request: `namespace` is `undefined` for cluster-scoped resources and all-namespace lists. */
export interface ResourceRoute {
  type: 'resource';
  info: ResourceInfo;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  /** Came through `/watch/…`. */
  legacyWatch: boolean;
}

/** Everything the server answers. */
export type Route =
  | { type: 'version' }
  | { type: 'health' }
  | { type: 'coreVersions' }
  | { type: 'groupList' }
  | { type: 'group'; group: string }
  | { type: 'resourceList'; group: string; version: string }
  | { type: 'openapiV3Index' }
  | { type: 'openapiV3'; path: string }
  | ResourceRoute
  | { type: 'notFound' };

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function resourceRoute(find: ResourceFinder, group: string, version: string, rest: string[]): Route {
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // `namespaces/<ns>/<resource>…` is a namespaced request unless it addresses the Namespace itself.
  if (group === '' && rest[0] === 'namespaces' && rest.length >= 3 && !NAMESPACE_SUBRESOURCES.has(rest[2] ?? '')) {
    namespace = rest[1];
    rest = rest.slice(2);
  } else if (group !== '' && rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (plural === undefined || extra.length > 0) return { type: 'notFound' };
  const info = find(group, version, plural);
  if (info === undefined) return { type: 'notFound' };
  if (!info.namespaced && namespace !== undefined) return { type: 'notFound' };
  if (info.namespaced && namespace === undefined && name !== undefined) return { type: 'notFound' };
  return { type: 'resource', info, namespace, name, subresource, legacyWatch };
}

/** Routes a URL pathname (already split from its query). */
export function route(pathname: string, find: ResourceFinder): Route {
  const parts = pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  const [root, a, b, ...rest] = parts;
  if (root === 'version' && parts.length === 1) return { type: 'version' };
  if ((root === 'healthz' || root === 'livez' || root === 'readyz') && parts.length === 1) return { type: 'health' };
  if (root === 'openapi' && a === 'v3') {
    return parts.length === 2 ? { type: 'openapiV3Index' } : { type: 'openapiV3', path: parts.slice(2).join('/') };
  }
  if (root === 'api') {
    if (a === undefined) return { type: 'coreVersions' };
    if (a !== 'v1') return { type: 'notFound' };
    if (b === undefined) return { type: 'resourceList', group: '', version: 'v1' };
    return resourceRoute(find, '', 'v1', [b, ...rest]);
  }
  if (root === 'apis') {
    if (a === undefined) return { type: 'groupList' };
    if (b === undefined) return { type: 'group', group: a };
    if (rest.length === 0) return { type: 'resourceList', group: a, version: b };
    return resourceRoute(find, a, b, rest);
  }
  return { type: 'notFound' };
}
