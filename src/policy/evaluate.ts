/**
 * The policy engine: (policies, request context, object, old object) → violations and a verdict.
 * Pure and synchronous; everything expensive was compiled at load time.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';
import { changeViewOf, isWorkloadKind, podTemplateOf, templatePathPrefix } from '../workload/pod-template.js';
import { describeTemplateChange, templateChanged } from '../workload/template-diff.js';
import { policyMatches } from './match.js';
import { createParseMemo, sameImageSources, violationFactory, type CheckInput, type ParseMemo } from './rules/context.js';
import { checkImages } from './rules/images.js';
import { checkMetadata } from './rules/metadata.js';
import { checkProvenance } from './rules/provenance.js';
import { checkResources } from './rules/resources.js';
import { checkRevisionHistory } from './rules/revision-history.js';
import type { CompiledPolicy, CompiledRule, EvaluationResult, PolicySet, RequestContext, Verdict, Violation } from './types.js';

function runRule(policy: CompiledPolicy, rule: CompiledRule, input: CheckInput, result: EvaluationResult): Violation[] {
  const make = violationFactory(policy, rule);
  const c = rule.check;
  switch (c.type) {
    case 'images':
      return checkImages(c.spec, input, make);
    case 'resources':
      return checkResources(c.spec, input, make);
    case 'metadata':
      return checkMetadata(c.spec, input, make);
    case 'provenance': {
      const outcome = checkProvenance(c.spec, input, make);
      if (outcome.breakGlass) result.breakGlass = outcome.breakGlass;
      return outcome.violations;
    }
    case 'revisionHistory':
      return checkRevisionHistory(c.spec, input, make);
  }
}

/**
 * Subresources whose object is a whole Pod with a changed spec: `kubectl debug` adds ephemeral
 * containers through one and in-place resize changes resources through the other. Every other
 * subresource (scale, status, …) carries no pod template of its own to judge.
 */
const POD_SPEC_SUBRESOURCES: ReadonlySet<string> = new Set(['ephemeralcontainers', 'resize']);

/**
 * Identifies "the same problem" across the old and new object: containers and volumes by list and name,
 * not index, so inserting one does not resurrect another's grandfathered violation.
 */
function problemKey(v: Violation): string {
  const name = v.container ?? v.volume;
  const where = name === undefined ? v.path : v.path.replace(/(containers|initContainers|ephemeralContainers|volumes)\[\d+\]/, `$1[name=${name}]`);
  return `${v.rule}\u0000${where}\u0000${v.message}`;
}

/** The strongest action among violations decides: any deny → deny, else any warn → warn, else allow. */
export function verdictOf(violations: readonly Violation[]): Verdict {
  if (violations.some((v) => v.action === 'deny')) return 'deny';
  if (violations.some((v) => v.action === 'warn')) return 'warn';
  return 'allow';
}

/**
 * Evaluates every selected policy on a CREATE or UPDATE. Objects that are not workloads (a `Scale` from
 * `deployments/scale`, a DELETE's null object), DELETE and CONNECT, and subresources other than a Pod's
 * ephemeralcontainers and resize select nothing and are allowed: there is no pod template to judge.
 * On UPDATE, rules with `onUpdate: changed` report only violations the old object did not already have,
 * so a restart or scale of a grandfathered workload is not blocked by a newer policy. A caller that
 * evaluates many objects passes one `memo` to every call; without it, parsing is remembered per call.
 */
export function evaluate(set: PolicySet, ctx: RequestContext, object: KubeObject | null | undefined, oldObject?: KubeObject | null, memo?: ParseMemo): EvaluationResult {
  const result: EvaluationResult = { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] };
  if (!isRecord(object) || !isWorkloadKind(object.kind)) return result;
  // A deny on DELETE would make a bad workload impossible to remove.
  if (ctx.operation !== 'CREATE' && ctx.operation !== 'UPDATE') return result;
  if (ctx.subResource && !(object.kind === 'Pod' && POD_SPEC_SUBRESOURCES.has(ctx.subResource))) return result;
  const old = isRecord(oldObject) && oldObject.kind === object.kind ? oldObject : undefined;
  const template = podTemplateOf(object);
  const oldTemplate = old ? podTemplateOf(old) : undefined;
  const view = changeViewOf(object);
  const oldView = old ? changeViewOf(old) : undefined;
  const changed = ctx.operation === 'CREATE' || !old ? true : templateChanged(oldView, view);
  result.templateChanged = changed;
  result.changes = changed ? describeTemplateChange(oldView, view) : [];
  const { image, quantity } = memo ?? createParseMemo();
  const prefix = templatePathPrefix(object.kind);
  const input: CheckInput = { ctx, object, oldObject: old, template, oldTemplate, templatePrefix: prefix, templateChanged: changed, changes: result.changes, image, quantity };
  // The old object is judged only to grandfather what it already had, and only on UPDATE.
  const grandfathering = old !== undefined && ctx.operation === 'UPDATE';
  let oldInput: CheckInput | undefined;
  /** Whether old and new run the same images, worked out once and only when an images rule asks. */
  let sameImages: boolean | undefined;

  for (const policy of set.policies) {
    if (!policyMatches(policy, ctx, object)) continue;
    result.applied.push({ name: policy.name, version: policy.version, digest: policy.digest });
    for (const rule of policy.rules) {
      const grandfathered = grandfathering && rule.onUpdate === 'changed' && rule.check.type !== 'provenance';
      // An images rule reads only the names and images of containers and image volumes: when the old
      // object had the same ones, everything it could find there is grandfathered. Asked directly rather
      // than through `changed`, which need not count every image (an ephemeral container added by
      // `kubectl debug` is an image to judge even where it is not a change of what the workload runs).
      if (grandfathered && rule.check.type === 'images' && (sameImages ??= sameImageSources(oldTemplate, template))) continue;
      let found = runRule(policy, rule, input, result);
      if (found.length && grandfathered) {
        oldInput ??= { ...input, object: old, oldObject: undefined, template: oldTemplate, oldTemplate: undefined };
        const before = new Set(runRule(policy, rule, oldInput, result).map(problemKey));
        found = found.filter((v) => !before.has(problemKey(v)));
      }
      if (found.length) result.violations.push(...found);
    }
  }
  result.verdict = verdictOf(result.violations);
  return result;
}
