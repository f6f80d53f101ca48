/**
 * `tracegate policies`: which policies are enforced — name, version, digest and every rule's parameters —
 * for compliance reviewers; from files, or with --cluster the TracegatePolicy objects a gate would load.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { TracegateError } from '../errors.js';
import type { CliIo } from './io.js';
import { loadPolicySet, policyLoader } from './policies-option.js';
import type { PolicyOutcome } from '../policy/cluster-state.js';
import { describePolicySet, parameterText, type PolicySetView } from '../policy/describe.js';
import { toTracegatePolicy } from '../policy/tracegate-policy.js';
import type { PolicySet } from '../policy/types.js';

export const POLICIES_USAGE = `Usage: tracegate policies [-p PATH]... [--cluster [--kubeconfig FILE]] [-o text|json|yaml]

List the policies in force with their versions, sha256 digests, sources and rules with their parameters.

Options:
  -p, --policies PATH     policy file or directory (repeatable; default: the bundled policies)
      --cluster           the cluster's TracegatePolicy objects instead, judged as the gate judges them;
                          exit 1 when one of them would be refused (listed with why)
      --kubeconfig FILE   kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  -o, --output FORMAT     text (default), json, or yaml: the set as TracegatePolicy objects (kubectl apply -f -)
  -h, --help              show this help
`;


/** The view as text: one line per policy, one per rule, one per non-empty parameter. */
export function formatPolicySetText(view: PolicySetView): string {
  const origin = [view.source && `source ${view.source}`, view.loadedAt && `loaded ${view.loadedAt}`].filter(Boolean).join(', ');
  const lines = [`policy set ${view.digest}${origin ? ` (${origin})` : ''}`];
  for (const p of view.policies) {
    lines.push(`${p.name}@${p.version}  ${p.digest}  (${p.source}${p.generation !== undefined ? ` generation ${p.generation}` : ''})`);
    for (const r of p.rules) {
      lines.push(`  ${r.action.padEnd(5)} ${r.id} (${r.check})${r.description ? `: ${r.description}` : ''}`);
      for (const [k, v] of Object.entries(r.parameters)) {
        const text = parameterText(v);
        if (text !== '-') lines.push(`        ${k}: ${text}`);
      }
    }
  }
  for (const o of view.refused ?? []) {
    const kept = o.enforced ? `${o.enforced.version} ${o.enforced.digest} stays in force` : 'not in force';
    lines.push(`REFUSED ${o.name}${o.generation !== undefined ? ` generation ${o.generation}` : ''} (${o.reason}; ${kept}): ${o.message}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The cluster's TracegatePolicy objects judged as the gate judges them (client-node is loaded only here). */
async function clusterView(kubeconfig: string | undefined, io: CliIo): Promise<{ set: PolicySet; refused: PolicyOutcome[] }> {
  const [{ CustomObjectsApi }, { loadKubeConfig }, { createClusterPolicyState }, { listPolicies }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('./kube-client.js'),
    import('../policy/cluster-state.js'),
    import('../policy/cluster-policies.js'),
  ]);
  const api = loadKubeConfig(kubeconfig, io).makeApiClient(CustomObjectsApi);
  const { items } = await listPolicies(api, new AbortController().signal);
  const loader = await policyLoader();
  const { set, outcomes } = createClusterPolicyState({ check: loader.check, toSet: loader.toSet }).reconcile(items);
  return { set, refused: outcomes.filter((o) => !o.ready) };
}

/** Runs `policies`; returns the exit code. */
export async function runPoliciesCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      policies: { type: 'string', short: 'p', multiple: true },
      cluster: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(POLICIES_USAGE);
    return 0;
  }
  if (values.output !== 'text' && values.output !== 'json' && values.output !== 'yaml') {
    throw new TracegateError('USAGE', `unknown output format ${JSON.stringify(values.output)}; use text, json or yaml`);
  }
  if (values.cluster && values.policies?.length) throw new TracegateError('USAGE', '--cluster reads the cluster\'s TracegatePolicy objects; it takes no --policies');
  if (values.kubeconfig !== undefined && !values.cluster) throw new TracegateError('USAGE', '--kubeconfig is for --cluster');
  const { set, refused } = values.cluster ? await clusterView(values.kubeconfig, io) : { set: await loadPolicySet(values.policies, io), refused: undefined };
  if (values.output === 'yaml') {
    io.stdout(set.policies.map((p) => stringify(toTracegatePolicy(p.document), { lineWidth: 0 })).join('---\n'));
    return refused?.length ? 1 : 0;
  }
  const view = describePolicySet(set, { ...(values.cluster ? { source: 'cluster' } : {}), ...(refused ? { refused } : {}) });
  io.stdout(values.output === 'json' ? `${JSON.stringify(view, null, 2)}\n` : formatPolicySetText(view));
  return refused?.length ? 1 : 0;
}
