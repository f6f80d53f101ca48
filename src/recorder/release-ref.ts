/**
 * Which Helm release a workload's record belongs to, read from the workload alone (pure): Helm's
 * ownership annotations — held to the workload's own namespace — or the adopted name tracegate gives a
 * workload nobody owns.
 */
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';

/** The Helm release a workload's revisions go to. */
export interface ReleaseRef {
  name: string;
  namespace: string;
  /** A release tracegate made for a workload that belonged to none. */
  adopted: boolean;
}

/** `web` → a valid Helm release name (≤ 53 characters, DNS-1123), for adopted workloads. */
export function defaultAdoptedName(obj: KubeObject): string {
  const base = (obj.metadata?.name ?? 'workload').toLowerCase().replace(/[^a-z0-9-.]/g, '-');
  // Helm caps release names at 53 characters so that generated object names stay within 63.
  return base.slice(0, 53).replace(/[-.]+$/, '') || 'workload';
}

/**
 * The release a workload belongs to by its annotations alone: Helm's, else the adopted name (without
 * the collision check {@link resolveRelease} makes against stored records).
 */
export function releaseOf(obj: KubeObject, adoptedName: (obj: KubeObject) => string): ReleaseRef {
  const a = obj.metadata?.annotations ?? {};
  const name = a['meta.helm.sh/release-name'];
  const own = obj.metadata?.namespace || 'default';
  if (name) {
    const namespace = a['meta.helm.sh/release-namespace'] || own;
    // As ownershipOf: the annotations are the workload writer's; a release elsewhere is never this workload's record.
    if (namespace !== own) throw foreignRelease(obj, `${namespace}/${name}`);
    return { name, namespace, adopted: false };
  }
  return { name: adoptedName(obj), namespace: own, adopted: true };
}

/** The error for a workload whose Helm annotations (or trail) name a release in another namespace. */
export function foreignRelease(obj: KubeObject, release: string): TracegateError {
  const ref = `${String(obj.kind ?? 'workload').toLowerCase()} ${obj.metadata?.namespace ?? 'default'}/${obj.metadata?.name ?? ''}`;
  return new TracegateError('RELEASE_NOT_FOUND', `${ref} names Helm release ${release} in another namespace: tracegate records it in its trail only, never in that release`);
}
