/** `tracegate check` without the I/O: documents + policies → one result per workload. Pure. */
import { evaluate } from '../policy/evaluate.js';
import type { PolicySet, RequestContext, Verdict, Violation } from '../policy/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import type { InputDocument } from './inputs.js';

export interface CheckOptions {
  /** Namespace for resources that name none (as `kubectl apply -n` would). */
  namespace: string;
  tenant?: string;
  username: string;
  groups: readonly string[];
  fieldManager?: string;
  /**
   * Judge provenance rules too. Off by default: provenance is an admission-time property (who applies
   * the change, with which commit and approver) that a manifest in CI does not have yet.
   */
  provenance?: boolean;
}

export interface CheckViolation extends Violation {
  line?: number;
}

export interface CheckResult {
  file: string;
  index: number;
  line: number;
  kind: string;
  namespace: string;
  name: string;
  verdict: Verdict;
  violations: CheckViolation[];
}

export interface CheckReport {
  results: CheckResult[];
  summary: {
    resources: number;
    allowed: number;
    warned: number;
    denied: number;
    violations: number;
    /** Documents that are not workloads (Services, ConfigMaps, …): nothing to check. */
    skipped: number;
    /** `policy/rule` of the rules left to admission (provenance, unless asked for). */
    skippedRules: string[];
    policies: { name: string; version: string; digest: string }[];
  };
}

/** The set without its provenance rules, and which rules those were. */
function withoutProvenance(set: PolicySet): { set: PolicySet; skipped: string[] } {
  const skipped: string[] = [];
  const policies = set.policies.map((p) => {
    const rules = p.rules.filter((r) => r.check.type !== 'provenance');
    if (rules.length === p.rules.length) return p;
    for (const r of p.rules) if (r.check.type === 'provenance') skipped.push(`${p.name}/${r.id}`);
    return { ...p, rules };
  });
  return { set: { ...set, policies }, skipped };
}

/** A check in progress: documents go in one at a time (as they are parsed), the report comes out at the end. */
export interface CheckRun {
  /** Evaluates one document (a workload as a CREATE in its namespace; anything else is counted as skipped). */
  add(doc: InputDocument): void;
  report(): CheckReport;
}

/** Starts a check of documents against `full` (without its provenance rules unless `opts.provenance`). */
export function createCheckRun(full: PolicySet, opts: CheckOptions): CheckRun {
  const { set, skipped: skippedRules } = opts.provenance ? { set: full, skipped: [] } : withoutProvenance(full);
  const results: CheckResult[] = [];
  let skipped = 0;
  const add = (doc: InputDocument): void => {
    const kind = doc.object.kind;
    if (!isWorkloadKind(kind)) {
      skipped++;
      return;
    }
    const namespace = doc.object.metadata?.namespace || opts.namespace;
    const ctx: RequestContext = {
      operation: 'CREATE',
      namespace,
      ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
      username: opts.username,
      groups: opts.groups,
      ...(opts.fieldManager !== undefined ? { fieldManager: opts.fieldManager } : {}),
    };
    const result = evaluate(set, ctx, doc.object, null);
    results.push({
      file: doc.file,
      index: doc.index,
      line: doc.line,
      kind,
      namespace,
      name: doc.object.metadata?.name ?? doc.object.metadata?.generateName ?? '',
      verdict: result.verdict,
      // Only documents with findings are located field by field.
      violations: result.violations.map((v) => {
        const line = doc.lineOf(v.path);
        return line !== undefined ? { ...v, line } : v;
      }),
    });
  };
  const report = (): CheckReport => {
    const count = (v: Verdict) => results.filter((r) => r.verdict === v).length;
    return {
      results,
      summary: {
        resources: results.length,
        allowed: count('allow'),
        warned: count('warn'),
        denied: count('deny'),
        violations: results.reduce((n, r) => n + r.violations.length, 0),
        skipped,
        skippedRules,
        policies: full.policies.map((p) => ({ name: p.name, version: p.version, digest: p.digest })),
      },
    };
  };
  return { add, report };
}

/** Evaluates each workload document as a CREATE in its namespace. */
export function runCheck(full: PolicySet, docs: Iterable<InputDocument>, opts: CheckOptions): CheckReport {
  const run = createCheckRun(full, opts);
  for (const doc of docs) run.add(doc);
  return run.report();
}
