/**
 * What the gate's stamps must be after a request: written fresh from the request on a CREATE or a pod
 * template change; carried over from the old object on any other update (so a metadata-only edit cannot
 * rewrite who made the last change) — but only when the old stamps' MAC checks, else they are dropped as
 * forged. /mutate applies this plan; /validate recomputes it and refuses an object that differs. Pure.
 */
import type { KubeObject, PodTemplate } from '../k8s/types.js';
import type { MacKeyring } from '../provenance/mac.js';
import { evaluate } from '../policy/evaluate.js';
import { policyMatches } from '../policy/match.js';
import { annotationSources, findFreshCommit, findProvenance } from '../policy/provenance-values.js';
import { ANY_SIGNED_APPROVAL, approvalProof, commitBaseline, formatUsedCommits, provenanceValues } from '../policy/rules/provenance.js';
import type { CompiledPolicy, CompiledSignedApproval, EvaluationResult, PolicySet, ProvenanceKey, RequestContext } from '../policy/types.js';
import { PROVENANCE_KEY_DEFAULTS } from '../policy/defaults.js';
import { changeViewOf, podTemplateOf } from '../workload/pod-template.js';
import { describeTemplateChange, templateChanged } from '../workload/template-diff.js';
import { CHANGE_CAUSE, type TracegateKeys } from './annotations.js';
import { parseChangeId, signedChangeId, stampHash, stampKeys, stampsAuthentic, stampsOf } from './stamps.js';

export { stampHash };
import type { AdmissionRequest } from './types.js';

/** change-cause is shown in one column of `kubectl rollout history`: keep it readable. */
const MAX_CHANGE_CAUSE_CHARS = 300;

/** The provenance keys the stamps read, and the policy they came from (none: the defaults). */
export interface StampKeys {
  commit: ProvenanceKey;
  approver: ProvenanceKey;
  pipelineRun: ProvenanceKey;
  breakGlass: string | undefined;
  /** The rule's signedApproval option: which keys and issuers make a change verified. */
  signedApproval?: CompiledSignedApproval;
  applied: readonly CompiledPolicy[];
}

/** The keys used when no policy with a provenance rule selects the object. */
export function defaultStampKeys(prefix: string): StampKeys {
  const key = (name: keyof typeof PROVENANCE_KEY_DEFAULTS): ProvenanceKey => {
    const d = PROVENANCE_KEY_DEFAULTS[name];
    return { annotation: `${prefix}${d.name}`, keys: [`${prefix}${d.name}`, ...d.aliases] };
  };
  return { commit: key('commit'), approver: key('approver'), pipelineRun: key('pipelineRun'), breakGlass: undefined, applied: [] };
}

/** The first provenance rule that selects the object decides the keys, as it does the verdict's wording. */
export function provenanceKeys(set: PolicySet, ctx: RequestContext, object: KubeObject, defaults: StampKeys): StampKeys {
  for (const policy of set.policies) {
    if (!policyMatches(policy, ctx, object)) continue;
    for (const rule of policy.rules) {
      const check = rule.check;
      if (check.type !== 'provenance') continue;
      const s = check.spec;
      return { commit: s.commit, approver: s.approver, pipelineRun: s.pipelineRun, breakGlass: s.breakGlass?.annotation, ...(s.signedApproval ? { signedApproval: s.signedApproval } : {}), applied: [policy] };
    }
  }
  return defaults;
}

/** The old object as far as it can be trusted ({@link trustedOld}). */
export interface TrustedOld {
  old: KubeObject | null;
  /** The old stamps are the gate's. */
  authentic: boolean;
}

/**
 * The old object as far as it can be trusted: its stamps kept when authentic (the gate wrote them — also
 * when the template changed since, without the gate: they still say which commits the last admitted
 * change used), dropped as forged otherwise. Whether they were made for the template the old object has
 * now is asked apart ({@link oldStampsCurrent}), only where the answer matters: it hashes the old template.
 */
export function trustedOld(keyring: MacKeyring, k: TracegateKeys, old: KubeObject | null): TrustedOld {
  if (!old) return { old, authentic: false };
  if (stampsAuthentic(keyring, k, old)) return { old, authentic: true };
  const a = old.metadata?.annotations;
  if (!a || !stampKeys(k).some((key) => Object.hasOwn(a, key))) return { old, authentic: false };
  const annotations = { ...a };
  for (const key of stampKeys(k)) delete annotations[key];
  return { old: { ...old, metadata: { ...old.metadata, annotations } }, authentic: false };
}

/**
 * Whether the old object's stamps are this change's commit baseline (RequestContext.oldStampsCurrent).
 * They are not only when a write past the gate changed the template since they were made (they describe a
 * version that no longer runs) and this change returns to exactly the template they were made for: a
 * rollback to the last version the gate admitted, whose commit is then not "old". Any other change after
 * such a write keeps the stamps' commits as its baseline: the bypass must not make an old commit new.
 * True without authentic stamps naming a commit baseline; the old template (and then, only when it
 * differs, the new one) is hashed once.
 */
export function oldStampsCurrent(k: TracegateKeys, trusted: TrustedOld, obj: KubeObject | null | undefined): boolean {
  const a = trusted.authentic ? trusted.old?.metadata?.annotations : undefined;
  if (!a || typeof a[k.usedCommits] !== 'string') return true;
  const stamped = parseChangeId(a[k.changeId])?.hash;
  if (stamped === stampHash(trusted.old!)) return true;
  return !obj || stamped !== stampHash(obj);
}

/** Inputs of {@link planStamps}. */
export interface StampInput {
  request: AdmissionRequest;
  ctx: RequestContext;
  tenant: string | undefined;
  policies: PolicySet;
  keys: StampKeys;
  k: TracegateKeys;
  keyring: MacKeyring;
  /** The old object with untrusted stamps removed ({@link trustedOld}). */
  old: KubeObject | null;
  /** The old stamps are the gate's (carried over on an update that changes no template). */
  oldAuthentic: boolean;
  /**
   * The id part of the change id, given the template hash it will carry (hashed once per review: the
   * caller may need it to recognise its own earlier output); asked only when the request changes the template.
   */
  idPart: (hash: string) => string;
  /**
   * evaluate's result for this very request (the same object, old object and context), when the caller
   * has it: the plan then takes the template comparison from it instead of making it again.
   */
  evaluation?: Pick<EvaluationResult, 'templateChanged' | 'changes' | 'breakGlass'>;
}

/** The planned annotations: stamps (undefined = must be absent), canonical provenance copies, and what changed. */
export interface StampPlan {
  /** Every gate-owned key (stamps and change-cause) with its value, or undefined when it must be absent. */
  owned: Record<string, string | undefined>;
  /** Canonical copies of provenance given under an alias (`ci/commit` → `tracegate.io/commit`). */
  canonical: Record<string, string>;
  templateChanged: boolean;
  changes: string[];
  changeId?: string;
}

/**
 * The name the MAC binds: the request's (empty for a CREATE with generateName, whose name the apiserver
 * picks after admission), the same for /mutate and /validate.
 */
function macName(request: AdmissionRequest): string {
  return request.name ?? '';
}

/**
 * Commits remembered as used: at most this many, newest last (64 characters each at most: the stamp
 * stays a few KB, far below the annotations' 256 KB).
 */
const MAX_USED_COMMITS = 32;

/**
 * The used-commits stamp of a change: the commits used before (the trusted old stamp) and every commit
 * value the object carries once /mutate has written the canonical key — computed on that normalised
 * view, so /mutate (before normalising) and /validate (after) write the same stamp.
 */
function usedCommits(before: readonly string[], obj: KubeObject, template: PodTemplate | undefined, key: ProvenanceKey, canonical: string | undefined): string {
  const annotations = canonical === undefined ? obj.metadata?.annotations : { ...obj.metadata?.annotations, [key.annotation]: canonical };
  const now = provenanceValues({ ...obj, metadata: { ...obj.metadata, annotations } }, template?.metadata?.annotations, key);
  const all = [...before.filter((c) => !now.includes(c)), ...now];
  return formatUsedCommits(all.slice(-MAX_USED_COMMITS));
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The break-glass reason when break-glass waived provenance for this change, judged by the engine
 * itself and only when the annotation is present (the rare path).
 */
function breakGlassWaiver(input: StampInput, stampsCurrent: boolean): string | undefined {
  const annotation = input.keys.breakGlass;
  const value = annotation ? input.request.object?.metadata?.annotations?.[annotation] : undefined;
  if (typeof value !== 'string' || !value.trim()) return undefined;
  if (input.evaluation) return input.evaluation.breakGlass?.reason;
  // The engine judges the commit against the same baseline as the plan.
  const ctx = (input.ctx.oldStampsCurrent ?? true) === stampsCurrent ? input.ctx : { ...input.ctx, oldStampsCurrent: stampsCurrent };
  const evaluation = evaluate(input.policies, ctx, input.request.object, input.old);
  return evaluation.breakGlass?.reason;
}

/**
 * evaluate's description of the change, when it described exactly what the plan would: evaluate
 * describes the change views, which are the pod templates themselves except for a Pod (its spec without
 * debug containers) and a Job with generated labels, whose change-cause keeps the template's wording.
 */
function describedByEvaluate(evaluation: StampInput['evaluation'], obj: KubeObject, template: PodTemplate | undefined, old: KubeObject | null, oldTemplate: PodTemplate | undefined): string[] | undefined {
  if (!evaluation || changeViewOf(obj) !== template || (old && changeViewOf(old) !== oldTemplate)) return undefined;
  return evaluation.changes;
}

/** Plans the gate-owned annotations of the request's object (see the module comment). */
export function planStamps(input: StampInput): StampPlan {
  const { request, ctx, k, keys, old } = input;
  const obj = request.object!;
  const template = podTemplateOf(obj);
  const oldTemplate = old ? podTemplateOf(old) : undefined;
  const { evaluation } = input;
  // evaluate compares the change views too, with the same operation and old object.
  const changed = request.operation === 'CREATE' || !old || (evaluation ? evaluation.templateChanged : templateChanged(changeViewOf(old), changeViewOf(obj)));
  const now = annotationSources(obj, template?.metadata?.annotations);
  const before = old ? annotationSources(old, oldTemplate?.metadata?.annotations) : undefined;
  // /validate knows it already (evaluate needed it); /mutate asks only here.
  const stampsCurrent = ctx.oldStampsCurrent ?? oldStampsCurrent(k, { old, authentic: input.oldAuthentic }, obj);
  const baseline = commitBaseline(k, keys.commit, old ?? undefined, oldTemplate?.metadata?.annotations, stampsCurrent);
  const { found: commit, fresh: isFresh } = findFreshCommit(now, keys.commit, before, baseline);
  const approver = findProvenance(now, keys.approver, before);
  const run = findProvenance(now, keys.pipelineRun, before);
  const canonical: Record<string, string> = {};
  if (commit) canonical[keys.commit.annotation] = commit.value;
  if (approver) canonical[keys.approver.annotation] = approver.value;
  if (run) canonical[keys.pipelineRun.annotation] = run.value;

  const owned: Record<string, string | undefined> = {};
  if (!changed) {
    // Carried over verbatim; only the tenant follows the namespace (then the MAC is made again below).
    const prior = stampsOf(input.oldAuthentic ? old : null, k);
    for (const key of stampKeys(k)) owned[key] = prior[key];
    owned[CHANGE_CAUSE] = input.oldAuthentic ? old?.metadata?.annotations?.[CHANGE_CAUSE] : obj.metadata?.annotations?.[CHANGE_CAUSE];
    const parts = parseChangeId(prior[k.changeId]);
    // Without the gate's stamps there is nothing to sign: the tenant alone follows the namespace.
    if (!parts) owned[k.tenant] = input.tenant;
    if (!parts || prior[k.tenant] === input.tenant) return { owned, canonical, templateChanged: false, changes: [] };
    owned[k.tenant] = input.tenant;
    // Signed for the template the stamps were made for: moving them onto a template the gate never
    // admitted (changed while it was bypassed) would launder that change.
    owned[k.changeId] = signedChangeId(input.keyring, k, { namespace: request.namespace ?? '', kind: String(obj.kind), name: macName(request), uid: obj.metadata?.uid ?? '', stamps: owned, id: parts.id, hash: parts.hash });
    return { owned, canonical, templateChanged: false, changes: [] };
  }

  const changes = describedByEvaluate(evaluation, obj, template, old, oldTemplate) ?? describeTemplateChange(oldTemplate, template);
  const hash = stampHash(obj);
  const id = input.idPart(hash);
  const fresh = commit && isFresh ? commit.value : '';
  const waived = breakGlassWaiver(input, stampsCurrent);
  owned[k.tenant] = input.tenant;
  owned[k.changedBy] = ctx.username;
  owned[k.fieldManager] = ctx.fieldManager;
  owned[k.changeCommit] = fresh;
  owned[k.changeApprover] = fresh && approver ? approver.value : '';
  owned[k.changePipelineRun] = run?.value ?? '';
  owned[k.usedCommits] = usedCommits(baseline.used, obj, template, keys.commit, commit?.value);
  owned[k.breakGlassChange] = waived ? `${id} ${waived}` : undefined;
  // Verified only when the evidence proves exactly the commit and approver this change is stamped with.
  const proof = ctx.approval && fresh && approver ? approvalProof(keys.signedApproval ?? ANY_SIGNED_APPROVAL, ctx.approval, commit?.value, approver.value) : undefined;
  owned[k.changeVerified] = proof?.ok ? proof.proof.digests.join(', ') : undefined;
  owned[k.changeTestResults] = proof?.ok ? proof.proof.testResults : undefined;
  const via = ctx.fieldManager ? ` via ${ctx.fieldManager}` : '';
  const why = !fresh ? '' : approver ? `commit ${fresh}, approved by ${approver.value}${proof?.ok ? ', verified' : ''}` : `commit ${fresh}`;
  owned[CHANGE_CAUSE] = truncate(`${ctx.username || 'unknown'}${via}: ${changes.join('; ') || 'pod template changed'}${why ? ` (${why})` : ''}`, MAX_CHANGE_CAUSE_CHARS);
  // Mutating webhooks see no uid on CREATE (the apiserver assigns it later): such stamps bind an empty one.
  const uid = request.operation === 'CREATE' ? '' : (obj.metadata?.uid ?? '');
  const changeId = signedChangeId(input.keyring, k, { namespace: request.namespace ?? '', kind: String(obj.kind), name: macName(request), uid, stamps: owned, id, hash });
  owned[k.changeId] = changeId;
  return { owned, canonical, templateChanged: true, changes, changeId };
}
