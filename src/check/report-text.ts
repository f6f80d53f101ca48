/** The human report of `tracegate check`: grouped by resource, one line per problem, then the fix. */
import type { CheckReport } from './run.js';

const MARK = { allow: 'PASS', warn: 'WARN', deny: 'FAIL' } as const;

/** Renders the report as plain text (no colour codes: CI logs keep it readable). */
export function formatText(report: CheckReport): string {
  const lines: string[] = [];
  for (const r of report.results) {
    const where = `${r.file}${r.line ? `:${r.line}` : ''}`;
    lines.push(`${MARK[r.verdict]} ${r.kind} ${r.namespace}/${r.name} (${where})`);
    for (const v of r.violations) {
      lines.push(`  ${v.action.padEnd(5)} ${v.message} [${v.policy}/${v.rule}]`);
      lines.push(`        fix: ${v.fix}`);
    }
  }
  const s = report.summary;
  if (lines.length) lines.push('');
  lines.push(
    `${s.resources} resource${s.resources === 1 ? '' : 's'} checked: ${s.denied} denied, ${s.warned} with warnings, ${s.allowed} allowed` +
      (s.skipped ? ` (${s.skipped} non-workload document${s.skipped === 1 ? '' : 's'} skipped)` : ''),
  );
  if (s.skippedRules.length) lines.push(`left to admission: ${s.skippedRules.join(', ')} (judged when the change is applied; --provenance judges them here)`);
  lines.push(`policies: ${s.policies.map((p) => `${p.name}@${p.version} ${p.digest.slice(0, 19)}`).join(', ') || 'none'}`);
  return `${lines.join('\n')}\n`;
}
