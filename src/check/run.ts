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
    policies: { name: string; version: string; digest: string }[];
  };
}

/** Evaluates each workload document as a CREATE in its namespace. */
export function runCheck(set: PolicySet, docs: readonly InputDocument[], opts: CheckOptions): CheckReport {
  const results: CheckResult[] = [];
  let skipped = 0;
  for (const doc of docs) {
    const kind = doc.object.kind;
    if (!isWorkloadKind(kind)) {
      skipped++;
      continue;
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
      violations: result.violations.map((v) => {
        const line = doc.lineOf(v.path);
        return line !== undefined ? { ...v, line } : v;
      }),
    });
  }
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
      policies: set.policies.map((p) => ({ name: p.name, version: p.version, digest: p.digest })),
    },
  };
}
