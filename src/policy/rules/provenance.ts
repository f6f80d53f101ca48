/**
 * The provenance rule: a CREATE, or an UPDATE that changes the pod template, made by a script-driven
 * field manager or by a user who is not a trusted deployer, must carry provenance that is new for this
 * change — a commit annotation that differs from the old object's, and an approver who is not the
 * requester. Break-glass lets named groups through, loudly.
 */
import { isRecord, type KubeObject } from '../../k8s/types.js';
import { annotationSources, findFreshProvenance, findProvenance } from '../provenance-values.js';
import type { CompiledProvenanceRule, ProvenanceKey, RequestContext, Violation } from '../types.js';
import type { CheckInput, MakeViolation } from './context.js';

/** Every value a provenance key (or an alias) has on the object and its pod template. */
export function provenanceValues(obj: KubeObject | undefined, templateAnnotations: unknown, key: ProvenanceKey): string[] {
  const out: string[] = [];
  for (const source of annotationSources(obj, templateAnnotations)) {
    if (!isRecord(source)) continue;
    for (const k of key.keys) {
      const v = source[k];
      if (typeof v === 'string' && v.trim() !== '') out.push(v.trim());
    }
  }
  return out;
}

/**
 * Commits a change must differ from: the gate's stamp of the commit the old template was admitted with,
 * or, for an object that never passed the gate, every commit value the old object carries (so copying
 * the old commit under an alias does not pass as a new one).
 */
export function previousCommits(rule: CompiledProvenanceRule, old: KubeObject | undefined, oldTemplateAnnotations: unknown): string[] {
  if (!old) return [];
  const stamp = old.metadata?.annotations?.[rule.changeCommit];
  if (typeof stamp === 'string' && stamp.trim() !== '') return [stamp.trim()];
  return provenanceValues(old, oldTemplateAnnotations, rule.commit);
}

/**
 * The forms one identity takes: as given, without an authenticator prefix (`oidc:alice`,
 * `https://issuer#alice`, `system:serviceaccount:ns:deployer`), and each without its email domain.
 */
function identityForms(id: string): Set<string> {
  const full = id.trim().toLowerCase();
  const forms = new Set<string>();
  if (!full) return forms;
  forms.add(full);
  const bare = full.slice(Math.max(full.lastIndexOf('#'), full.lastIndexOf(':')) + 1);
  if (bare) forms.add(bare);
  for (const f of [...forms]) {
    const local = f.split('@')[0];
    if (local) forms.add(local);
  }
  return forms;
}

/**
 * True when `approver` names the same person as the requesting user. Compared case-insensitively on
 * the full names, the names without an authenticator prefix, and the parts before `@`; erring towards
 * "same" is safe here because it only ever asks for another approver.
 */
export function sameIdentity(approver: string, username: string): boolean {
  const u = identityForms(username);
  return [...identityForms(approver)].some((f) => u.has(f));
}

/** Why a change needs provenance, or undefined when it comes from a trusted deployer. */
export function provenanceReason(rule: CompiledProvenanceRule, ctx: RequestContext): 'script' | 'untrusted' | undefined {
  if (ctx.fieldManager !== undefined && rule.scriptManagers.has(ctx.fieldManager)) return 'script';
  const trustedUser = rule.trustedUsers.has(ctx.username) || ctx.groups.some((g) => rule.trustedGroups.has(g));
  const trustedTool = rule.trustedManagers.size === 0 || (ctx.fieldManager !== undefined && rule.trustedManagers.has(ctx.fieldManager));
  return trustedUser && trustedTool ? undefined : 'untrusted';
}

/** `kubectl set …` only edits the pod template, so its users need another way to send the annotations. */
const SET_CANNOT_ANNOTATE = '; kubectl set cannot change annotations: run kubectl annotate with them first, or make the change with kubectl patch, apply or edit';

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
  const now = annotationSources(input.object, tAnn);
  const before = input.oldObject ? annotationSources(input.oldObject, input.oldTemplate?.metadata?.annotations) : undefined;
  const oldCommits = previousCommits(rule, input.oldObject, input.oldTemplate?.metadata?.annotations);
  const commit = findFreshProvenance(now, rule.commit, oldCommits);
  const approver = findProvenance(now, rule.approver, before);
  const run = findProvenance(now, rule.pipelineRun, before);

  const problems: string[] = [];
  const fixes: string[] = [];
  if (rule.requireCommit && !commit) {
    problems.push(`no commit annotation ${keyList(rule.commit)}`);
    fixes.push(`${rule.commit.annotation}=<commit sha>`);
  } else if (rule.requireCommit && rule.requireFreshCommit && ctx.operation === 'UPDATE' && commit && oldCommits.includes(commit.value)) {
    problems.push(`commit ${commit.value} is not new (the current version was deployed with it)`);
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
  const bg = rule.breakGlass;
  const bgValue = bg ? input.object.metadata?.annotations?.[bg.annotation] : undefined;
  const bgOld = bg ? input.oldObject?.metadata?.annotations?.[bg.annotation] : undefined;
  if (bg && typeof bgValue === 'string' && bgValue.trim() !== '') {
    if (ctx.groups.some((g) => bg.groups.has(g))) {
      // Honoured even when left from an earlier change: members are trusted with it, and each use is reported.
      if (problems.length) return { violations: [], breakGlass: { reason: bgValue.trim(), user: ctx.username } };
    } else if (bgValue !== bgOld) {
      // Only the user who sets it is refused: an annotation left by an earlier break-glass is not theirs.
      violations.push(make({ path: `metadata.annotations["${bg.annotation}"]`, value: bgValue, message: `break-glass annotation ${bg.annotation} was set by ${ctx.username || 'an unknown user'}, who is not in ${[...bg.groups].join(', ')}`, fix: `remove ${bg.annotation}; only members of ${[...bg.groups].join(', ')} may use break-glass` }));
    }
  }
  // Break-glass is reported only when it waived something: the gate then warns that rules were waived.
  if (!problems.length) return { violations };

  const who = `${ctx.username || 'an unknown user'}${ctx.fieldManager ? ` via ${ctx.fieldManager}` : ''}`;
  const what = input.changes.length ? input.changes.join('; ') : ctx.operation === 'CREATE' ? 'new workload' : 'pod template changed';
  const kind = reason === 'script' ? 'script-driven edit' : ctx.operation === 'CREATE' ? 'create' : 'change';
  violations.push(
    make({
      path: 'metadata.annotations',
      ...(commit ? { value: commit.value } : {}),
      message: `${kind} by ${who} (${what}) lacks provenance: ${problems.join('; ')}`,
      fix: `set metadata.annotations ${fixes.join(', ')}${ctx.fieldManager === 'kubectl-set' ? SET_CANNOT_ANNOTATE : ''}`,
    }),
  );
  return { violations };
}
