/**
 * A compiled rule's parameters as plain JSON, defaults included — what the rule enforces right now
 * (allowed registries, trusted users, break-glass groups …), and the compliance view of a whole set built
 * from them, for `tracegate policies` and GET /policies. Pure. Image patterns and regular expressions
 * appear as written; quantities in their canonical form.
 */
import { formatQuantity, type Quantity } from '../quantities/index.js';
import type { PolicyOutcome } from './cluster-state.js';
import type { CompiledCheck, CompiledKeyRequirement, ImageSourceList, PolicySet, ProvenanceKey } from './types.js';
import type { ImagePattern } from '../images/index.js';

const sources = (patterns: readonly ImagePattern[]): string[] => patterns.map((p) => p.source);
const quantities = (map: ReadonlyMap<string, Quantity>): Record<string, string> => Object.fromEntries([...map].map(([k, q]) => [k, formatQuantity(q)]));
const keys = (list: readonly CompiledKeyRequirement[]) => list.map((k) => ({ key: k.key, ...(k.allowedRegex !== undefined ? { allowedRegex: k.allowedRegex } : {}) }));
/** The annotation and its aliases, in lookup order. */
const lookup = (k: ProvenanceKey): string[] => [...k.keys];

/** The parameters of one rule's check. */
export function ruleParameters(check: CompiledCheck): Record<string, unknown> {
  switch (check.type) {
    case 'images': {
      const s = check.spec;
      return {
        allowed: sources(s.allowed),
        disallowed: sources(s.disallowed),
        disallowedTags: [...s.disallowedTags],
        disallowedTagsCaseInsensitive: s.disallowedTagsFolded.size > 0 || s.disallowedTags.size === 0,
        requireTag: s.requireTag,
        requireDigest: s.requireDigest,
        digestAlgorithms: [...s.digestAlgorithms],
        exempt: sources(s.exempt),
        containers: [...s.containers] as ImageSourceList[],
      };
    }
    case 'resources': {
      const s = check.spec;
      return {
        requests: [...s.requests],
        limits: [...s.limits],
        maxRequests: quantities(s.maxRequests),
        maxLimits: quantities(s.maxLimits),
        maxLimitRequestRatio: quantities(s.maxLimitRequestRatio),
        minRequests: quantities(s.minRequests),
        minLimits: quantities(s.minLimits),
        exempt: sources(s.exempt),
        containers: [...s.containers],
      };
    }
    case 'metadata':
      return { target: check.spec.target, labels: keys(check.spec.labels), annotations: keys(check.spec.annotations) };
    case 'provenance': {
      const s = check.spec;
      return {
        commit: lookup(s.commit),
        approver: lookup(s.approver),
        pipelineRun: lookup(s.pipelineRun),
        requireCommit: s.requireCommit,
        requireFreshCommit: s.requireFreshCommit,
        requireApprover: s.requireApprover,
        requirePipelineRun: s.requirePipelineRun,
        separationOfDuties: s.separationOfDuties,
        commitPattern: s.commitPatternSource,
        scriptManagers: [...s.scriptManagers],
        trustedManagers: [...s.trustedManagers],
        trustedUsers: [...s.trustedUsers],
        trustedGroups: [...s.trustedGroups],
        ...(s.breakGlass ? { breakGlass: { annotation: s.breakGlass.annotation, groups: [...s.breakGlass.groups] } } : {}),
      };
    }
    case 'revisionHistory':
      return { minimum: check.spec.minimum };
  }
}

/** One parameter as text: lists joined, maps as `k=v`, empty ones as `-`. */
export function parameterText(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ') : '-';
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length ? entries.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : String(v)}`).join(', ') : '-';
  }
  return String(value);
}

/** Where the set came from and when it was loaded (the gate's view), and objects refused. */
export interface PolicySetContext {
  source?: string;
  loadedAt?: Date;
  refused?: readonly PolicyOutcome[];
}

/** The compliance view of a policy set, shared by the CLI and the gate's GET /policies. */
export function describePolicySet(set: PolicySet, context: PolicySetContext = {}) {
  return {
    digest: set.digest,
    ...(context.source !== undefined ? { source: context.source } : {}),
    ...(context.loadedAt !== undefined ? { loadedAt: context.loadedAt.toISOString() } : {}),
    policies: set.policies.map((p) => ({
      name: p.name,
      version: p.version,
      digest: p.digest,
      source: p.source.file,
      ...(p.source.generation !== undefined ? { generation: p.source.generation } : {}),
      ...(p.description ? { description: p.description } : {}),
      rules: p.rules.map((r) => ({
        id: r.id,
        action: r.action,
        check: r.check.type,
        ...(r.description ? { description: r.description } : {}),
        parameters: ruleParameters(r.check),
      })),
    })),
    ...(context.refused
      ? {
          refused: context.refused.map((o) => ({
            name: o.name,
            ...(o.generation !== undefined ? { generation: o.generation } : {}),
            reason: o.reason,
            message: o.message,
            enforced: o.enforced ? { version: o.enforced.version, digest: o.enforced.digest } : null,
          })),
        }
      : {}),
  };
}

export type PolicySetView = ReturnType<typeof describePolicySet>;
