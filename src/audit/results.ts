/**
 * The background audit's judgement of one workload, pure: the gate's engine (`evaluate`, as `tracegate
 * check` runs it: a CREATE in the workload's namespace, no admission request) over the live object, kept
 * compact — the policies that selected it and only the rules that did not pass. Passes are implied, so
 * 20,000 mostly-compliant workloads cost little more than their names.
 */
import type { KubeObject } from '../k8s/types.js';
import { boundText, QUOTE_MAX_CHARS } from '../policy/digest.js';
import { evaluate } from '../policy/evaluate.js';
import { policyMatches } from '../policy/match.js';
import type { ParseMemo } from '../policy/rules/context.js';
import type { Action, CompiledPolicy, CompiledRule, PolicySet, RequestContext, Violation } from '../policy/types.js';
import { apiVersionOf, workloadKind } from '../workload/kinds.js';
import { isWorkloadKind } from '../workload/pod-template.js';

/** A result as the PolicyReport API names it (wgpolicyk8s.io/v1alpha2 `PolicyResult`). */
export type ReportResult = 'pass' | 'fail' | 'warn' | 'error' | 'skip';
/** The API's severities (Kyverno's CRD enum); tracegate uses high, medium and low. */
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

/** The object a result is about, as the report's `resources[]` name it. */
export interface WorkloadRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
}

/** A rule that did not pass. */
export interface RuleOutcome {
  policy: CompiledPolicy;
  rule: CompiledRule;
  result: Exclude<ReportResult, 'pass'>;
  message: string;
  /** The first offending field, kubectl style (never its value). */
  path?: string;
}

/**
 * One workload's audit: every rule of every policy in `applied` has its {@link impliedOutcome} (pass;
 * skip for provenance rules) unless `outcomes` says otherwise — so a compliant workload stores no outcome.
 * One flat object (the reference's fields inline): 20,000 of them are the audit's memory.
 */
export interface WorkloadAudit extends WorkloadRef {
  /** Policies that selected the workload (shared with the set: no copies). */
  applied: readonly CompiledPolicy[];
  outcomes: readonly RuleOutcome[];
  /** Digest of the set it was judged against. */
  setDigest: string;
  /** When these results were first found (Unix seconds); kept while they stay the same. */
  foundAt: number;
}

/** What the audit assumes about the request it never had. */
export interface AuditContext {
  /** The namespace's tenant, when tenancy is configured (policies may select by tenant). */
  tenant?: string;
  /** Parsed images and quantities, shared across a pass. */
  memo?: ParseMemo;
  /** Unix seconds of this evaluation. */
  now: number;
  /** The workload's namespace name as the caller keeps it: the audits of one namespace share that string. */
  namespace?: string;
  /**
   * Lists of applied policies already made with this set, by their names: most workloads are selected by
   * the same few combinations, so 20,000 of them share a handful of arrays. Clear it when the set changes.
   */
  appliedLists?: Map<string, readonly CompiledPolicy[]>;
}

function appliedList(set: PolicySet, names: ReadonlySet<string>, shared: AuditContext['appliedLists']): readonly CompiledPolicy[] {
  if (!shared) return set.policies.filter((p) => names.has(p.name));
  const key = [...names].sort().join('\u0000');
  let list = shared.get(key);
  if (!list) shared.set(key, (list = set.policies.filter((p) => names.has(p.name))));
  return list;
}

// One report holds hundreds of results: a rule's messages beyond this are summarised as a count.
const MAX_MESSAGE_CHARS = 1000;

const PROVENANCE_SKIP = 'provenance is judged at admission (who applied the change, with which commit and approver); the audit does not judge it';
/** Most workloads have nothing but implied outcomes: they all share this one empty list. */
const NO_OUTCOMES: readonly RuleOutcome[] = Object.freeze([]);

/**
 * What a rule's result is when `outcomes` does not name it: provenance rules are `skip` (they judge the
 * write — its author, commit, approver — which a standing object does not carry), every other rule passed.
 */
export function impliedOutcome(rule: CompiledRule): { result: 'pass' | 'skip'; message?: string } {
  return rule.check.type === 'provenance' ? { result: 'skip', message: PROVENANCE_SKIP } : { result: 'pass' };
}

/** A rule's outcome in a workload's audit, explicit or implied. */
export function outcomeOf(audit: WorkloadAudit, policy: CompiledPolicy, rule: CompiledRule): { result: ReportResult; message?: string; path?: string } {
  for (const o of audit.outcomes) if (o.policy === policy && o.rule === rule) return o;
  return impliedOutcome(rule);
}

/**
 * What a violated rule is in a report: `deny` and `audit` rules are requirements not met (`fail`, as
 * Kyverno reports Enforce and Audit alike), a `warn` rule is the API's non-scored `warn`.
 */
export function resultOfAction(action: Action): 'fail' | 'warn' {
  return action === 'warn' ? 'warn' : 'fail';
}

/** Severity from the rule's action: policies have no severity field, and the action is how strongly they mean it. */
export function severityOfAction(action: Action): Severity {
  return action === 'deny' ? 'high' : action === 'warn' ? 'medium' : 'low';
}

/** `kind: Deployment` etc. with the owner filter applied: what a full pass and the incremental path both skip. */
export function isAuditedWorkload(obj: KubeObject): boolean {
  if (!isWorkloadKind(obj.kind) || !obj.metadata?.name || obj.metadata.deletionTimestamp) return false;
  const refs = obj.metadata.ownerReferences;
  const owners = Array.isArray(refs) ? (refs as ({ controller?: unknown; kind?: unknown } | null)[]) : [];
  const controller = owners.find((o) => o?.controller === true);
  if (!controller) return true;
  // The owner's pod template is the one people write: its result covers these.
  if (obj.kind === 'Pod') return false;
  if (obj.kind === 'ReplicaSet') return controller!.kind !== 'Deployment';
  if (obj.kind === 'Job') return controller!.kind !== 'CronJob';
  return true;
}

/** The reference of a workload; undefined without a uid (never stored: nothing to key it by). */
export function workloadRefOf(obj: KubeObject): WorkloadRef | undefined {
  const md = obj.metadata;
  if (!md?.uid || !md.name) return undefined;
  // The kind table's strings, not each object's copies: 20,000 refs then share two strings per kind.
  const info = workloadKind(obj.kind);
  const apiVersion = info && obj.apiVersion === apiVersionOf(info) ? apiVersionOf(info) : String(obj.apiVersion ?? '');
  return { apiVersion, kind: info?.kind ?? String(obj.kind), name: md.name, namespace: md.namespace ?? '', uid: md.uid };
}

/**
 * A violation's message fit for a report: the engine quotes the offending value whole (an image may be
 * megabytes long), so a long value is cut as log lines cut it, then the message itself is bounded.
 */
export function boundedMessage(v: Pick<Violation, 'message' | 'value'>): string {
  const m = v.value !== undefined && v.value.length > QUOTE_MAX_CHARS ? v.message.split(v.value).join(boundText(v.value)) : v.message;
  return boundText(m, MAX_MESSAGE_CHARS);
}

function joinMessages(found: readonly Violation[]): string {
  let text = boundedMessage(found[0]!);
  let shown = 1;
  for (; shown < found.length; shown++) {
    const next = `${text}; ${boundedMessage(found[shown]!)}`;
    if (next.length > MAX_MESSAGE_CHARS) break;
    text = next;
  }
  return shown < found.length ? `${text} (and ${found.length - shown} more)` : text;
}

/**
 * Judges one workload against the set with the gate's engine. Provenance rules are reported `skip`:
 * they judge the write (its author, commit, approver), which a standing object does not carry. A set
 * that throws on this object (it should not) gives `error` for every rule of the policies that select it.
 */
export function auditResults(workload: KubeObject, set: PolicySet, ctx: AuditContext): WorkloadAudit | undefined {
  const ref = workloadRefOf(workload);
  if (!ref) return undefined;
  const request: RequestContext = { operation: 'CREATE', namespace: ref.namespace, username: '', groups: [], ...(ctx.tenant !== undefined ? { tenant: ctx.tenant } : {}) };
  const namespace = ctx.namespace === ref.namespace ? ctx.namespace : ref.namespace;
  // One literal shape for every audit (same keys, same order): V8 gives them one hidden class.
  const make = (applied: readonly CompiledPolicy[], outcomes: readonly RuleOutcome[]): WorkloadAudit => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    namespace,
    uid: ref.uid,
    applied,
    outcomes,
    setDigest: set.digest,
    foundAt: ctx.now,
  });
  let violations: Violation[];
  let applied: readonly CompiledPolicy[];
  try {
    const result = evaluate(set, request, workload, null, ctx.memo);
    violations = result.violations;
    applied = appliedList(set, new Set(result.applied.map((a) => a.name)), ctx.appliedLists);
  } catch (err) {
    applied = set.policies.filter((p) => policyMatches(p, request, workload));
    const message = `evaluation failed: ${boundText(String((err as Error)?.message ?? err), MAX_MESSAGE_CHARS)}`;
    return make(applied, applied.flatMap((policy) => policy.rules.map((rule) => ({ policy, rule, result: 'error' as const, message }))));
  }
  const byRule = new Map<string, Violation[]>();
  for (const v of violations) {
    const key = `${v.policy}\u0000${v.rule}`;
    const list = byRule.get(key);
    if (list) list.push(v);
    else byRule.set(key, [v]);
  }
  const outcomes: RuleOutcome[] = [];
  for (const policy of applied) {
    for (const rule of policy.rules) {
      if (rule.check.type === 'provenance') continue;
      const found = byRule.get(`${policy.name}\u0000${rule.id}`);
      if (found?.length) outcomes.push({ policy, rule, result: resultOfAction(rule.action), message: joinMessages(found), path: boundText(found[0]!.path, MAX_MESSAGE_CHARS) });
    }
  }
  return make(applied, outcomes.length ? outcomes : NO_OUTCOMES);
}

/** True when two audits of a workload would put the same results in a report (timestamps aside). */
export function sameAudit(a: WorkloadAudit, b: WorkloadAudit): boolean {
  if (a.setDigest !== b.setDigest || a.name !== b.name || a.kind !== b.kind || a.apiVersion !== b.apiVersion) return false;
  if (a.applied.length !== b.applied.length || a.outcomes.length !== b.outcomes.length) return false;
  if (a.applied.some((p, i) => p !== b.applied[i])) return false;
  return a.outcomes.every((o, i) => {
    const p = b.outcomes[i]!;
    return o.policy === p.policy && o.rule === p.rule && o.result === p.result && o.message === p.message && o.path === p.path;
  });
}

/** Counts per result over one workload's rules (passes included). */
export function countResults(audit: WorkloadAudit, into: Record<ReportResult, number>): void {
  for (const p of audit.applied) for (const r of p.rules) into[outcomeOf(audit, p, r).result]++;
}
