/** SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab): one result per violation, at its line. */
import type { CheckReport } from './run.js';

const LEVEL = { deny: 'error', warn: 'warning', audit: 'note' } as const;

/** Renders the report as a SARIF 2.1.0 log. */
export function formatSarif(report: CheckReport, toolVersion: string): string {
  const rules = new Map<string, { id: string; shortDescription: { text: string }; properties: Record<string, string> }>();
  const results = [];
  for (const r of report.results) {
    for (const v of r.violations) {
      const id = `${v.policy}/${v.rule}`;
      if (!rules.has(id)) rules.set(id, { id, shortDescription: { text: `${v.policy} rule ${v.rule}` }, properties: { policyVersion: v.policyVersion } });
      results.push({
        ruleId: id,
        level: LEVEL[v.action],
        message: { text: `${r.kind} ${r.namespace}/${r.name}: ${v.message}. Fix: ${v.fix}` },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: r.file === '<stdin>' ? 'stdin' : r.file.replace(/\\/g, '/') },
              region: { startLine: v.line ?? r.line ?? 1 },
            },
            logicalLocations: [{ fullyQualifiedName: `${r.kind}/${r.namespace}/${r.name}/${v.path}` }],
          },
        ],
      });
    }
  }
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'tracegate', version: toolVersion, informationUri: 'https://tracegate.io', rules: [...rules.values()] } },
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
