/** `tracegate rollback [NS/][KIND/]NAME REVISION…`: make workloads exactly a recorded revision, like helm rollback. */
import { parseArgs } from 'node:util';
import { AuthenticationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { TracegateError, isTracegateError } from '../errors.js';
import { kubeApiError } from '../kube/api-error.js';
import { DEFAULT_RETRY } from '../kube/retry.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { defaultAdoptedName } from '../recorder/record-context.js';
import { createSecretDriver } from '../recorder/secret-driver.js';
import { createTrailStore } from '../recorder/trail-store.js';
import { createRollback, runRollbacks, type RollbackPreview, type RollbackRequest } from '../rollback/rollback.js';
import { createWorkloadApi } from '../rollback/workload-api.js';
import type { CliIo } from './io.js';
import { formatRef, loadKubeConfig, parseWorkloadRef, type WorkloadRef } from './kube-client.js';

export const ROLLBACK_USAGE = `Usage: tracegate rollback [NAMESPACE/][KIND/]NAME REVISION [[NAMESPACE/][KIND/]NAME REVISION]... [options]
       tracegate rollback [NAMESPACE/][KIND/]NAME... --to-last-good [options]

Make a workload exactly what a recorded revision holds and record "Rollback to N" as a new revision, as
helm rollback does. The pod template becomes the revision's, field for field, whoever changed it since
(containers added by kubectl patch are removed, images set by kubectl set image restored); the write is
a guarded update that a concurrent change turns into a retry, never a silent merge. Afterwards the live
object is read back and compared with the revision: any difference fails the rollback, names the
fields, and leaves the revision failed. The write carries the revision's commit and approver so the gate
admits it. Throttling (429) and server errors are retried with jittered backoff, honouring Retry-After.

KIND is any workload kind (deployment, statefulset, daemonset, replicaset, job, cronjob,
replicationcontroller, or a short name: deploy, sts, ds, rs, cj, rc); the default is deployment.

Options:
      --to-last-good             roll back to the newest earlier revision that the gate verified (not
                                 UNVERIFIED, not BREAK-GLASS) and that rolled out completely
      --dry-run                  print the object the rollback would write and what would change, and ask
                                 the API server (and its webhooks) whether it would be admitted; write nothing
      --break-glass REASON       outage rollback past the gate (members of the break-glass group only; see
                                 the README's outage runbook). Recorded as BREAK-GLASS with your user name
      --approver NAME            approver recorded on the rollback (default: the revision's approver)
      --commit SHA               commit recorded on the rollback (default: the revision's commit)
      --priority REF=N           run this rollback before lower ones (repeatable; default 0)
      --parallel N               rollbacks in flight at once (default 1: one at a time, in priority order)
  -n, --namespace NS             namespace of references without one (default: default)
      --kubeconfig FILE          kubeconfig
      --context NAME             the kubeconfig context to use (default: its current context), as kubectl --context
  -h, --help                     show this help
`;

/** One at a time by default: the order the operator gave (by priority) is the order the cluster sees. */
const DEFAULT_PARALLEL = 1;

/** The requester's user name as the apiserver authenticates it (SelfSubjectReview, GA since Kubernetes 1.28). */
async function whoAmI(kc: KubeConfig): Promise<string> {
  try {
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    const name = review.status?.userInfo?.username;
    if (!name) throw new Error('the review named no user');
    return name;
  } catch (err) {
    throw kubeApiError('create', 'SelfSubjectReview (who am I?)', err);
  }
}

function previewText(ref: WorkloadRef, p: RollbackPreview): string {
  const lines = [`# ${formatRef(ref)}: release ${p.release} revision ${p.from} → rollback to ${p.to} (dry run: nothing written)`];
  for (const why of p.passedOver) lines.push(`# passed over revision ${why}`);
  lines.push(p.changes.length ? '# pod template changes:' : '# the pod template already matches the revision');
  for (const c of p.changes) lines.push(`#   ${c}`);
  lines.push(p.refused === undefined ? '# the API server and its webhooks would admit it' : `# REFUSED: ${p.refused}`);
  return `${lines.join('\n')}\n${p.manifest}`;
}

function parseRequests(positionals: string[], values: { 'to-last-good'?: boolean | undefined; namespace?: string | undefined }): { ref: WorkloadRef; revision: number | 'last-good' }[] {
  const parse = (arg: string) => {
    const ref = parseWorkloadRef(arg, values.namespace ?? 'default');
    if (!ref) throw new TracegateError('USAGE', `not a workload reference: ${JSON.stringify(arg)} (use [NAMESPACE/][KIND/]NAME)`);
    if (!ref.kind.recorded) throw new TracegateError('USAGE', `${ref.kind.kind}s have no recorded revisions to roll back to`);
    return ref;
  };
  if (values['to-last-good']) {
    if (positionals.length === 0) throw new TracegateError('USAGE', 'give the workloads to roll back: [NAMESPACE/][KIND/]NAME...');
    if (positionals.some((p) => /^\d+$/.test(p))) throw new TracegateError('USAGE', '--to-last-good picks the revision itself: give workloads only');
    return positionals.map((p) => ({ ref: parse(p), revision: 'last-good' as const }));
  }
  if (positionals.length === 0 || positionals.length % 2 !== 0) throw new TracegateError('USAGE', 'give [NAMESPACE/][KIND/]NAME REVISION pairs (or --to-last-good)');
  const out: { ref: WorkloadRef; revision: number }[] = [];
  for (let i = 0; i < positionals.length; i += 2) {
    const rev = positionals[i + 1]!;
    if (!/^[1-9]\d*$/.test(rev)) throw new TracegateError('USAGE', `revision must be a positive whole number, got ${JSON.stringify(rev)}`);
    out.push({ ref: parse(positionals[i]!), revision: Number(rev) });
  }
  return out;
}

export async function runRollbackCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'to-last-good': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'break-glass': { type: 'string' },
      approver: { type: 'string' },
      commit: { type: 'string' },
      priority: { type: 'string', multiple: true },
      parallel: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'annotation-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(ROLLBACK_USAGE);
    return 0;
  }
  const targets = parseRequests(positionals, values);
  const key = (r: WorkloadRef) => `${r.namespace}/${r.kind.kind}/${r.name}`;
  const priorities = new Map<string, number>();
  for (const p of values.priority ?? []) {
    const m = /^(.+)=(-?\d+)$/.exec(p);
    const ref = m && parseWorkloadRef(m[1]!, values.namespace ?? 'default');
    if (!m || !ref) throw new TracegateError('USAGE', `--priority takes [NAMESPACE/][KIND/]NAME=N, got ${JSON.stringify(p)}`);
    priorities.set(key(ref), Number(m[2]));
  }
  const parallel = values.parallel === undefined ? DEFAULT_PARALLEL : Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) throw new TracegateError('USAGE', `--parallel takes a whole number ≥ 1, got ${JSON.stringify(values.parallel)}`);
  const reason = values['break-glass'];
  if (reason !== undefined && reason.trim() === '') throw new TracegateError('USAGE', '--break-glass needs a reason: it is recorded with the rollback');

  const kc = loadKubeConfig(values.kubeconfig, io, values.context);
  const breakGlass = reason === undefined ? undefined : { reason, user: await whoAmI(kc) };
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  const rollback = createRollback({
    workloads: createWorkloadApi(kc),
    storage: createSecretDriver({ core: kc.makeApiClient(CoreV1Api) }),
    trails: createTrailStore({ api: kc.makeApiClient(CustomObjectsApi), prefix }),
    prefix,
    adoptedName: defaultAdoptedName,
    retry: DEFAULT_RETRY,
  });
  const requests: RollbackRequest[] = targets.map(({ ref, revision }) => ({
    namespace: ref.namespace,
    name: ref.name,
    kind: ref.kind,
    revision,
    priority: priorities.get(key(ref)) ?? 0,
    ...(values.approver ? { approver: values.approver } : {}),
    ...(values.commit ? { commit: values.commit } : {}),
    ...(breakGlass ? { breakGlass } : {}),
  }));
  const refOf = (r: RollbackRequest): WorkloadRef => ({ namespace: r.namespace, name: r.name, kind: r.kind });
  const what = (r: RollbackRequest) => `${r.namespace}/${r.name}${r.kind.kind === 'Deployment' ? '' : ` (${r.kind.kind})`} to ${r.revision === 'last-good' ? 'the last good revision' : r.revision}`;

  if (values['dry-run']) {
    const { done, failed } = await runRollbacks(requests, async (r) => ({ r, p: await rollback.preview(r) }), parallel);
    for (const { r, p } of done) io.stdout(previewText(refOf(r), p));
    for (const f of failed) io.stderr(`rollback of ${what(f.request)} cannot be prepared: ${f.error.message}\n`);
    const refused = done.some((d) => d.p.refused !== undefined);
    return Math.max(refused ? 1 : 0, ...failed.map((f) => (isTracegateError(f.error) ? f.error.exitCode : 1)));
  }
  const { done, failed } = await runRollbacks(requests, rollback.run, parallel);
  for (const d of done) {
    const skipped = d.passedOver.length ? ` Passed over: ${d.passedOver.join('; ')}.` : '';
    io.stdout(`Rollback was a success: ${d.release} is now revision ${d.revision} (rollback to ${d.to}).${skipped}\n`);
  }
  for (const f of failed) io.stderr(`rollback of ${what(f.request)} failed: ${f.error.message}\n`);
  // The most severe failure decides, so an unknown revision is a usage-class exit 2 as for one rollback.
  return failed.reduce((code, f) => Math.max(code, isTracegateError(f.error) ? f.error.exitCode : 1), 0);
}
