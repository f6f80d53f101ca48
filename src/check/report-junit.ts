/** JUnit XML for CI systems that render test reports: one test case per resource. */
import type { CheckReport } from './run.js';

/** XML 1.0 text escaping; control characters other than tab/newline are not allowed in XML at all. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Renders the report as a JUnit `<testsuites>` document. */
export function formatJunit(report: CheckReport): string {
  const s = report.summary;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="tracegate check" tests="${s.resources}" failures="${s.denied}">`);
  out.push(`  <testsuite name="tracegate policies" tests="${s.resources}" failures="${s.denied}" errors="0" skipped="0">`);
  for (const r of report.results) {
    const name = xmlEscape(`${r.kind} ${r.namespace}/${r.name}`);
    out.push(`    <testcase classname="${xmlEscape(r.file)}" name="${name}">`);
    const denied = r.violations.filter((v) => v.action === 'deny');
    if (denied.length) {
      const text = denied.map((v) => `${v.message} [${v.policy}/${v.rule}]\nfix: ${v.fix}`).join('\n');
      out.push(`      <failure message="${xmlEscape(`${denied.length} policy violation${denied.length === 1 ? '' : 's'}`)}" type="policy">${xmlEscape(text)}</failure>`);
    }
    const others = r.violations.filter((v) => v.action !== 'deny');
    if (others.length) out.push(`      <system-out>${xmlEscape(others.map((v) => `${v.action}: ${v.message} [${v.policy}/${v.rule}]`).join('\n'))}</system-out>`);
    out.push('    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>');
  return `${out.join('\n')}\n`;
}
