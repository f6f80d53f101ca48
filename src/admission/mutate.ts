/**
 * The mutating webhook: writes the gate's stamps (see stamp-plan.ts) — overwriting whatever the client
 * sent, removing stamp keys from labels and the pod template where they do not belong — the canonical
 * copies of provenance given under an alias, and `spec.revisionHistoryLimit: 10` when unset.
 * Idempotent: on reinvocation with its own output it returns no patch and keeps the same change id.
 * Pure given its dependencies.
 */
import type { MacKeyring } from '../provenance/mac.js';
import type { ApprovalEvidence, PolicySet } from '../policy/types.js';
import { workloadKind } from '../workload/kinds.js';
import { podTemplateOf } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import { createChangeIdSource } from './change-id.js';
import { requestContext } from './context.js';
import { policyRefs } from './decision.js';
import { approvalAudit, auditAnnotations } from './explain.js';
import { encodePatch, ensureAnnotationsOps, escapePointer, type PatchOp } from './patch.js';
import { defaultStampKeys, planStamps, provenanceKeys, trustedOld } from './stamp-plan.js';
import { withSignedProvenance } from './signed-provenance.js';
import { parseChangeId, stampKeys, stampsVerify } from './stamps.js';
import { tenantConflict } from './tenant-check.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';
import { TENANT_RULE, baseDecision, type Handled } from './validate.js';

/** Deployments, StatefulSets and DaemonSets keep this many old revisions for rollback; the apps/v1 default. */
const DEFAULT_REVISION_HISTORY_LIMIT = 10;

export interface MutatorDeps {
  policies: () => PolicySet;
  tenantOf: (namespace: string) => string | undefined;
  keys: TracegateKeys;
  /** Annotation prefix, for the default provenance keys when no policy defines them. */
  prefix: string;
  /** The key shared with the recorder: every change id carries a MAC made with it. */
  keyring: MacKeyring;
  newId?: () => string;
}

/** Remove ops for stamp keys under `base` (labels or annotations) of `map`, where they do not belong. */
function removeKeys(base: string, map: unknown, keys: readonly string[]): PatchOp[] {
  if (typeof map !== 'object' || map === null) return [];
  return keys.filter((key) => Object.hasOwn(map, key)).map((key) => ({ op: 'remove' as const, path: `${base}/${escapePointer(key)}` }));
}

/** The JSON pointer of the pod template's metadata, when the kind has a template separate from the object. */
function templateMetaPointer(kind: string): string | undefined {
  const path = workloadKind(kind)?.templatePath;
  return path && path.length ? `/${path.join('/')}/metadata` : undefined;
}

/** Creates the mutate handler. */
export function createMutator(deps: MutatorDeps) {
  const newId = deps.newId ?? createChangeIdSource();
  const k = deps.keys;
  const defaults = defaultStampKeys(deps.prefix);
  const stampList = stampKeys(k);

  return function mutate(request: AdmissionRequest, evidence?: ApprovalEvidence): Handled {
    const decision = baseDecision('mutate', request);
    const uid = request.uid;
    const obj = request.object;
    const kind = request.kind.kind;
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || request.subResource || !workloadKind(kind) || !obj) {
      return { response: { uid, allowed: true, auditAnnotations: auditAnnotations({ decision: 'skip' }) }, decision };
    }
    const namespace = request.namespace ?? '';
    const tenant = deps.tenantOf(namespace);
    const ctx = requestContext(request, tenant);
    if (ctx.fieldManager) decision.fieldManager = ctx.fieldManager;
    if (tenant) decision.tenant = tenant;
    const trusted = trustedOld(deps.keyring, k, request.oldObject && request.oldObject.kind === obj.kind ? request.oldObject : null);

    const conflict = tenantConflict({ key: k.tenant, tenant, namespace, object: obj, oldObject: request.oldObject });
    if (conflict) {
      decision.decision = 'deny';
      decision.rules = [TENANT_RULE];
      const audit = auditAnnotations({ decision: 'deny', tenant, 'denied-rules': TENANT_RULE });
      return { response: { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: conflict }, auditAnnotations: audit }, decision };
    }

    const policies = deps.policies();
    const keys = provenanceKeys(policies, ctx, obj, defaults);
    decision.policies = policyRefs(keys.applied);
    decision.policySet = policies.digest;
    // Verified at the edge: the plan stamps a change verified only with it, and writes the canonical
    // copies of what the statements vouch for; the patch is still made against the object as sent.
    if (evidence) ctx.approval = evidence;
    const plan = planStamps({
      request: withSignedProvenance(request, evidence, keys),
      ctx,
      tenant,
      policies,
      keys,
      k,
      keyring: deps.keyring,
      old: trusted.old,
      oldAuthentic: trusted.authentic,
      // Reinvocation sees the gate's own output: keep its id. Any other id (a client's, a copied one) is replaced.
      idPart: (hash) => (stampsVerify(deps.keyring, k, obj, hash) ? parseChangeId(obj.metadata?.annotations?.[k.changeId])!.id : newId()),
    });
    if (plan.templateChanged) {
      decision.templateChanged = true;
      decision.changes = plan.changes;
      // Logged and audited without its MAC: `<id>.<hash>` names the change; the MAC only proves it.
      const parts = parseChangeId(plan.changeId);
      if (parts) decision.changeId = `${parts.id}.${parts.hash}`;
    }

    const wanted: Record<string, string> = { ...plan.canonical };
    const absent: string[] = [];
    for (const [key, value] of Object.entries(plan.owned)) {
      if (value === undefined) absent.push(key);
      else wanted[key] = value;
    }
    const current = obj.metadata?.annotations;
    const ops: PatchOp[] = [...ensureAnnotationsOps('/metadata', current, wanted), ...removeKeys('/metadata/annotations', current, absent)];
    ops.push(...removeKeys('/metadata/labels', obj.metadata?.labels, stampList));
    const templatePointer = templateMetaPointer(kind);
    const templateMeta = templatePointer ? podTemplateOf(obj)?.metadata : undefined;
    if (templatePointer && templateMeta) {
      ops.push(...removeKeys(`${templatePointer}/annotations`, templateMeta.annotations, stampList), ...removeKeys(`${templatePointer}/labels`, templateMeta.labels, stampList));
    }
    const spec = obj.spec;
    if (workloadKind(kind)?.revisionHistory && spec && spec.revisionHistoryLimit === undefined) {
      ops.push({ op: 'add', path: '/spec/revisionHistoryLimit', value: DEFAULT_REVISION_HISTORY_LIMIT });
    }
    decision.decision = 'allow';
    decision.patchOps = ops.length;
    const response: AdmissionResponse = {
      uid,
      allowed: true,
      auditAnnotations: auditAnnotations({ decision: 'allow', tenant, policies: decision.policies.join(','), 'policy-set': policies.digest, 'change-id': decision.changeId, ...approvalAudit(evidence) }),
    };
    if (ops.length) {
      response.patch = encodePatch(ops);
      response.patchType = 'JSONPatch';
    }
    return { response, decision };
  };
}

