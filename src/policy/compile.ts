/**
 * Turns a schema-valid policy document into the compiled form the engine runs: regexes, image patterns
 * and quantities are built once here, never per request. Pure. Problems the schema cannot express
 * (a bad regex, an unparseable quantity, duplicate rule ids) come back as path + message pairs.
 */
import { compileImagePattern, type ImagePattern } from '../images/index.js';
import { parseQuantity, type Quantity } from '../quantities/index.js';
import {
  CHANGE_COMMIT_NAME,
  USED_COMMITS_NAME,
  DEFAULT_SCRIPT_MANAGERS,
  DEFAULT_TRUSTED_MANAGERS,
  IMAGE_CONTAINER_LISTS,
  PROVENANCE_KEY_DEFAULTS,
  RESOURCE_CONTAINER_LISTS,
} from './defaults.js';
import { sha256Digest } from './digest.js';
import { globToRegExp } from './glob.js';
import { childPath } from '../yaml/locate.js';
import type {
  CompiledCheck,
  CompiledKeyRequirement,
  CompiledPolicy,
  CompiledRule,
  KeyRequirement,
  PolicyDocument,
  PolicySource,
  ProvenanceKey,
  ProvenanceKeySpec,
  RuleSpec,
} from './types.js';

export interface CompileProblem {
  /** Path inside the document, e.g. `spec.rules[1].images.allowed[0]`. */
  path: string;
  message: string;
}

export interface CompileOptions {
  /** Prefix of tracegate's own annotations (default `tracegate.io/`). */
  annotationPrefix: string;
}

type Problems = CompileProblem[];

function patterns(entries: readonly string[] | undefined, path: string, problems: Problems): ImagePattern[] {
  const out: ImagePattern[] = [];
  (entries ?? []).forEach((entry, i) => {
    const p = compileImagePattern(entry);
    if (p.ok) out.push(p.value);
    else problems.push({ path: `${path}[${i}]`, message: `invalid image pattern ${JSON.stringify(entry)}: ${p.error}` });
  });
  return out;
}

function quantities(map: Record<string, string | number> | undefined, path: string, problems: Problems): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  for (const [name, raw] of Object.entries(map ?? {})) {
    const q = parseQuantity(raw);
    if (q.ok) out.set(name, q.value);
    else problems.push({ path: childPath(path, name), message: `invalid quantity ${JSON.stringify(raw)}: ${q.error}` });
  }
  return out;
}

function keyRequirements(items: readonly KeyRequirement[] | undefined, path: string, problems: Problems): CompiledKeyRequirement[] {
  return (items ?? []).map((item, i) => {
    if (item.allowedRegex === undefined || item.allowedRegex === '') return { key: item.key };
    try {
      // Unanchored like Gatekeeper's regex.match: anchors are part of the pattern when wanted.
      return { key: item.key, allowedRegex: item.allowedRegex, regex: new RegExp(item.allowedRegex) };
    } catch (err) {
      problems.push({ path: `${path}[${i}].allowedRegex`, message: `invalid regular expression: ${(err as Error).message}` });
      return { key: item.key };
    }
  });
}

function provenanceKey(spec: ProvenanceKeySpec | undefined, fallback: { name: string; aliases: readonly string[] }, prefix: string): ProvenanceKey {
  const annotation = spec?.annotation ?? `${prefix}${fallback.name}`;
  const aliases = spec?.aliases ?? fallback.aliases;
  return { annotation, keys: [...new Set([annotation, ...aliases])] };
}

function compileCheck(rule: RuleSpec, path: string, problems: Problems, opts: CompileOptions): CompiledCheck {
  if (rule.images) {
    const r = rule.images;
    return {
      type: 'images',
      spec: {
        allowed: patterns(r.allowed, `${path}.images.allowed`, problems),
        disallowed: patterns(r.disallowed, `${path}.images.disallowed`, problems),
        disallowedTags: new Set(r.disallowedTags ?? []),
        requireTag: r.requireTag ?? false,
        requireDigest: r.requireDigest ?? false,
        exempt: patterns(r.exempt, `${path}.images.exempt`, problems),
        containers: r.containers ?? IMAGE_CONTAINER_LISTS,
      },
    };
  }
  if (rule.resources) {
    const r = rule.resources;
    if (r.containers?.includes('ephemeralContainers')) {
      problems.push({ path: `${path}.resources.containers`, message: 'ephemeral containers cannot have resources; remove ephemeralContainers' });
    }
    return {
      type: 'resources',
      spec: {
        requests: r.requests ?? [],
        limits: r.limits ?? [],
        maxRequests: quantities(r.maxRequests, `${path}.resources.maxRequests`, problems),
        maxLimits: quantities(r.maxLimits, `${path}.resources.maxLimits`, problems),
        maxLimitRequestRatio: quantities(r.maxLimitRequestRatio, `${path}.resources.maxLimitRequestRatio`, problems),
        exempt: patterns(r.exempt, `${path}.resources.exempt`, problems),
        containers: r.containers ?? RESOURCE_CONTAINER_LISTS,
      },
    };
  }
  if (rule.metadata) {
    const r = rule.metadata;
    if (!r.labels?.length && !r.annotations?.length) {
      problems.push({ path: `${path}.metadata`, message: 'a metadata rule needs at least one of labels or annotations' });
    }
    return {
      type: 'metadata',
      spec: {
        target: r.target ?? 'object',
        labels: keyRequirements(r.labels, `${path}.metadata.labels`, problems),
        annotations: keyRequirements(r.annotations, `${path}.metadata.annotations`, problems),
      },
    };
  }
  const r = rule.provenance ?? {};
  const prefix = opts.annotationPrefix;
  return {
    type: 'provenance',
    spec: {
      commit: provenanceKey(r.commit, PROVENANCE_KEY_DEFAULTS.commit, prefix),
      usedCommits: `${prefix}${USED_COMMITS_NAME}`,
      changeCommit: `${prefix}${CHANGE_COMMIT_NAME}`,
      approver: provenanceKey(r.approver, PROVENANCE_KEY_DEFAULTS.approver, prefix),
      pipelineRun: provenanceKey(r.pipelineRun, PROVENANCE_KEY_DEFAULTS.pipelineRun, prefix),
      requireCommit: r.requireCommit ?? true,
      requireFreshCommit: r.requireFreshCommit ?? true,
      requireApprover: r.requireApprover ?? true,
      requirePipelineRun: r.requirePipelineRun ?? false,
      separationOfDuties: r.separationOfDuties ?? true,
      scriptManagers: new Set(r.scriptManagers ?? DEFAULT_SCRIPT_MANAGERS),
      trustedManagers: new Set(r.trustedManagers ?? DEFAULT_TRUSTED_MANAGERS),
      trustedUsers: new Set(r.trustedUsers ?? []),
      trustedGroups: new Set(r.trustedGroups ?? []),
      ...(r.breakGlass ? { breakGlass: { annotation: r.breakGlass.annotation, groups: new Set(r.breakGlass.groups) } } : {}),
    },
  };
}

/** Compiles one schema-valid document; `problems` is non-empty when it cannot be used. */
export function compilePolicy(
  doc: PolicyDocument,
  source: PolicySource,
  opts: CompileOptions,
): { ok: true; value: CompiledPolicy } | { ok: false; problems: CompileProblem[] } {
  const problems: Problems = [];
  const seen = new Set<string>();
  const rules: CompiledRule[] = doc.spec.rules.map((rule, i) => {
    const path = `spec.rules[${i}]`;
    if (seen.has(rule.id)) problems.push({ path: `${path}.id`, message: `duplicate rule id ${JSON.stringify(rule.id)}` });
    seen.add(rule.id);
    return {
      id: rule.id,
      ...(rule.description !== undefined ? { description: rule.description } : {}),
      action: rule.action ?? 'deny',
      ...(rule.message !== undefined ? { message: rule.message } : {}),
      ...(rule.fix !== undefined ? { fix: rule.fix } : {}),
      onUpdate: rule.onUpdate ?? 'changed',
      check: compileCheck(rule, path, problems, opts),
    };
  });
  if (problems.length) return { ok: false, problems };
  const m = doc.spec.match ?? {};
  const globs = (list?: string[]) => (list ? list.map(globToRegExp) : undefined);
  const match = {
    ...(m.kinds ? { kinds: new Set<string>(m.kinds) } : {}),
    ...(m.namespaces ? { namespaces: globs(m.namespaces)! } : {}),
    ...(m.excludeNamespaces ? { excludeNamespaces: globs(m.excludeNamespaces)! } : {}),
    ...(m.tenants ? { tenants: globs(m.tenants)! } : {}),
    ...(m.excludeTenants ? { excludeTenants: globs(m.excludeTenants)! } : {}),
    ...(m.labelSelector ? { labelSelector: m.labelSelector } : {}),
    ...(m.operations ? { operations: new Set<string>(m.operations) } : {}),
  };
  return {
    ok: true,
    value: deepFreeze({
      name: doc.metadata.name,
      version: doc.metadata.version ?? '0',
      ...(doc.metadata.description !== undefined ? { description: doc.metadata.description } : {}),
      digest: sha256Digest(doc),
      source,
      document: doc,
      match,
      rules,
    }),
  };
}

/** Freezes plain objects and arrays; RegExps, Sets, Maps and compiled patterns are left as built. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return value;
  Object.freeze(value);
  for (const v of Object.values(value as object)) deepFreeze(v);
  return value;
}
