/**
 * The provenance rule: a CREATE, or an UPDATE that changes the pod template, made by a script-driven
 * field manager or by a user who is not a trusted deployer, must carry provenance that is new for this
 * change — a commit annotation that differs from the old object's, and an approver who is not the
 * requester. Break-glass lets named groups through, loudly. Values are judged as text people read:
 * invisible characters, a commit that is no commit id, or an approver whose name mixes scripts are
 * refused, and the approver is compared with the requester in a look-alike-proof form.
 */
import { isRecord, type KubeObject } from '../../k8s/types.js';
import { escapeInvisible, sameIdentity, unreadableValue } from '../identity.js';
import { annotationSources, findFreshCommit, findProvenance, sameCommit, type CommitBaseline } from '../provenance-values.js';
import type { ApprovalEvidence, CompiledProvenanceRule, CompiledSignedApproval, ProvenanceKey, RequestContext, Violation } from '../types.js';
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
 * Commits a change must differ from: the gate's stamp of every commit value present when the old
 * template was admitted, or, for an object that never passed the gate, every commit value the old
 * object carries (so copying the old commit under an alias does not pass as a new one). Nothing when the
 * stamps are not current (`stampsCurrent` false, see RequestContext.oldStampsCurrent): the version they
 * describe no longer runs, so returning to its commit (a rollback past an unverified write) is a change.
 */
export function commitBaseline(keys: { usedCommits: string; changeCommit: string }, commitKey: ProvenanceKey, old: KubeObject | undefined, oldTemplateAnnotations: unknown, stampsCurrent = true): CommitBaseline {
  if (!old) return { used: [] };
  const a = old.metadata?.annotations ?? {};
  const stamp = a[keys.usedCommits];
  if (typeof stamp !== 'string') return { used: provenanceValues(old, oldTemplateAnnotations, commitKey) };
  if (!stampsCurrent) return { used: [] };
  const current = a[keys.changeCommit];
  return { used: parseUsedCommits(stamp), ...(typeof current === 'string' && current ? { current } : {}) };
}

/** The used-commits stamp is a comma-separated list; commits are hex or tags, which never contain commas. */
export function parseUsedCommits(stamp: string): string[] {
  const used: string[] = [];
  for (const part of stamp.split(',')) {
    const commit = part.trim();
    if (commit) used.push(commit);
  }
  return used;
}

export function formatUsedCommits(values: readonly string[]): string {
  return [...new Set(values)].join(',');
}

/** Separation of duties compares identities in their look-alike-proof form (see identity.ts). */
export { sameIdentity };

/**
 * Why a change needs provenance, or undefined when it comes from a trusted deployer. Trusted users and
 * groups are compared exactly, as RBAC compares them: a look-alike (`alice\u200b`, `аlice`) is another
 * Kubernetes user and is never trusted; the loader refuses list entries with invisible or mixed-script text.
 */
export function provenanceReason(rule: CompiledProvenanceRule, ctx: RequestContext): 'script' | 'untrusted' | undefined {
  if (ctx.fieldManager !== undefined && rule.scriptManagers.has(ctx.fieldManager)) return 'script';
  const trustedUser = rule.trustedUsers.has(ctx.username) || ctx.groups.some((g) => rule.trustedGroups.has(g));
  const trustedTool = rule.trustedManagers.size === 0 || (ctx.fieldManager !== undefined && rule.trustedManagers.has(ctx.fieldManager));
  return trustedUser && trustedTool ? undefined : 'untrusted';
}

/** `kubectl set …` only edits the pod template, so its users need another way to send the annotations. */
const SET_CANNOT_ANNOTATE = '; kubectl set cannot change annotations: run kubectl annotate with them first, or make the change with kubectl patch, apply or edit';

/** The key and its first two aliases, as a message names them. */
function keyList(key: ProvenanceKey): string {
  let first: string | undefined;
  for (let i = 0; i < key.keys.length; i++) {
    const alias = key.keys[i]!;
    if (alias === key.annotation) continue;
    if (first !== undefined) return `${key.annotation} (or ${first}, ${alias})`;
    first = alias;
  }
  return first === undefined ? key.annotation : `${key.annotation} (or ${first})`;
}

/** Why a commit value is no commit id: invisible characters, or text outside the rule's commit pattern. */
function commitProblem(rule: CompiledProvenanceRule, value: string): string | undefined {
  const unreadable = unreadableValue('commit', value, false);
  if (unreadable) return unreadable;
  if (!rule.commitPattern.test(value)) return `commit "${value}" is not a commit id: expected ${rule.commitPatternSource}`;
  return undefined;
}

/** What a verified approval proves about a change: the gate stamps it, the recorder records it. */
export interface ApprovalProof {
  commit: string;
  approver: string;
  pipelineRun?: string;
  testResults?: string;
  /** `approval sha256:…` and/or `ci-token sha256:…`: which statements proved it. */
  digests: string[];
}

/** An outcome of {@link approvalProof}: the proof, or the one-line reason there is none. */
export type ProofOutcome = { ok: true; proof: ApprovalProof } | { ok: false; reason: string };

/** Accepts every trusted key and issuer: how the stamps judge evidence when no rule narrows it. */
export const ANY_SIGNED_APPROVAL: CompiledSignedApproval = Object.freeze({ require: 'warn' as const });

/**
 * Whether the verified evidence proves this change: a signed approval whose key the rule accepts, or a
 * CI token whose issuer it accepts from a protected environment (the approval gate passed there), and
 * every present proof consistent with the change's commit and approver annotations (`commit`,
 * `approver`: the values the change carries, if any). A present proof that fails is never outweighed
 * by another: the reason names it. Pure.
 */
export function approvalProof(spec: CompiledSignedApproval, evidence: ApprovalEvidence | undefined, commit: string | undefined, approver: string | undefined): ProofOutcome {
  const a = evidence?.approval;
  const ci = evidence?.ciToken;
  if (!a && !ci) return { ok: false, reason: 'the change carries no signed approval and no CI token' };
  if (a && !a.ok) return { ok: false, reason: `approval not verified: ${a.reason}` };
  if (ci && !ci.ok) return { ok: false, reason: `CI token not verified: ${ci.reason}` };
  const s = a?.ok ? a.statement : undefined;
  const c = ci?.ok ? ci.statement : undefined;
  if (s && spec.keys && !spec.keys.has(s.kid)) return { ok: false, reason: `approval key ${JSON.stringify(s.kid)} is not one this policy accepts` };
  if (c && spec.issuers && !spec.issuers.has(c.identity.issuer)) return { ok: false, reason: `CI issuer ${c.identity.issuer} is not one this policy accepts` };
  const proved = s?.commit ?? c!.identity.commit;
  if (commit !== undefined && !sameCommit(commit, proved)) return { ok: false, reason: `${s ? 'approval' : 'CI token'} is for commit ${proved}, not ${escapeInvisible(commit)}` };
  if (s && c && !sameCommit(s.commit, c.identity.commit)) return { ok: false, reason: `CI token is for commit ${c.identity.commit}, not the approval's ${s.commit}` };
  const by = s?.approver ?? c?.approval?.approver;
  if (by === undefined) {
    return { ok: false, reason: `CI token of ${c!.identity.repository} proves commit ${c!.identity.commit}, but its job ran in ${c!.identity.environment ? `environment ${c!.identity.environment}, which is not a protected one` : 'no environment'}: an approval is still needed` };
  }
  if (approver !== undefined && !sameIdentity(approver, by)) return { ok: false, reason: `${s ? 'approval is signed by' : 'CI token was approved by'} ${by}, not ${escapeInvisible(approver)} (the approver annotation)` };
  const run = s?.pipelineRun ?? c?.identity.run;
  const digests = [...(s ? [`approval ${s.digest}`] : []), ...(c ? [`ci-token ${c.digest}`] : [])];
  return { ok: true, proof: { commit: proved, approver: by, ...(run !== undefined ? { pipelineRun: run } : {}), ...(s?.testResults !== undefined ? { testResults: s.testResults } : {}), digests } };
}

/** The annotation a change without verified provenance should carry, as a fix names it after `set metadata.annotations`. */
function approvalFix(spec: CompiledSignedApproval): string {
  const names = spec.annotations ?? { approval: 'tracegate.io/approval', ciToken: 'tracegate.io/ci-token' };
  return `${names.approval}=<a signed approval of exactly this change: tracegate approve -f MANIFEST …> (or ${names.ciToken}=<the CI job's OIDC ID token, from a protected environment>)`;
}

export interface ProvenanceOutcome {
  violations: Violation[];
  breakGlass?: { reason: string; user: string };
}

/** The break-glass annotation on the object, and whether the requester may use it. */
function breakGlassOf(rule: CompiledProvenanceRule, input: CheckInput): { value: string; member: boolean; setNow: boolean } | undefined {
  const bg = rule.breakGlass;
  const value = bg ? input.object.metadata?.annotations?.[bg.annotation] : undefined;
  if (!bg || typeof value !== 'string' || value.trim() === '') return undefined;
  const old = input.oldObject?.metadata?.annotations?.[bg.annotation];
  return { value: value.trim(), member: input.ctx.groups.some((g) => bg.groups.has(g)), setNow: value !== old };
}

/** A non-member who sets (or changes) the break-glass annotation is refused; one left by an earlier change is not theirs. */
function breakGlassRefusal(rule: CompiledProvenanceRule, input: CheckInput, make: MakeViolation): Violation[] {
  const bg = breakGlassOf(rule, input);
  if (!bg || bg.member || !bg.setNow || !rule.breakGlass) return [];
  const { annotation, groups } = rule.breakGlass;
  const who = input.ctx.username || 'an unknown user';
  return [make({ path: `metadata.annotations["${annotation}"]`, value: bg.value, message: `break-glass annotation ${annotation} was set by ${who}, who is not in ${[...groups].join(', ')}`, fix: `remove ${annotation}; only members of ${[...groups].join(', ')} may use break-glass` })];
}

/** Evaluates the provenance rule; only CREATE and template-changing UPDATE are judged. */
export function checkProvenance(rule: CompiledProvenanceRule, input: CheckInput, make: MakeViolation): ProvenanceOutcome {
  const { ctx } = input;
  if (ctx.subResource) return { violations: [] };
  if (ctx.operation !== 'CREATE' && ctx.operation !== 'UPDATE') return { violations: [] };
  // Setting break-glass is judged on every update: a metadata-only annotate must not plant it either.
  if (ctx.operation === 'UPDATE' && !input.templateChanged) return { violations: breakGlassRefusal(rule, input, make) };
  const reason = provenanceReason(rule, ctx);
  if (!reason) return { violations: breakGlassRefusal(rule, input, make) };

  const tAnn = input.template?.metadata?.annotations;
  const now = annotationSources(input.object, tAnn);
  const before = input.oldObject ? annotationSources(input.oldObject, input.oldTemplate?.metadata?.annotations) : undefined;
  const baseline = commitBaseline(rule, rule.commit, input.oldObject, input.oldTemplate?.metadata?.annotations, ctx.oldStampsCurrent !== false);
  const { found: commit, fresh } = findFreshCommit(now, rule.commit, before, baseline);
  const approver = findProvenance(now, rule.approver, before);
  const run = findProvenance(now, rule.pipelineRun, before);

  const problems: string[] = [];
  const fixes: string[] = [];
  const badCommit = commit ? commitProblem(rule, commit.value) : undefined;
  if (rule.requireCommit && !commit) {
    problems.push(`no commit annotation ${keyList(rule.commit)}`);
    fixes.push(`${rule.commit.annotation}=<commit sha>`);
  } else if (badCommit) {
    problems.push(badCommit);
    fixes.push(`${rule.commit.annotation}=<commit sha>`);
  } else if (rule.requireCommit && rule.requireFreshCommit && ctx.operation === 'UPDATE' && commit && !fresh) {
    problems.push(`commit ${commit.value} is not new (the current version was deployed with it)`);
    fixes.push(`${rule.commit.annotation}=<the new commit sha>`);
  }
  const badApprover = approver ? unreadableValue('approver', approver.value, true) : undefined;
  if (rule.requireApprover && !approver) {
    problems.push(`no approver annotation ${keyList(rule.approver)}`);
    fixes.push(`${rule.approver.annotation}=<approver other than ${ctx.username || 'you'}>`);
  } else if (badApprover) {
    problems.push(badApprover);
    fixes.push(`${rule.approver.annotation}=<the approver's name, as plain text>`);
  } else if (rule.separationOfDuties && approver && sameIdentity(approver.value, ctx.username)) {
    problems.push(`approver ${approver.value} is the requester (separation of duties)`);
    fixes.push(`${rule.approver.annotation}=<someone other than ${ctx.username}>`);
  }
  const badRun = run ? unreadableValue('pipeline run', run.value, false) : undefined;
  if (rule.requirePipelineRun && !run) {
    problems.push(`no pipeline-run annotation ${keyList(rule.pipelineRun)}`);
    fixes.push(`${rule.pipelineRun.annotation}=<pipeline run id or URL>`);
  } else if (badRun) {
    problems.push(badRun);
    fixes.push(`${rule.pipelineRun.annotation}=<pipeline run id or URL, as plain text>`);
  }

  // Verified provenance: judged on the values the change carries (the edge filled in absent ones from the statement).
  let unverified: string | undefined;
  if (rule.signedApproval) {
    const proof = approvalProof(rule.signedApproval, ctx.approval, commit?.value, approver?.value);
    if (!proof.ok) {
      if (rule.signedApproval.require === 'signed') {
        problems.push(`no verified approval: ${proof.reason}`);
        fixes.push(approvalFix(rule.signedApproval));
      } else unverified = proof.reason;
    }
  }

  const violations = breakGlassRefusal(rule, input, make);
  const bg = breakGlassOf(rule, input);
  if (unverified !== undefined && !(bg?.member && problems.length)) {
    const v = make({ path: 'metadata.annotations', message: `change by ${ctx.username || 'an unknown user'} has no verified approval: ${unverified}`, fix: `set metadata.annotations ${approvalFix(rule.signedApproval!)}` });
    // `warn` mode: admitted with the warning (an `audit` rule stays silent).
    violations.push(v.action === 'deny' ? { ...v, action: 'warn' } : v);
  }
  // Honoured even when left from an earlier change: members are trusted with it, and each use is reported.
  // It is reported only when it waived something: the gate then warns that rules were waived.
  if (bg?.member && problems.length) return { violations: [], breakGlass: { reason: bg.value, user: ctx.username } };
  if (!problems.length) return { violations };

  const who = `${ctx.username || 'an unknown user'}${ctx.fieldManager ? ` via ${ctx.fieldManager}` : ''}`;
  const what = input.changes.length ? input.changes.join('; ') : ctx.operation === 'CREATE' ? 'new workload' : 'pod template changed';
  const kind = reason === 'script' ? 'script-driven edit' : ctx.operation === 'CREATE' ? 'create' : 'change';
  violations.push(
    make({
      path: 'metadata.annotations',
      ...(commit ? { value: escapeInvisible(commit.value) } : {}),
      message: `${kind} by ${who} (${what}) lacks provenance: ${problems.join('; ')}`,
      fix: `set metadata.annotations ${fixes.join(', ')}${ctx.fieldManager === 'kubectl-set' ? SET_CANNOT_ANNOTATE : ''}`,
    }),
  );
  return { violations };
}
