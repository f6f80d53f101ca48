/** `tracegate history NS/DEPLOYMENT`: every recorded revision with its provenance. */
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { defaultAdoptedName, releaseOf } from '../recorder/controller.js';
import { formatHistoryTable, historyRows } from '../recorder/history.js';
import { createSecretDriver } from '../recorder/secret-driver.js';
import type { CliIo } from './io.js';
import { loadKubeConfig, parseWorkloadRef } from './kube-client.js';

export const HISTORY_USAGE = `Usage: tracegate history NAMESPACE/DEPLOYMENT [--kubeconfig FILE] [-o table|json]

Show the Helm release history of a Deployment — Helm's own revisions and the changes tracegate
recorded — with time, status, tenant, commit, approver, user, field manager and what changed.
`;

export async function runHistoryCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      'annotation-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HISTORY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new TracegateError('USAGE', 'give exactly one NAMESPACE/DEPLOYMENT');
  if (values.output !== 'table' && values.output !== 'json') throw new TracegateError('USAGE', `unknown output format ${JSON.stringify(values.output)}; use table or json`);
  const ref = parseWorkloadRef(positionals[0]!);
  if (!ref) throw new TracegateError('USAGE', `not a NAMESPACE/DEPLOYMENT: ${JSON.stringify(positionals[0])}`);
  const kc = loadKubeConfig(values.kubeconfig, io);
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  const live = (await kc.makeApiClient(AppsV1Api).readNamespacedDeployment(ref).catch((err: unknown) => {
    throw new TracegateError('RELEASE_NOT_FOUND', `cannot read deployment ${ref.namespace}/${ref.name}: ${(err as Error).message}`);
  })) as unknown as KubeObject;
  live.kind ??= 'Deployment';
  const release = releaseOf(live, defaultAdoptedName);
  const history = await createSecretDriver({ core: kc.makeApiClient(CoreV1Api) }).history(release.namespace, release.name);
  const rows = historyRows(history, prefix, { kind: 'Deployment', name: ref.name });
  if (values.output === 'json') io.stdout(`${JSON.stringify({ release: `${release.namespace}/${release.name}`, adopted: release.adopted, revisions: rows }, null, 2)}\n`);
  else if (!rows.length) io.stdout(`no recorded history for ${ref.namespace}/${ref.name} (release ${release.namespace}/${release.name})\n`);
  else io.stdout(`release ${release.namespace}/${release.name}${release.adopted ? ' (adopted by tracegate)' : ''}\n${formatHistoryTable(rows)}`);
  return 0;
}
