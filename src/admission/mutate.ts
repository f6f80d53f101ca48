/**
 * The mutating webhook: stamps provenance on what it admits — tenant, changed-by, change-id,
 * normalised commit / approver / pipeline-run, a `kubernetes.io/change-cause` that `kubectl rollout
 * history` shows — and `spec.revisionHistoryLimit: 10` when unset. Idempotent: on reinvocation with
 * its own output it returns no patch and keeps the same change id. Pure given its dependencies.
 */
import { PROVENANCE_KEY_DEFAULTS } from '../policy/defaults.js';
import { policyMatches } from '../policy/match.js';
import { annotationSources, findFreshCommit, findProvenance } from '../policy/provenance-values.js';
import { evaluate } from '../policy/evaluate.js';
import { commitBaseline, formatUsedCommits, provenanceValues } from '../policy/rules/provenance.js';
import type { PolicySet, ProvenanceKey } from '../policy/types.js';
import { isWorkloadKind, podTemplateOf } from '../workload/pod-template.js';
import { describeTemplateChange, templateChanged } from '../workload/template-diff.js';
import { CHANGE_CAUSE, type TracegateKeys } from './annotations.js';
import { newChangeIdPart, parseChangeId, templateHash } from './change-id.js';
import { requestContext } from './context.js';
import { policyRefs } from './decision.js';
import { auditAnnotations } from './explain.js';
import { encodePatch, ensureAnnotationsOps, type PatchOp } from './patch.js';
import { tenantConflict } from './tenant-check.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';
import { TENANT_RULE, baseDecision, type Handled } from './validate.js';

/** Deployments, StatefulSets and DaemonSets keep this many old revisions for rollback; the apps/v1 default. */
const DEFAULT_REVISION_HISTORY_LIMIT = 10;
const KINDS_WITH_REVISION_HISTORY = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
/** change-cause is shown in one column of `kubectl rollout history`: keep it readable. */
const MAX_CHANGE_CAUSE_CHARS = 300;

export interface MutatorDeps {
  policies: () => PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  keys: TracegateKeys;
  /** Annotation prefix, for the default provenance keys when no policy defines them. */
  prefix: string;
  newId?: () => string;
}

function provenanceKeys(set: PolicySet, request: AdmissionRequest, prefix: string, tenant: string | undefined) {
  const defaults = (name: keyof typeof PROVENANCE_KEY_DEFAULTS): ProvenanceKey => {
    const d = PROVENANCE_KEY_DEFAULTS[name];
    return { annotation: `${prefix}${d.name}`, keys: [`${prefix}${d.name}`, ...d.aliases] };
  };
  const found = { commit: defaults('commit'), approver: defaults('approver'), pipelineRun: defaults('pipelineRun') };
  const ctx = requestContext(request, tenant);
  for (const policy of set.policies) {
    if (!request.object || !policyMatches(policy, ctx, request.object)) continue;
    for (const rule of policy.rules) {
      if (rule.check.type !== 'provenance') continue;
      // The first matching provenance rule decides the aliases, as it does the verdict's wording.
      const s = rule.check.spec;
      return { commit: s.commit, approver: s.approver, pipelineRun: s.pipelineRun, breakGlass: s.breakGlass?.annotation, applied: [policy] };
    }
  }
  return { ...found, breakGlass: undefined, applied: [] };
}

/**
 * The break-glass reason when break-glass waived provenance for this change, so the stamp (and the
 * recorder) flags exactly the changes it let through. Judged by the engine itself, and only when the
 * annotation is present: a full evaluation is the rare path, not the hot one.
 */
function breakGlassWaiver(set: PolicySet, request: AdmissionRequest, tenant: string | undefined, annotation: string | undefined): string | undefined {
  const value = annotation ? request.object?.metadata?.annotations?.[annotation] : undefined;
  if (typeof value !== 'string' || !value.trim()) return undefined;
  return evaluate(set, requestContext(request, tenant), request.object, request.oldObject).breakGlass?.reason;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Creates the mutate handler. */
export function createMutator(deps: MutatorDeps) {
  const newId = deps.newId ?? (() => newChangeIdPart());
  const k = deps.keys;

  return function mutate(request: AdmissionRequest): Handled {
    const decision = baseDecision('mutate', request);
    const uid = request.uid;
    const obj = request.object;
    const kind = request.kind.kind;
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || request.subResource || !isWorkloadKind(kind) || !obj) {
      return { response: { uid, allowed: true, auditAnnotations: auditAnnotations({ decision: 'skip' }) }, decision };
    }
    const namespace = request.namespace ?? '';
    const tenant = deps.tenantOf(namespace);
    const ctx = requestContext(request, tenant);
    Object.assign(decision, { ...(ctx.fieldManager ? { fieldManager: ctx.fieldManager } : {}), ...(tenant ? { tenant } : {}) });

    const conflict = tenantConflict({ key: k.tenant, tenant, namespace, object: obj, oldObject: request.oldObject });
    if (conflict) {
      decision.decision = 'deny';
      decision.rules = [TENANT_RULE];
      const audit = auditAnnotations({ decision: 'deny', tenant, 'denied-rules': TENANT_RULE });
      return { response: { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: conflict }, auditAnnotations: audit }, decision };
    }

    const old = request.oldObject && request.oldObject.kind === obj.kind ? request.oldObject : null;
    const template = podTemplateOf(obj);
    const oldTemplate = old ? podTemplateOf(old) : undefined;
    const changed = request.operation === 'CREATE' || !old || templateChanged(oldTemplate, template);
    const wanted: Record<string, string> = {};
    if (tenant) wanted[k.tenant] = tenant;

    const keys = provenanceKeys(deps.policies(), request, deps.prefix, tenant);
    decision.policies = policyRefs(keys.applied);
    const now = annotationSources(obj, template?.metadata?.annotations);
    const before = old ? annotationSources(old, oldTemplate?.metadata?.annotations) : undefined;
    // The same choice the provenance rule makes: a commit not yet used by an earlier change wins.
    const baseline = commitBaseline(k, keys.commit, old ?? undefined, oldTemplate?.metadata?.annotations);
    const { found: commit, fresh: isFresh } = findFreshCommit(now, keys.commit, before, baseline);
    const fresh = commit && isFresh ? commit.value : '';
    const approver = findProvenance(now, keys.approver, before);
    const run = findProvenance(now, keys.pipelineRun, before);
    if (commit) wanted[keys.commit.annotation] = commit.value;
    if (approver) wanted[keys.approver.annotation] = approver.value;
    if (run) wanted[keys.pipelineRun.annotation] = run.value;

    if (changed) {
      const current = parseChangeId(obj.metadata?.annotations?.[k.changeId]);
      const previous = parseChangeId(old?.metadata?.annotations?.[k.changeId]);
      // Reinvocation sees our own id on the object; an id equal to the old object's is a carry-over.
      const id = current && (!previous || current.id !== previous.id) ? current.id : newId();
      const changeId = `${id}.${templateHash(template)}`;
      const changes = describeTemplateChange(oldTemplate, template);
      wanted[k.changeId] = changeId;
      wanted[k.changedBy] = ctx.username;
      wanted[k.changeCommit] = fresh;
      wanted[k.usedCommits] = formatUsedCommits(provenanceValues(obj, template?.metadata?.annotations, keys.commit));
      const waived = breakGlassWaiver(deps.policies(), request, tenant, keys.breakGlass);
      if (waived) wanted[k.breakGlassChange] = `${id} ${waived}`;
      if (ctx.fieldManager) wanted[k.fieldManager] = ctx.fieldManager;
      const via = ctx.fieldManager ? ` via ${ctx.fieldManager}` : '';
      const why = [fresh ? `commit ${fresh}` : '', fresh && approver ? `approved by ${approver.value}` : ''].filter(Boolean).join(', ');
      wanted[CHANGE_CAUSE] = truncate(`${ctx.username || 'unknown'}${via}: ${changes.join('; ') || 'pod template changed'}${why ? ` (${why})` : ''}`, MAX_CHANGE_CAUSE_CHARS);
      Object.assign(decision, { templateChanged: true, changes, changeId });
    }

    const ops: PatchOp[] = ensureAnnotationsOps('/metadata', obj.metadata?.annotations, wanted);
    const spec = obj.spec;
    if (KINDS_WITH_REVISION_HISTORY.has(kind) && spec && spec.revisionHistoryLimit === undefined) {
      ops.push({ op: 'add', path: '/spec/revisionHistoryLimit', value: DEFAULT_REVISION_HISTORY_LIMIT });
    }
    decision.decision = 'allow';
    decision.patchOps = ops.length;
    const response: AdmissionResponse = {
      uid,
      allowed: true,
      auditAnnotations: auditAnnotations({ decision: 'allow', tenant, policies: decision.policies.join(','), 'change-id': decision.changeId }),
    };
    if (ops.length) {
      response.patch = encodePatch(ops);
      response.patchType = 'JSONPatch';
    }
    return { response, decision };
  };
}
