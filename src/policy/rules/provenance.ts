/**
 * The provenance rule: a CREATE, or an UPDATE that changes the pod template, made by a script-driven
 * field manager or by a user who is not a trusted deployer, must carry provenance that is new for this
 * change — a commit annotation that differs from the old object's, and an approver who is not the
 * requester. Break-glass lets named groups through, loudly.
 */
import { isRecord, type KubeObject } from '../../k8s/types.js';
import type { CompiledProvenanceRule, ProvenanceKey, RequestContext, Violation } from '../types.js';
import type { CheckInput, MakeViolation } from './context.js';

/** A provenance value and the annotation key it was found under. */
export interface FoundValue {
  key: string;
  value: string;
}

/** Looks a provenance key (or its aliases) up on the object's annotations, then its pod template's. */
export function findProvenance(obj: KubeObject | undefined, templateAnnotations: unknown, key: ProvenanceKey): FoundValue | undefined {
  for (const source of [obj?.metadata?.annotations, templateAnnotations]) {
    if (!isRecord(source)) continue;
    for (const k of key.keys) {
      const v = source[k];
      if (typeof v === 'string' && v.trim() !== '') return { key: k, value: v.trim() };
    }
  }
  return undefined;
}

/**
 * True when `approver` names the same person as the requesting user. Compared case-insensitively
 * against the username, its part before `@`, and a ServiceAccount's own name.
 */
export function sameIdentity(approver: string, username: string): boolean {
  const a = approver.trim().toLowerCase();
  const u = username.trim().toLowerCase();
  if (!a || !u) return false;
  const forms = new Set([u, u.split('@')[0]!]);
  const sa = /^system:serviceaccount:[^:]+:([^:]+)$/.exec(u);
  if (sa) forms.add(sa[1]!);
  const aForms = [a, a.split('@')[0]!];
  return aForms.some((f) => forms.has(f));
}

/** Why a change needs provenance, or undefined when it comes from a trusted deployer. */
export function provenanceReason(rule: CompiledProvenanceRule, ctx: RequestContext): 'script' | 'untrusted' | undefined {
  if (ctx.fieldManager !== undefined && rule.scriptManagers.has(ctx.fieldManager)) return 'script';
  const trustedUser = rule.trustedUsers.has(ctx.username) || ctx.groups.some((g) => rule.trustedGroups.has(g));
  const trustedTool = rule.trustedManagers.size === 0 || (ctx.fieldManager !== undefined && rule.trustedManagers.has(ctx.fieldManager));
  return trustedUser && trustedTool ? undefined : 'untrusted';
}

function keyList(key: ProvenanceKey): string {
  const aliases = key.keys.filter((k) => k !== key.annotation);
  return aliases.length ? `${key.annotation} (or ${aliases.slice(0, 2).join(', ')})` : key.annotation;
}

export interface ProvenanceOutcome {
  violations: Violation[];
  breakGlass?: { reason: string; user: string };
}

/** Evaluates the provenance rule; only CREATE and template-changing UPDATE are judged. */
export function checkProvenance(rule: CompiledProvenanceRule, input: CheckInput, make: MakeViolation): ProvenanceOutcome {
  const { ctx } = input;
  if (ctx.subResource) return { violations: [] };
  if (ctx.operation !== 'CREATE' && ctx.operation !== 'UPDATE') return { violations: [] };
  if (ctx.operation === 'UPDATE' && !input.templateChanged) return { violations: [] };
  const reason = provenanceReason(rule, ctx);
  if (!reason) return { violations: [] };

  const tAnn = input.template?.metadata?.annotations;
  const oldTAnn = input.oldTemplate?.metadata?.annotations;
  const commit = findProvenance(input.object, tAnn, rule.commit);
  const oldCommit = input.oldObject ? findProvenance(input.oldObject, oldTAnn, rule.commit) : undefined;
  const approver = findProvenance(input.object, tAnn, rule.approver);
  const run = findProvenance(input.object, tAnn, rule.pipelineRun);

  const problems: string[] = [];
  const fixes: string[] = [];
  if (rule.requireCommit && !commit) {
    problems.push(`no commit annotation ${keyList(rule.commit)}`);
    fixes.push(`${rule.commit.annotation}=<commit sha>`);
  } else if (rule.requireCommit && rule.requireFreshCommit && ctx.operation === 'UPDATE' && commit && oldCommit && commit.value === oldCommit.value) {
    problems.push(`commit ${commit.value} is the same as before this change`);
    fixes.push(`${rule.commit.annotation}=<the new commit sha>`);
  }
  if (rule.requireApprover && !approver) {
    problems.push(`no approver annotation ${keyList(rule.approver)}`);
    fixes.push(`${rule.approver.annotation}=<approver other than ${ctx.username || 'you'}>`);
  } else if (rule.separationOfDuties && approver && sameIdentity(approver.value, ctx.username)) {
    problems.push(`approver ${approver.value} is the requester (separation of duties)`);
    fixes.push(`${rule.approver.annotation}=<someone other than ${ctx.username}>`);
  }
  if (rule.requirePipelineRun && !run) {
    problems.push(`no pipeline-run annotation ${keyList(rule.pipelineRun)}`);
    fixes.push(`${rule.pipelineRun.annotation}=<pipeline run id or URL>`);
  }

  const violations: Violation[] = [];
  let breakGlass: ProvenanceOutcome['breakGlass'];
  const bg = rule.breakGlass;
  const bgValue = bg ? input.object.metadata?.annotations?.[bg.annotation] : undefined;
  if (bg && typeof bgValue === 'string' && bgValue.trim() !== '') {
    if (ctx.groups.some((g) => bg.groups.has(g))) {
      breakGlass = { reason: bgValue.trim(), user: ctx.username };
      if (problems.length) return { violations: [], breakGlass };
    } else {
      violations.push(make({ path: `metadata.annotations["${bg.annotation}"]`, value: bgValue, message: `break-glass annotation ${bg.annotation} was set by ${ctx.username || 'an unknown user'}, who is not in ${[...bg.groups].join(', ')}`, fix: `remove ${bg.annotation}; only members of ${[...bg.groups].join(', ')} may use break-glass` }));
    }
  }
  if (!problems.length) return { violations, ...(breakGlass ? { breakGlass } : {}) };

  const who = `${ctx.username || 'an unknown user'}${ctx.fieldManager ? ` via ${ctx.fieldManager}` : ''}`;
  const what = input.changes.length ? input.changes.join('; ') : ctx.operation === 'CREATE' ? 'new workload' : 'pod template changed';
  const kind = reason === 'script' ? 'script-driven edit' : ctx.operation === 'CREATE' ? 'create' : 'change';
  violations.push(
    make({
      path: 'metadata.annotations',
      ...(commit ? { value: commit.value } : {}),
      message: `${kind} by ${who} (${what}) lacks provenance: ${problems.join('; ')}`,
      fix: `in the same request set metadata.annotations ${fixes.join(', ')}`,
    }),
  );
  return { violations };
}
