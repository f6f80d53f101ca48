/**
 * What a verified statement says about a change, put where the provenance rule and the stamps read it:
 * the commit, approver and pipeline run of a verified approval (or CI token) fill in the canonical
 * annotations the object leaves out — or carries only from an earlier change (left over, not set by this
 * request) — so `tracegate approve`'s one annotation is enough. A value this request sets is never
 * replaced: the rule judges whether it agrees with the statement. Pure.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';
import { provenanceValues } from '../policy/rules/provenance.js';
import type { ApprovalEvidence, ProvenanceKey } from '../policy/types.js';
import { podTemplateOf } from '../workload/pod-template.js';
import type { StampKeys } from './stamp-plan.js';
import type { AdmissionRequest } from './types.js';

/** The values the verified statements vouch for (the approval's first, then the CI token's). */
function vouched(evidence: ApprovalEvidence): { commit?: string; approver?: string; pipelineRun?: string } {
  const s = evidence.approval?.ok ? evidence.approval.statement : undefined;
  const c = evidence.ciToken?.ok ? evidence.ciToken.statement : undefined;
  const commit = s?.commit ?? c?.identity.commit;
  const approver = s?.approver ?? c?.approval?.approver;
  const pipelineRun = s?.pipelineRun ?? c?.identity.run;
  return { ...(commit ? { commit } : {}), ...(approver ? { approver } : {}), ...(pipelineRun ? { pipelineRun } : {}) };
}

/** Whether this request set the key or an alias (on the object or its template) to a new value. */
function setNow(obj: KubeObject, templateAnnotations: unknown, old: KubeObject, oldTemplateAnnotations: unknown, key: ProvenanceKey): boolean {
  const now = [obj.metadata?.annotations, templateAnnotations];
  const before = [old.metadata?.annotations, oldTemplateAnnotations];
  return now.some((source, i) => key.keys.some((k) => valueOf(source, k) !== valueOf(before[i], k)));
}

function valueOf(source: unknown, key: string): unknown {
  return isRecord(source) ? source[key] : undefined;
}

/**
 * The request with the statements' values under the canonical keys where the object has no value under
 * the key or any alias; the same request when nothing verified or nothing is missing.
 */
export function withSignedProvenance(request: AdmissionRequest, evidence: ApprovalEvidence | undefined, keys: Pick<StampKeys, 'commit' | 'approver' | 'pipelineRun'>): AdmissionRequest {
  const obj = request.object;
  if (!evidence || !obj) return request;
  const values = vouched(evidence);
  const templateAnnotations = podTemplateOf(obj)?.metadata?.annotations;
  const old = request.oldObject;
  const oldTemplateAnnotations = old ? podTemplateOf(old)?.metadata?.annotations : undefined;
  const added: Record<string, string> = {};
  const fill = (key: ProvenanceKey, value: string | undefined) => {
    if (value === undefined) return;
    const present = provenanceValues(obj, templateAnnotations, key);
    if (present.length === 0) added[key.annotation] = value;
    // Left from an earlier change: this request did not set the key (or an alias) anywhere.
    else if (old && !present.includes(value) && setNow(obj, templateAnnotations, old, oldTemplateAnnotations, key) === false) added[key.annotation] = value;
  };
  fill(keys.commit, values.commit);
  fill(keys.approver, values.approver);
  fill(keys.pipelineRun, values.pipelineRun);
  if (Object.keys(added).length === 0) return request;
  const object: KubeObject = { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, ...added } } };
  return { ...request, object };
}
