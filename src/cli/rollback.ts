/** `tracegate rollback NS/DEPLOYMENT REVISION…`: restore recorded revisions, like helm rollback. */
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { TracegateError, isTracegateError } from '../errors.js';
import { DEFAULT_RETRY } from '../kube/retry.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { defaultAdoptedName } from '../recorder/controller.js';
import { createRollback, runRollbacks, type RollbackRequest } from '../recorder/rollback.js';
import { createSecretDriver } from '../recorder/secret-driver.js';
import type { CliIo } from './io.js';
import { loadKubeConfig, parseWorkloadRef } from './kube-client.js';

export const ROLLBACK_USAGE = `Usage: tracegate rollback NAMESPACE/DEPLOYMENT REVISION [NAMESPACE/DEPLOYMENT REVISION]... [options]

Apply a recorded revision's Deployment (server-side apply, field manager tracegate-rollback) and record
"Rollback to N" as a new revision, as helm rollback does. The apply carries the revision's commit and an
approver so the gate admits it. Throttling (429) and server errors are retried with backoff, honouring
Retry-After. Several rollbacks run one at a time, highest --priority first.

Options:
      --approver NAME            approver recorded on the rollback (default: the revision's approver)
      --commit SHA               commit recorded on the rollback (default: the revision's commit)
      --priority NS/DEPLOY=N     run this rollback before lower ones (repeatable; default 0)
      --kubeconfig FILE          kubeconfig
  -h, --help                     show this help
`;

export async function runRollbackCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      approver: { type: 'string' },
      commit: { type: 'string' },
      priority: { type: 'string', multiple: true },
      kubeconfig: { type: 'string' },
      'annotation-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(ROLLBACK_USAGE);
    return 0;
  }
  if (positionals.length === 0 || positionals.length % 2 !== 0) throw new TracegateError('USAGE', 'give NAMESPACE/DEPLOYMENT REVISION pairs');
  const priorities = new Map<string, number>();
  for (const p of values.priority ?? []) {
    const m = /^(.+)=(-?\d+)$/.exec(p);
    const ref = m && parseWorkloadRef(m[1]!);
    if (!m || !ref) throw new TracegateError('USAGE', `--priority takes NAMESPACE/DEPLOYMENT=N, got ${JSON.stringify(p)}`);
    priorities.set(`${ref.namespace}/${ref.name}`, Number(m[2]));
  }
  const requests: RollbackRequest[] = [];
  for (let i = 0; i < positionals.length; i += 2) {
    const ref = parseWorkloadRef(positionals[i]!);
    const rev = positionals[i + 1]!;
    if (!ref) throw new TracegateError('USAGE', `not a NAMESPACE/DEPLOYMENT: ${JSON.stringify(positionals[i])}`);
    if (!/^[1-9]\d*$/.test(rev)) throw new TracegateError('USAGE', `revision must be a positive whole number, got ${JSON.stringify(rev)}`);
    requests.push({
      ...ref,
      revision: Number(rev),
      priority: priorities.get(`${ref.namespace}/${ref.name}`) ?? 0,
      ...(values.approver ? { approver: values.approver } : {}),
      ...(values.commit ? { commit: values.commit } : {}),
    });
  }
  const kc = loadKubeConfig(values.kubeconfig, io);
  const rollback = createRollback({
    apps: kc.makeApiClient(AppsV1Api),
    storage: createSecretDriver({ core: kc.makeApiClient(CoreV1Api) }),
    prefix: values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX,
    adoptedName: defaultAdoptedName,
    retry: DEFAULT_RETRY,
  });
  const { done, failed } = await runRollbacks(requests, rollback);
  for (const d of done) io.stdout(`Rollback was a success: ${d.release} is now revision ${d.revision} (rollback to ${d.to}).\n`);
  for (const f of failed) io.stderr(`rollback of ${f.request.namespace}/${f.request.name} to ${f.request.revision} failed: ${f.error.message}\n`);
  // The most severe failure decides, so an unknown revision is a usage-class exit 2 as for one rollback.
  return failed.reduce((code, f) => Math.max(code, isTracegateError(f.error) ? f.error.exitCode : 1), 0);
}
