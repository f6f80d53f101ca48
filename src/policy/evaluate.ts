/**
 * The policy engine: (policies, request context, object, old object) → violations and a verdict.
 * Pure and synchronous; everything expensive was compiled at load time.
 */
import { parseImageRef } from '../images/index.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { isWorkloadKind, podTemplateOf, templatePathPrefix } from '../workload/pod-template.js';
import { describeTemplateChange, templateChanged } from '../workload/template-diff.js';
import { policyMatches } from './match.js';
import { imageCache, violationFactory, type CheckInput } from './rules/context.js';
import { checkImages } from './rules/images.js';
import { checkMetadata } from './rules/metadata.js';
import { checkProvenance } from './rules/provenance.js';
import { checkResources } from './rules/resources.js';
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
  }
}

/** The strongest action among violations decides: any deny → deny, else any warn → warn, else allow. */
export function verdictOf(violations: readonly Violation[]): Verdict {
  if (violations.some((v) => v.action === 'deny')) return 'deny';
  if (violations.some((v) => v.action === 'warn')) return 'warn';
  return 'allow';
}

/**
 * Evaluates every selected policy. Objects that are not workloads (a `Scale` from `deployments/scale`,
 * a DELETE's null object) select nothing and are allowed: there is no pod template to judge.
 * On UPDATE, rules with `onUpdate: changed` report only violations the old object did not already have,
 * so a restart or scale of a grandfathered workload is not blocked by a newer policy.
 */
export function evaluate(set: PolicySet, ctx: RequestContext, object: KubeObject | null | undefined, oldObject?: KubeObject | null): EvaluationResult {
  const result: EvaluationResult = { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] };
  if (!isRecord(object) || !isWorkloadKind(object.kind) || ctx.subResource) return result;
  const old = isRecord(oldObject) && oldObject.kind === object.kind ? oldObject : undefined;
  const template = podTemplateOf(object);
  const oldTemplate = old ? podTemplateOf(old) : undefined;
  const changed = ctx.operation === 'CREATE' || !old ? true : templateChanged(oldTemplate, template);
  result.templateChanged = changed;
  result.changes = changed ? describeTemplateChange(old ? oldTemplate : undefined, template) : [];
  const image = imageCache(parseImageRef);
  const prefix = templatePathPrefix(object.kind);
  const input: CheckInput = { ctx, object, oldObject: old, template, oldTemplate, templatePrefix: prefix, templateChanged: changed, changes: result.changes, image };
  const oldInput: CheckInput | undefined = old && ctx.operation === 'UPDATE'
    ? { ...input, object: old, oldObject: undefined, template: oldTemplate, oldTemplate: undefined }
    : undefined;

  for (const policy of set.policies) {
    if (!policyMatches(policy, ctx, object)) continue;
    result.applied.push({ name: policy.name, version: policy.version, digest: policy.digest });
    for (const rule of policy.rules) {
      let found = runRule(policy, rule, input, result);
      if (found.length && oldInput && rule.onUpdate === 'changed' && rule.check.type !== 'provenance') {
        const before = new Set(runRule(policy, rule, oldInput, result).map((v) => `${v.path}\u0000${v.message}`));
        found = found.filter((v) => !before.has(`${v.path}\u0000${v.message}`));
      }
      result.violations.push(...found);
    }
  }
  result.verdict = verdictOf(result.violations);
  return result;
}
