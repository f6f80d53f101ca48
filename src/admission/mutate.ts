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
import type { KubeObject } from '../k8s/types.js';
import type { CompiledPolicy, PolicySet, ProvenanceKey, RequestContext } from '../policy/types.js';
import { isWorkloadKind, podTemplateOf } from '../workload/pod-template.js';
import { describeTemplateChange, templateChanged } from '../workload/template-diff.js';
import { CHANGE_CAUSE, type TracegateKeys } from './annotations.js';
import { createChangeIdSource, parseChangeId, templateHash } from './change-id.js';
import { requestContext } from './context.js';
import { policyRefs } from './decision.js';
import { auditAnnotations } from './explain.js';
import { createAnnotationPaths, encodePatch, ensureAnnotationsOps, type PatchOp } from './patch.js';
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

/** The provenance keys mutate stamps, and the policy they came from (none: the defaults). */
interface StampKeys {
  commit: ProvenanceKey;
  approver: ProvenanceKey;
  pipelineRun: ProvenanceKey;
  breakGlass: string | undefined;
  applied: readonly CompiledPolicy[];
}

/** The keys used when no policy with a provenance rule selects the object; built once per mutator. */
function defaultStampKeys(prefix: string): StampKeys {
  const key = (name: keyof typeof PROVENANCE_KEY_DEFAULTS): ProvenanceKey => {
    const d = PROVENANCE_KEY_DEFAULTS[name];
    return { annotation: `${prefix}${d.name}`, keys: [`${prefix}${d.name}`, ...d.aliases] };
  };
  return { commit: key('commit'), approver: key('approver'), pipelineRun: key('pipelineRun'), breakGlass: undefined, applied: [] };
}

function provenanceKeys(set: PolicySet, ctx: RequestContext, object: KubeObject, defaults: StampKeys): StampKeys {
  // Indexed loops: for…of over the frozen compiled arrays allocates an iterator result per element.
  for (let p = 0; p < set.policies.length; p++) {
    const policy = set.policies[p]!;
    if (!policyMatches(policy, ctx, object)) continue;
    for (let r = 0; r < policy.rules.length; r++) {
      const check = policy.rules[r]!.check;
      if (check.type !== 'provenance') continue;
      // The first matching provenance rule decides the aliases, as it does the verdict's wording.
      const s = check.spec;
      return { commit: s.commit, approver: s.approver, pipelineRun: s.pipelineRun, breakGlass: s.breakGlass?.annotation, applied: [policy] };
    }
  }
  return defaults;
}

/**
 * The break-glass reason when break-glass waived provenance for this change, so the stamp (and the
 * recorder) flags exactly the changes it let through. Judged by the engine itself, and only when the
 * annotation is present: a full evaluation is the rare path, not the hot one.
 */
function breakGlassWaiver(set: PolicySet, request: AdmissionRequest, ctx: RequestContext, annotation: string | undefined): string | undefined {
  const value = annotation ? request.object?.metadata?.annotations?.[annotation] : undefined;
  if (typeof value !== 'string' || !value.trim()) return undefined;
  return evaluate(set, ctx, request.object, request.oldObject).breakGlass?.reason;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Creates the mutate handler. */
export function createMutator(deps: MutatorDeps) {
  // The pooled source the gate itself uses: one CSPRNG call per 819 ids instead of one per id.
  const newId = deps.newId ?? createChangeIdSource();
  const k = deps.keys;
  const defaults = defaultStampKeys(deps.prefix);
  const annotationPath = createAnnotationPaths('/metadata');

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
    if (ctx.fieldManager) decision.fieldManager = ctx.fieldManager;
    if (tenant) decision.tenant = tenant;

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

    const policies = deps.policies();
    const keys = provenanceKeys(policies, ctx, obj, defaults);
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
      const waived = breakGlassWaiver(policies, request, ctx, keys.breakGlass);
      if (waived) wanted[k.breakGlassChange] = `${id} ${waived}`;
      if (ctx.fieldManager) wanted[k.fieldManager] = ctx.fieldManager;
      const via = ctx.fieldManager ? ` via ${ctx.fieldManager}` : '';
      const why = !fresh ? '' : approver ? `commit ${fresh}, approved by ${approver.value}` : `commit ${fresh}`;
      wanted[CHANGE_CAUSE] = truncate(`${ctx.username || 'unknown'}${via}: ${changes.join('; ') || 'pod template changed'}${why ? ` (${why})` : ''}`, MAX_CHANGE_CAUSE_CHARS);
      decision.templateChanged = true;
      decision.changes = changes;
      decision.changeId = changeId;
    }

    const ops: PatchOp[] = ensureAnnotationsOps('/metadata', obj.metadata?.annotations, wanted, annotationPath);
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
