/** `tracegate history [NS/][KIND/]NAME`: every recorded change of a workload, deleted ones included. */
import { parseArgs } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { kubeApiError } from '../kube/api-error.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { formatHistoryTable, historyRows, type HistoryRow } from '../recorder/history.js';
import type { ReleaseRef } from '../recorder/record-context.js';
import { READER_LIMITS, createSecretDriver } from '../recorder/secret-driver.js';
import { readReleaseHistory, readWorkloadBasics } from '../recorder/workload-record.js';
import type { StoredRelease } from '../recorder/storage.js';
import { allEntries, type TrailObject } from '../recorder/trail.js';
import type { CliIo } from './io.js';
import { formatRef, loadKubeConfig, parseWorkloadRef, type WorkloadRef } from './kube-client.js';

export const HISTORY_USAGE = `Usage: tracegate history [NAMESPACE/][KIND/]NAME [-n NAMESPACE] [--kubeconfig FILE] [-o table|json]

Show every recorded change of a workload — Helm's own revisions and the changes tracegate recorded,
including revisions Helm has pruned and workloads that were deleted — with time, status, verdict
(verified / unverified / break-glass), tenant, commit, approver, whether a signed approval or CI token
proved that approver (APPROVAL verified / unverified; re-check one with tracegate verify --revision N),
user, tool and what changed.
KIND is any workload kind (deployment, statefulset, daemonset, replicaset, job, cronjob,
replicationcontroller, or their short names); without it, a Deployment.

Options:
  -n, --namespace NS        namespace of the workload (default: "default", or the one in the name)
  -o, --output FORMAT       table (default) or json
      --kubeconfig FILE     kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
      --context NAME        the kubeconfig context to use (default: its current context), as kubectl --context
      --annotation-prefix P prefix of tracegate's annotations and labels (tracegate.io/)
  -h, --help                show this help

Examples:
  tracegate history team-a/web
  tracegate history -n team-a statefulset/db -o json
`;

/** Everything known about one workload: its live object, trail and Helm release. */
export interface WorkloadRecord {
  live?: KubeObject;
  trail: TrailObject[];
  release?: ReleaseRef;
  history: StoredRelease[];
  /** Who else manages it, when it is not Helm's or tracegate's to record as revisions. */
  owner?: string;
}

/** Reads the live object, the trail and the release history of a workload (with the readers' limits). */
export async function readWorkloadRecord(kc: KubeConfig, ref: WorkloadRef, prefix: string): Promise<WorkloadRecord> {
  const basics = await readWorkloadBasics(kc, ref, prefix);
  if (!basics.release) return { ...basics, history: [] };
  // A reader's limits: any tenant who may write Secrets in the namespace can plant inflating records.
  const storage = createSecretDriver({ core: kc.makeApiClient(CoreV1Api), limits: READER_LIMITS });
  const { release, history } = await readReleaseHistory(storage, basics.release);
  return { ...basics, release, history };
}

function heading(ref: WorkloadRef, rec: WorkloadRecord): string {
  const lines = [`${formatRef(ref)}${rec.live ? '' : ' (deleted)'}`];
  if (rec.owner) lines.push(`managed by ${rec.owner}: recorded in tracegate's trail only, never adopted into a Helm release`);
  if (rec.release && rec.history.length) lines.push(`release ${rec.release.namespace}/${rec.release.name}${rec.release.adopted ? ' (adopted by tracegate)' : ''}`);
  return `${lines.join('\n')}\n`;
}

export async function runHistoryCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      'annotation-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(HISTORY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new TracegateError('USAGE', 'give exactly one workload: [NAMESPACE/][KIND/]NAME');
  if (values.output !== 'table' && values.output !== 'json') throw new TracegateError('USAGE', `unknown output format ${JSON.stringify(values.output)}; use table or json`);
  const ref = parseWorkloadRef(positionals[0]!, values.namespace ?? 'default');
  if (!ref) throw new TracegateError('USAGE', `not a workload reference: ${JSON.stringify(positionals[0])} (use [NAMESPACE/][KIND/]NAME)`);
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  const kc = loadKubeConfig(values.kubeconfig, io, values.context);
  let rec: WorkloadRecord;
  try {
    rec = await readWorkloadRecord(kc, ref, prefix);
  } catch (err) {
    // client-node refuses some configurations before any request (e.g. http:// without TLS skip).
    throw err instanceof TracegateError ? err : kubeApiError('read', `the history of ${formatRef(ref)}`, err);
  }
  const entries = allEntries(rec.trail);
  const rows: HistoryRow[] = historyRows(rec.history, entries, prefix, { kind: ref.kind.kind, name: ref.name });
  if (!rec.live && rows.length === 0) {
    throw new TracegateError('RELEASE_NOT_FOUND', `no history for ${formatRef(ref)}: it does not exist and nothing was recorded for it`);
  }
  if (values.output === 'json') {
    const out = {
      workload: { namespace: ref.namespace, kind: ref.kind.kind, name: ref.name, exists: rec.live !== undefined },
      release: rec.release && rec.history.length ? { namespace: rec.release.namespace, name: rec.release.name, adopted: rec.release.adopted } : null,
      owner: rec.owner ?? null,
      revisions: rows,
    };
    io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  } else if (!rows.length) io.stdout(`${heading(ref, rec)}no recorded history yet\n`);
  else io.stdout(`${heading(ref, rec)}${formatHistoryTable(rows)}`);
  return 0;
}
