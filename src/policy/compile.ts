/**
 * Turns a schema-valid policy document into the compiled form the engine runs: regexes, image patterns
 * and quantities are built once here, never per request. Pure. Problems the schema cannot express
 * (a bad regex, an unparseable quantity, duplicate rule ids) come back as path + message pairs.
 */
import { compileImagePattern, REGISTERED_DIGEST_ALGORITHMS, type ImagePattern } from '../images/index.js';
import { compareQuantities, formatQuantity, parseQuantity, type Quantity } from '../quantities/index.js';
import {
  CHANGE_COMMIT_NAME,
  DEFAULT_COMMIT_PATTERN,
  USED_COMMITS_NAME,
  DEFAULT_SCRIPT_MANAGERS,
  DEFAULT_TRUSTED_MANAGERS,
  IMAGE_CONTAINER_LISTS,
  PROVENANCE_KEY_DEFAULTS,
  RESOURCE_CONTAINER_LISTS,
} from './defaults.js';
import { APPROVAL_ANNOTATION_NAME, CI_TOKEN_ANNOTATION_NAME } from '../approval/statement.js';
import { sha256Digest } from './digest.js';
import { globToRegExp } from './glob.js';
import { unreadableValue } from './identity.js';
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
  SignedApprovalSpec,
  CompiledSignedApproval,
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

/** Each minimum must not exceed the maximum for the same name, or nothing could pass. */
function checkBounds(min: ReadonlyMap<string, Quantity>, max: ReadonlyMap<string, Quantity>, path: string, problems: Problems): void {
  for (const [name, lower] of min) {
    const upper = max.get(name);
    if (upper && compareQuantities(lower, upper) > 0) {
      problems.push({ path: childPath(path, name), message: `minimum ${formatQuantity(lower)} is above the maximum ${formatQuantity(upper)}` });
    }
  }
}

/**
 * Identities in trust lists are compared exactly (as RBAC does), so one that cannot be read as written —
 * invisible characters, mixed scripts — is a mistake or a trap, never a usable entry.
 */
function identities(entries: readonly string[] | undefined, path: string, problems: Problems): Set<string> {
  (entries ?? []).forEach((entry, i) => {
    const problem = unreadableValue('identity', entry, true);
    if (problem) problems.push({ path: `${path}[${i}]`, message: problem });
  });
  return new Set(entries ?? []);
}

/** The rule's commit pattern, matched against the whole value. */
function commitPattern(source: string | undefined, path: string, problems: Problems): { commitPattern: RegExp; commitPatternSource: string } {
  const fallback = { commitPattern: new RegExp(`^(?:${DEFAULT_COMMIT_PATTERN})$`), commitPatternSource: '7 to 64 lowercase hex characters' };
  if (source === undefined || source === DEFAULT_COMMIT_PATTERN) return fallback;
  try {
    // Compiled alone first: `x)|(.*` is invalid alone, but anchored it would parse and match anything.
    new RegExp(source);
    return { commitPattern: new RegExp(`^(?:${source})$`), commitPatternSource: `a match of /${source}/` };
  } catch (err) {
    problems.push({ path, message: `invalid regular expression: ${(err as Error).message}` });
    return fallback;
  }
}

function provenanceKey(spec: ProvenanceKeySpec | undefined, fallback: { name: string; aliases: readonly string[] }, prefix: string): ProvenanceKey {
  const annotation = spec?.annotation ?? `${prefix}${fallback.name}`;
  const aliases = spec?.aliases ?? fallback.aliases;
  return { annotation, keys: [...new Set([annotation, ...aliases])] };
}

function compileCheck(rule: RuleSpec, path: string, problems: Problems, opts: CompileOptions): CompiledCheck {
  if (rule.images) {
    const r = rule.images;
    const tags = r.disallowedTags ?? [];
    return {
      type: 'images',
      spec: {
        allowed: patterns(r.allowed, `${path}.images.allowed`, problems),
        disallowed: patterns(r.disallowed, `${path}.images.disallowed`, problems),
        disallowedTags: new Set(tags),
        disallowedTagsFolded: new Map((r.disallowedTagsCaseInsensitive ?? true) ? tags.map((t) => [t.toLowerCase(), t] as const) : []),
        requireTag: r.requireTag ?? false,
        requireDigest: r.requireDigest ?? false,
        digestAlgorithms: new Set(r.digestAlgorithms ?? REGISTERED_DIGEST_ALGORITHMS),
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
    const maxRequests = quantities(r.maxRequests, `${path}.resources.maxRequests`, problems);
    const maxLimits = quantities(r.maxLimits, `${path}.resources.maxLimits`, problems);
    const minRequests = quantities(r.minRequests, `${path}.resources.minRequests`, problems);
    const minLimits = quantities(r.minLimits, `${path}.resources.minLimits`, problems);
    checkBounds(minRequests, maxRequests, `${path}.resources.minRequests`, problems);
    checkBounds(minLimits, maxLimits, `${path}.resources.minLimits`, problems);
    return {
      type: 'resources',
      spec: {
        requests: r.requests ?? [],
        limits: r.limits ?? [],
        maxRequests,
        maxLimits,
        maxLimitRequestRatio: quantities(r.maxLimitRequestRatio, `${path}.resources.maxLimitRequestRatio`, problems),
        minRequests,
        minLimits,
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
  if (rule.revisionHistory) return { type: 'revisionHistory', spec: { minimum: rule.revisionHistory.minimum } };
  const r = rule.provenance ?? {};
  const prefix = opts.annotationPrefix;
  const at = `${path}.provenance`;
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
      trustedUsers: identities(r.trustedUsers, `${at}.trustedUsers`, problems),
      trustedGroups: identities(r.trustedGroups, `${at}.trustedGroups`, problems),
      ...(r.breakGlass ? { breakGlass: { annotation: r.breakGlass.annotation, groups: identities(r.breakGlass.groups, `${at}.breakGlass.groups`, problems) } } : {}),
      ...commitPattern(r.commitPattern, `${at}.commitPattern`, problems),
      ...(r.signedApproval ? { signedApproval: signedApproval(r.signedApproval, prefix) } : {}),
    },
  };
}

/** `signedApproval` compiled (the schema checked its shape): lists become sets, absent ones accept all. */
function signedApproval(spec: SignedApprovalSpec, prefix: string): CompiledSignedApproval {
  return {
    require: spec.require,
    annotations: { approval: `${prefix}${APPROVAL_ANNOTATION_NAME}`, ciToken: `${prefix}${CI_TOKEN_ANNOTATION_NAME}` },
    ...(spec.keys ? { keys: new Set(spec.keys) } : {}),
    ...(spec.issuers ? { issuers: new Set(spec.issuers) } : {}),
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
