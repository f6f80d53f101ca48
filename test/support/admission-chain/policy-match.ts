/**
 * Whether a policy's matchConstraints (or a binding's matchResources) select a request, as
 * `K/apiserver/pkg/admission/plugin/policy/matching/matching.go` Matcher.Matches decides:
 * namespaceSelector, then objectSelector (the webhooks' matchers, match.ts), then excludeResourceRules
 * (any match excludes), then resourceRules — none means every resource — where a rule with
 * resourceNames matches only those names; `matchPolicy: Equivalent` retries the rules against the
 * equivalent resources. A selector error (an unknown namespace) only counts once the rules matched.
 * A binding without matchResources matches everything its policy does (policy_matcher.go
 * BindingMatches). Pure.
 */
import { matchNamespaceSelector, matchObjectSelector, ruleMatches, type Invocation, type MatchAttributes, type MatchContext } from './match.js';
import type { MatchResources, NamedRule } from './policy-types.js';
import type { WebhookRule } from './types.js';

/** The match, with the resource and kind the matching rule saw (the equivalent ones for Equivalent). */
export type PolicyMatch = { matches: false } | { matches: true; invocation: Invocation } | { error: string };

function matchesNamedRule(rule: NamedRule, attr: MatchAttributes, resource: MatchAttributes['resource']): boolean {
  if (!ruleMatches({ ...rule, scope: rule.scope as WebhookRule['scope'] }, attr.operation, resource, attr.subResource, attr.namespace)) return false;
  // An empty resourceNames matches every name; a generateName create (no name yet) matches none.
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(attr.name);
}

/** matchesResourceRules: the rules against the request's resource, then (Equivalent) its equivalents. */
function matchRules(rules: readonly NamedRule[], matchPolicy: string, attr: MatchAttributes, ctx: MatchContext): Invocation | undefined {
  for (const rule of rules) {
    if (matchesNamedRule(rule, attr, attr.resource)) return { resource: attr.resource, kind: attr.kind, subResource: attr.subResource };
  }
  if (matchPolicy !== 'Equivalent') return undefined;
  const equivalents = ctx.equivalentResources(attr.resource, attr.subResource);
  for (const rule of rules) {
    for (const eq of equivalents) {
      const same = eq.resource.group === attr.resource.group && eq.resource.version === attr.resource.version && eq.resource.resource === attr.resource.resource;
      if (!same && matchesNamedRule(rule, attr, eq.resource)) return { resource: eq.resource, kind: eq.kind, subResource: attr.subResource };
    }
  }
  return undefined;
}

/** Matcher.Matches for one MatchResources. */
export function matchResources(mr: MatchResources, attr: MatchAttributes, ctx: MatchContext): PolicyMatch {
  const ns = matchNamespaceSelector(mr.namespaceSelector, attr, ctx);
  if (!ns.matches && ns.error === undefined) return { matches: false };
  const obj = matchObjectSelector(mr.objectSelector, attr);
  if (!obj.matches && obj.error === undefined) return { matches: false };
  if (matchRules(mr.excludeResourceRules, mr.matchPolicy, attr, ctx) !== undefined) return { matches: false };
  const invocation = mr.resourceRules.length === 0 ? { resource: attr.resource, kind: attr.kind, subResource: attr.subResource } : matchRules(mr.resourceRules, mr.matchPolicy, attr, ctx);
  if (invocation === undefined) return { matches: false };
  if (ns.error !== undefined) return { error: ns.error.message };
  if (obj.error !== undefined) return { error: obj.error.message };
  return { matches: true, invocation };
}
