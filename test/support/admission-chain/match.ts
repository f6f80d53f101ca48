/**
 * Which webhooks a request is sent to, as `generic.Webhook.ShouldCallHook` decides: namespaceSelector,
 * then objectSelector, then the rules (operations, groups, versions, resources with subresources,
 * scope), then — for `matchPolicy: Equivalent` only — the rules against equivalent resources, and
 * last the matchConditions (CEL). A selector error only surfaces when a rule matched. Pure.
 */
import type { Parsed } from '../../../src/errors.js';
import type { AdmissionOptions, GroupVersionKind, GroupVersionResource, UserInfo } from '../api-server/index.js';
import { conditionBindings, evaluateConditions, type CompiledCondition } from './match-conditions.js';
import { forbidden, internalError, namespaceNotFound, type ChainError } from './status.js';
import type { EquivalentResources, LabelSelector, SkippedWebhook, WebhookBase, WebhookRule } from './types.js';

/** The label every namespace carries, set by the apiserver to the namespace's own name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The request facts matching looks at (`admission.Attributes`). */
export interface MatchAttributes {
  operation: string;
  resource: GroupVersionResource;
  subResource: string;
  kind: GroupVersionKind;
  namespace: string;
  /** `''` when the request names no object. */
  name: string;
  userInfo: UserInfo;
  dryRun: boolean;
  options: AdmissionOptions | null;
  object: unknown;
  oldObject: unknown;
}

/** What a matching webhook is called with: the resource and kind of the rule that matched. */
export interface Invocation {
  resource: GroupVersionResource;
  kind: GroupVersionKind;
  subResource: string;
}

/**
 * The decision for one webhook. A skip by matchConditions names the false condition (or carries the
 * errors failurePolicy Ignore skipped over); an error may come with the apiserver's log line.
 */
export type MatchResult =
  | { call: Invocation }
  | { skip: SkippedWebhook['reason']; condition?: string; errors?: string }
  | { error: ChainError; log?: string };

/** Facts about the cluster matching needs, and a webhook's compiled matchConditions (compiled once, by the chain). */
export interface MatchContext {
  namespaceLabels: (namespace: string) => Record<string, string> | undefined;
  equivalentResources: EquivalentResources;
  conditions: (hook: WebhookBase) => readonly CompiledCondition[] | undefined;
}

type LabelTest = (labels: Record<string, string>) => boolean;

/**
 * `metav1.LabelSelectorAsSelector`: matchLabels are equalities; In/NotIn need values, Exists and
 * DoesNotExist take none; NotIn and DoesNotExist also hold when the key is absent. `{}` selects all.
 */
export function compileSelector(sel: LabelSelector): Parsed<LabelTest> {
  const tests: LabelTest[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) tests.push((l) => Object.hasOwn(l, key) && l[key] === value);
  for (const expr of sel.matchExpressions ?? []) {
    const values = expr.values ?? [];
    const key = expr.key;
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return { ok: false, error: `values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty` };
        tests.push(expr.operator === 'In' ? (l) => Object.hasOwn(l, key) && values.includes(l[key] ?? '') : (l) => !Object.hasOwn(l, key) || !values.includes(l[key] ?? ''));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return { ok: false, error: `values: Invalid value: ${JSON.stringify(values)}: values set must be empty for exists and does not exist` };
        tests.push(expr.operator === 'Exists' ? (l) => Object.hasOwn(l, key) : (l) => !Object.hasOwn(l, key));
        break;
      default:
        return { ok: false, error: `${JSON.stringify(expr.operator)} is not a valid label selector operator` };
    }
  }
  return { ok: true, value: (labels) => tests.every((t) => t(labels)) };
}

function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

function labelsOf(obj: unknown): Record<string, string> | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const meta = (obj as Record<string, unknown>)['metadata'];
  const labels = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)['labels'] : undefined;
  return typeof labels === 'object' && labels !== null ? (labels as Record<string, string>) : {};
}

/**
 * `namespace.Matcher.MatchNamespaceSelector`: true, false, or an error (unknown namespace, bad
 * selector). Webhooks and admission policies share it.
 */
export function matchNamespaceSelector(selector: LabelSelector, attr: MatchAttributes, ctx: Pick<MatchContext, 'namespaceLabels'>): { matches: boolean; error?: ChainError } {
  const isNamespace = attr.resource.group === '' && attr.resource.resource === 'namespaces';
  // Cluster-scoped objects other than namespaces are never exempted by a namespaceSelector.
  if (attr.namespace === '' && !isNamespace) return { matches: true };
  const sel = compileSelector(selector);
  if (!sel.ok) return { matches: false, error: internalError(sel.error) };
  if (isEmptySelector(selector)) return { matches: true };
  let labels: Record<string, string> | undefined;
  if (isNamespace && attr.subResource === '' && (attr.operation === 'CREATE' || attr.operation === 'UPDATE')) {
    // The namespace being written is not in the informer yet: its own labels decide.
    labels = labelsOf(attr.object) ?? {};
  } else {
    const known = ctx.namespaceLabels(attr.namespace);
    if (known === undefined) return { matches: false, error: namespaceNotFound(attr.namespace) };
    labels = { ...known, [NAMESPACE_NAME_LABEL]: attr.namespace };
  }
  return { matches: sel.value(labels) };
}

/** `object.Matcher.MatchObjectSelector`: the labels of object OR oldObject; a null object never matches. */
export function matchObjectSelector(selector: LabelSelector, attr: MatchAttributes): { matches: boolean; error?: ChainError } {
  const sel = compileSelector(selector);
  if (!sel.ok) return { matches: false, error: internalError(sel.error) };
  if (isEmptySelector(selector)) return { matches: true };
  // A Scale has metadata but no labels: it matches only selectors an empty label set satisfies.
  const matches = [attr.object, attr.oldObject].some((o) => {
    const labels = labelsOf(o);
    return labels !== undefined && sel.value(labels);
  });
  return { matches };
}

function exactOrWildcard(items: string[], requested: string): boolean {
  return items.some((i) => i === '*' || i === requested);
}

function scopeMatches(rule: WebhookRule, resource: GroupVersionResource, namespace: string): boolean {
  const isNamespace = resource.group === '' && resource.version === 'v1' && resource.resource === 'namespaces';
  if (rule.scope === '*') return true;
  if (rule.scope === 'Namespaced') return !isNamespace && namespace !== '';
  return isNamespace || namespace === '';
}

/**
 * `rules.Matcher.Matches`. A rule resource is `res` or `res/sub`: `*` stands for any resource and
 * `sub` = `*` for any subresource *including none* (so `deployments/*` matches `deployments` too),
 * while a bare `res` matches the main resource only (`deployments` ≠ `deployments/scale`).
 */
export function ruleMatches(rule: WebhookRule, operation: string, resource: GroupVersionResource, subResource: string, namespace: string): boolean {
  if (!scopeMatches(rule, resource, namespace)) return false;
  if (!rule.operations.some((op) => op === '*' || op === operation)) return false;
  if (!exactOrWildcard(rule.apiGroups, resource.group) || !exactOrWildcard(rule.apiVersions, resource.version)) return false;
  return rule.resources.some((entry) => {
    const slash = entry.indexOf('/');
    const res = slash < 0 ? entry : entry.slice(0, slash);
    const sub = slash < 0 ? '' : entry.slice(slash + 1);
    return (res === '*' || res === resource.resource) && (sub === '*' || sub === subResource);
  });
}

function sameResource(a: GroupVersionResource, b: GroupVersionResource): boolean {
  return a.group === b.group && a.version === b.version && a.resource === b.resource;
}

function findInvocation(hook: WebhookBase, attr: MatchAttributes, ctx: MatchContext): Invocation | undefined {
  for (const rule of hook.rules) {
    if (ruleMatches(rule, attr.operation, attr.resource, attr.subResource, attr.namespace)) {
      return { resource: attr.resource, kind: attr.kind, subResource: attr.subResource };
    }
  }
  if (hook.matchPolicy !== 'Equivalent') return undefined;
  const equivalents = ctx.equivalentResources(attr.resource, attr.subResource);
  // Earlier rules win over later ones, whichever equivalent they match.
  for (const rule of hook.rules) {
    for (const eq of equivalents) {
      if (sameResource(eq.resource, attr.resource)) continue;
      if (ruleMatches(rule, attr.operation, eq.resource, attr.subResource, attr.namespace)) {
        return { resource: eq.resource, kind: eq.kind, subResource: attr.subResource };
      }
    }
  }
  return undefined;
}

/**
 * Decides whether `hook` is called for `attr`. matchConditions come last, with `request.kind` and
 * `request.resource` the invocation's; an evaluation error under failurePolicy Fail is a 403
 * (`apierrors.NewForbidden` of the request's resource and name).
 */
export function shouldCallHook(hook: WebhookBase, attr: MatchAttributes, ctx: MatchContext): MatchResult {
  const ns = matchNamespaceSelector(hook.namespaceSelector, attr, ctx);
  if (!ns.matches && ns.error === undefined) return { skip: 'namespaceSelector' };
  const obj = matchObjectSelector(hook.objectSelector, attr);
  if (!obj.matches && obj.error === undefined) return { skip: 'objectSelector' };
  const invocation = findInvocation(hook, attr, ctx);
  if (invocation === undefined) return { skip: 'rules' };
  if (ns.error !== undefined) return { error: ns.error };
  if (obj.error !== undefined) return { error: obj.error };
  if (hook.matchConditions.length === 0) return { call: invocation };
  const compiled = ctx.conditions(hook);
  if (compiled === undefined) throw new Error(`webhook ${hook.name}: its matchConditions were not compiled (compileConfigurations)`);
  const outcome = evaluateConditions(compiled, hook.failurePolicy, conditionBindings(attr, invocation));
  if ('error' in outcome) {
    return { error: forbidden(attr.resource, attr.name, outcome.error), log: `Failed evaluating match conditions, failing closed ${hook.name}: ${outcome.error}` };
  }
  if (outcome.matches) return { call: invocation };
  return { skip: 'matchConditions', ...(outcome.condition === undefined ? {} : { condition: outcome.condition }), ...(outcome.errors === undefined ? {} : { errors: outcome.errors }) };
}

/** The default equivalence: kube-apiserver 1.35 serves each of tracegate's resources at one version only. */
export const noEquivalents: EquivalentResources = () => [];
