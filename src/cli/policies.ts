/** `tracegate policies`: which policies are enforced — name, version, digest — for compliance reviewers. */
import { parseArgs } from 'node:util';
import { TracegateError } from '../errors.js';
import type { CliIo } from './io.js';
import { loadPolicySet } from './policies-option.js';
import type { PolicySet } from '../policy/types.js';

export const POLICIES_USAGE = `Usage: tracegate policies [-p PATH]... [-o text|json]

List the policies in force with their versions, sha256 digests, sources and rules.
`;

/** The compliance view of a policy set, shared by the CLI and the gate's GET /policies. */
export function describePolicySet(set: PolicySet) {
  return {
    digest: set.digest,
    policies: set.policies.map((p) => ({
      name: p.name,
      version: p.version,
      digest: p.digest,
      source: p.source.file,
      ...(p.description ? { description: p.description } : {}),
      rules: p.rules.map((r) => ({ id: r.id, action: r.action, check: r.check.type, ...(r.description ? { description: r.description } : {}) })),
    })),
  };
}

/** Runs `policies`; returns the exit code. */
export async function runPoliciesCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { policies: { type: 'string', short: 'p', multiple: true }, output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout(POLICIES_USAGE);
    return 0;
  }
  if (values.output !== 'text' && values.output !== 'json') {
    throw new TracegateError('USAGE', `unknown output format ${JSON.stringify(values.output)}; use text or json`);
  }
  const view = describePolicySet(await loadPolicySet(values.policies, io));
  if (values.output === 'json') {
    io.stdout(`${JSON.stringify(view, null, 2)}\n`);
    return 0;
  }
  const lines = [`policy set ${view.digest}`];
  for (const p of view.policies) {
    lines.push(`${p.name}@${p.version}  ${p.digest}  (${p.source})`);
    for (const r of p.rules) lines.push(`  ${r.action.padEnd(5)} ${r.id} (${r.check})${r.description ? `: ${r.description}` : ''}`);
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}
