/**
 * Turns a Gatekeeper library case (constraint kind + parameters) into the equivalent tracegate policy.
 * Each translation is the closest tracegate expression of the upstream semantics; where tracegate is
 * deliberately stricter (path-boundary repository prefixes), the README argues it.
 */
import type { PolicyDocument, RuleSpec } from '../../src/policy/types.js';

type Params = Record<string, unknown>;

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** Gatekeeper K8sAllowedRepos/K8sDisallowedRepos entries are plain prefixes; ours match at a `/` boundary. */
function repoPrefix(entry: string): string {
  return entry.endsWith('/') || entry.includes('*') ? entry : `${entry}/`;
}

/** exemptImages: exact image, or `prefix*`. Our patterns read both the same way. */
const exempt = (p: Params) => asList(p.exemptImages);

function limitsOrRequests(kind: 'limits' | 'requests', p: Params): RuleSpec['resources'] {
  const names = ['cpu', 'memory'].filter((n) => p[n] !== undefined && String(p[n]) !== '-1');
  const max = Object.fromEntries(names.map((n) => [n, p[n] as string | number]));
  return {
    [kind]: names,
    [kind === 'limits' ? 'maxLimits' : 'maxRequests']: max,
    ...(exempt(p).length ? { exempt: exempt(p) } : {}),
  };
}

/** The tracegate rule for one Gatekeeper constraint kind, or undefined when the kind is unknown. */
export function ruleFor(kind: string, p: Params): RuleSpec | undefined {
  const base = { id: 'case', action: 'deny' as const, onUpdate: 'always' as const };
  switch (kind) {
    case 'K8sAllowedRepos':
      return { ...base, images: { allowed: asList(p.repos).map(repoPrefix) } };
    case 'K8sAllowedReposv2':
      return { ...base, images: { allowed: asList(p.allowedImages) } };
    case 'K8sDisallowedRepos':
      return { ...base, images: { disallowed: asList(p.repos).map(repoPrefix) } };
    case 'K8sDisallowedTags':
      return { ...base, images: { disallowedTags: asList(p.tags), requireTag: true, ...(exempt(p).length ? { exempt: exempt(p) } : {}) } };
    case 'K8sImageDigests':
      return { ...base, images: { requireDigest: true, ...(exempt(p).length ? { exempt: exempt(p) } : {}) } };
    case 'K8sContainerLimits':
      return { ...base, resources: limitsOrRequests('limits', p) };
    case 'K8sContainerRequests':
      return { ...base, resources: limitsOrRequests('requests', p) };
    case 'K8sRequiredResources':
      return { ...base, resources: { limits: asList(p.limits), requests: asList(p.requests) } };
    case 'K8sContainerRatios': {
      const ratio = String(p.ratio);
      const cpu = p.cpuRatio !== undefined ? String(p.cpuRatio) : ratio;
      return { ...base, resources: { maxLimitRequestRatio: { memory: ratio, cpu } } };
    }
    case 'K8sRequiredLabels':
    case 'K8sRequiredAnnotations': {
      const list = (Array.isArray(p.labels) ? p.labels : Array.isArray(p.annotations) ? p.annotations : []) as { key: string; allowedRegex?: string }[];
      const reqs = list.map((r) => ({ key: r.key, ...(r.allowedRegex ? { allowedRegex: r.allowedRegex } : {}) }));
      const field = kind === 'K8sRequiredLabels' ? 'labels' : 'annotations';
      if (reqs.length === 0) return undefined; // nothing required: Gatekeeper allows everything
      return { ...base, ...(typeof p.message === 'string' ? { message: p.message } : {}), metadata: { [field]: reqs } };
    }
    default:
      return undefined;
  }
}

/** A whole policy document for a case; undefined means "nothing to enforce" (always allow). */
export function policyFor(kind: string, params: Params, target: 'object' | 'podTemplate' = 'object'): PolicyDocument | undefined {
  const rule = ruleFor(kind, params);
  if (!rule) return undefined;
  if (rule.metadata) rule.metadata.target = target;
  return { apiVersion: 'tracegate.io/v1alpha1', kind: 'Policy', metadata: { name: 'conformance', version: '1' }, spec: { rules: [rule] } };
}
