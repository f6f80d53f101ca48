/** Which policies select a request: kinds, namespaces, tenants, labels, operations. Pure. */
import { isRecord, type KubeObject } from '../k8s/types.js';
import { matchesAnyGlob } from './glob.js';
import type { CompiledPolicy, LabelSelector, RequestContext } from './types.js';

/** Kubernetes label-selector semantics: every matchLabels pair and every expression must hold. */
export function labelSelectorMatches(selector: LabelSelector, labels: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = String(labels[e.key]);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when `policy` applies to this object in this request. */
export function policyMatches(policy: CompiledPolicy, ctx: RequestContext, object: KubeObject): boolean {
  const m = policy.match;
  if (m.kinds && !m.kinds.has(String(object.kind))) return false;
  if (m.operations && !m.operations.has(ctx.operation)) return false;
  if (m.namespaces && !matchesAnyGlob(m.namespaces, ctx.namespace)) return false;
  if (m.excludeNamespaces && matchesAnyGlob(m.excludeNamespaces, ctx.namespace)) return false;
  if (m.tenants && (ctx.tenant === undefined || !matchesAnyGlob(m.tenants, ctx.tenant))) return false;
  if (m.excludeTenants && ctx.tenant !== undefined && matchesAnyGlob(m.excludeTenants, ctx.tenant)) return false;
  if (m.labelSelector) {
    const labels = object.metadata?.labels;
    if (!labelSelectorMatches(m.labelSelector, isRecord(labels) ? labels : {})) return false;
  }
  return true;
}
