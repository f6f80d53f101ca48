/**
 * The background audit's judgement of one workload, pure: the gate's engine (`evaluate`, as `tracegate
 * check` runs it: a CREATE in the workload's namespace, no admission request) over the live object, kept
 * compact — the policies that selected it and only the rules that did not pass. Passes are implied, so
 * 20,000 mostly-compliant workloads cost little more than their names.
 */
import type { KubeObject } from '../k8s/types.js';
import { evaluate } from '../policy/evaluate.js';
import { policyMatches } from '../policy/match.js';
import type { ParseMemo } from '../policy/rules/context.js';
import type { Action, CompiledPolicy, CompiledRule, PolicySet, RequestContext, Violation } from '../policy/types.js';
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

/** One workload's audit: every rule of every policy in `applied` passed unless `outcomes` says otherwise. */
export interface WorkloadAudit {
  ref: WorkloadRef;
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
}

// One report holds hundreds of results: a rule's messages beyond this are summarised as a count.
const MAX_MESSAGE_CHARS = 1000;

const PROVENANCE_SKIP = 'provenance is judged at admission (who applied the change, with which commit and approver); the audit does not judge it';

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
  return { apiVersion: String(obj.apiVersion ?? ''), kind: String(obj.kind), name: md.name, namespace: md.namespace ?? '', uid: md.uid };
}

function joinMessages(found: readonly Violation[]): string {
  let text = found[0]!.message;
  let shown = 1;
  for (; shown < found.length; shown++) {
    const next = `${text}; ${found[shown]!.message}`;
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
  const base = { ref, setDigest: set.digest, foundAt: ctx.now };
  let violations: Violation[];
  let applied: CompiledPolicy[];
  try {
    const result = evaluate(set, request, workload, null, ctx.memo);
    violations = result.violations;
    const names = new Set(result.applied.map((a) => a.name));
    applied = set.policies.filter((p) => names.has(p.name));
  } catch (err) {
    applied = set.policies.filter((p) => policyMatches(p, request, workload));
    const message = `evaluation failed: ${String((err as Error)?.message ?? err)}`;
    return { ...base, applied, outcomes: applied.flatMap((policy) => policy.rules.map((rule) => ({ policy, rule, result: 'error' as const, message }))) };
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
      if (rule.check.type === 'provenance') {
        outcomes.push({ policy, rule, result: 'skip', message: PROVENANCE_SKIP });
        continue;
      }
      const found = byRule.get(`${policy.name}\u0000${rule.id}`);
      if (found?.length) outcomes.push({ policy, rule, result: resultOfAction(rule.action), message: joinMessages(found), path: found[0]!.path });
    }
  }
  return { ...base, applied, outcomes };
}

/** True when two audits of a workload would put the same results in a report (timestamps aside). */
export function sameAudit(a: WorkloadAudit, b: WorkloadAudit): boolean {
  if (a.setDigest !== b.setDigest || a.ref.name !== b.ref.name || a.ref.kind !== b.ref.kind || a.ref.apiVersion !== b.ref.apiVersion) return false;
  if (a.applied.length !== b.applied.length || a.outcomes.length !== b.outcomes.length) return false;
  if (a.applied.some((p, i) => p !== b.applied[i])) return false;
  return a.outcomes.every((o, i) => {
    const p = b.outcomes[i]!;
    return o.policy === p.policy && o.rule === p.rule && o.result === p.result && o.message === p.message && o.path === p.path;
  });
}

/** Counts per result over one workload's rules (passes included). */
export function countResults(audit: WorkloadAudit, into: Record<ReportResult, number>): void {
  let rules = 0;
  for (const p of audit.applied) rules += p.rules.length;
  for (const o of audit.outcomes) into[o.result]++;
  into.pass += rules - audit.outcomes.length;
}
