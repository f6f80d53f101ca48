/**
 * A tenant annotation is tracegate's to write: a value supplied by the user that disagrees with the
 * namespace's tenant is refused, never trusted. A value carried over unchanged from the old object is
 * the gate's own earlier write and is simply refreshed. Pure.
 */
import type { KubeObject } from '../k8s/types.js';

/** The refusal message, or undefined when the annotation is absent, right, or carried over. */
export function tenantConflict(opts: {
  key: string;
  tenant: string | undefined;
  namespace: string;
  object: KubeObject | null;
  oldObject: KubeObject | null;
}): string | undefined {
  const supplied = opts.object?.metadata?.annotations?.[opts.key];
  if (typeof supplied !== 'string' || supplied === opts.tenant) return undefined;
  if (opts.oldObject?.metadata?.annotations?.[opts.key] === supplied) return undefined;
  const fix = `remove the ${opts.key} annotation; tracegate sets it from the namespace`;
  return opts.tenant === undefined
    ? `annotation ${opts.key}="${supplied}" claims a tenant, but namespace ${opts.namespace} belongs to no tenant. Fix: ${fix}`
    : `annotation ${opts.key}="${supplied}" does not match the tenant of namespace ${opts.namespace} ("${opts.tenant}"). Fix: ${fix}`;
}
