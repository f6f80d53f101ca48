/** The machine report of `tracegate check -o json`: `{ results, summary }`, stable field names. */
import type { CheckReport } from './run.js';

/** Renders the report as pretty-printed JSON with a trailing newline. */
export function formatJson(report: CheckReport): string {
  const results = report.results.map((r) => ({
    file: r.file,
    index: r.index,
    kind: r.kind,
    namespace: r.namespace,
    name: r.name,
    verdict: r.verdict,
    violations: r.violations.map((v) => ({
      rule: v.rule,
      policy: v.policy,
      action: v.action,
      container: v.container ?? null,
      ...(v.volume !== undefined ? { volume: v.volume } : {}),
      path: v.path,
      message: v.message,
      fix: v.fix,
      ...(v.value !== undefined ? { value: v.value } : {}),
      ...(v.line !== undefined ? { line: v.line } : {}),
    })),
  }));
  return `${JSON.stringify({ results, summary: report.summary }, null, 2)}\n`;
}
