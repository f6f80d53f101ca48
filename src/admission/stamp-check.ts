/**
 * /validate's side of the stamps: recompute what /mutate would have written for this request and refuse
 * an object whose stamps differ — a write that skipped /mutate (it fails open), stamps a client edited
 * after the fact, or stamp keys planted in labels or the pod template. Pure.
 */
import type { KubeObject } from '../k8s/types.js';
import type { MacKeyring } from '../provenance/mac.js';
import type { PolicySet, RequestContext } from '../policy/types.js';
import { podTemplateOf } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import { planStamps, provenanceKeys, type StampInput, type StampKeys, type TrustedOld } from './stamp-plan.js';
import { misplacedStamps, parseChangeId } from './stamps.js';
import type { AdmissionRequest } from './types.js';

/** A quoted value in a message is cut here: stamps are short, and a hostile one must not flood a denial. */
const MAX_QUOTED_CHARS = 80;

/** The gate's own rule for stamps, reported like a policy rule. */
export const STAMPS_RULE = 'tracegate/stamps';

function quote(value: string | undefined): string {
  if (value === undefined) return 'absent';
  const cut = value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value;
  // JSON.stringify escapes control characters; invisible format characters are shown as \uXXXX too.
  return JSON.stringify(cut).replace(/[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface StampCheckInput {
  request: AdmissionRequest;
  ctx: RequestContext;
  tenant: string | undefined;
  policies: PolicySet;
  k: TracegateKeys;
  keyring: MacKeyring;
  defaults: StampKeys;
  /** The old object with untrusted stamps removed, from {@link trustedOld}. */
  trusted: TrustedOld;
  /** evaluate's result for this request, when it judged the same object and old object (see StampInput). */
  evaluation?: StampInput['evaluation'];
}

/** What is wrong with the object's stamps, one line each; empty when they are exactly the gate's. */
export function stampProblems(input: StampCheckInput): string[] {
  const { request, k } = input;
  const obj = request.object as KubeObject;
  const problems: string[] = [];
  const templateMeta = obj.kind === 'Pod' ? undefined : podTemplateOf(obj)?.metadata;
  for (const where of misplacedStamps(obj, templateMeta, k)) problems.push(`${where} is one of the gate's stamps, which belong only on the object's own annotations`);
  const { trusted } = input;
  const current = obj.metadata?.annotations ?? {};
  const given = parseChangeId(current[k.changeId]);
  const plan = planStamps({
    request,
    ctx: input.ctx,
    tenant: input.tenant,
    policies: input.policies,
    keys: provenanceKeys(input.policies, input.ctx, obj, input.defaults),
    k,
    keyring: input.keyring,
    old: trusted.old,
    oldAuthentic: trusted.authentic,
    // The id is the one random part /mutate chose; its MAC below proves the gate chose it for this change.
    idPart: () => given?.id ?? '0',
    evaluation: input.evaluation,
  });
  for (const [key, want] of Object.entries(plan.owned)) {
    const have = typeof current[key] === 'string' ? current[key] : undefined;
    if (have === want) continue;
    if (key === k.changeId) problems.push(`${key} ${have === undefined ? 'is absent' : 'was not issued by the gate for this change'}`);
    else problems.push(`${key} is ${quote(have)}, the gate writes ${quote(want)}`);
  }
  return problems;
}

/** The denial line for stamp problems. */
export function stampDenial(problems: readonly string[]): string {
  return `  - the object's tracegate stamps are not the ones the gate writes for this change (the mutating webhook did not run — it fails open — or they were set by hand): ${problems.join('; ')}. Fix: retry the change so the gate stamps it; never set tracegate's stamps yourself`;
}
