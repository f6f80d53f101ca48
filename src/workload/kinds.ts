/**
 * The one table of the workload kinds tracegate judges and records: where each is served, where it keeps
 * its pod template, and what the recorder and the gate do with it. Everything else (the engine, the
 * recorder's informers, the CLI's `kind/name` arguments, messages) reads this table.
 */

/** The kinds, as policies name them in `match.kinds` (policies/policy.schema.json lists the same). */
export const WORKLOAD_KIND_NAMES = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod', 'ReplicationController'] as const;
export type WorkloadKind = (typeof WORKLOAD_KIND_NAMES)[number];

/** One kind that runs pods. */
export interface WorkloadKindInfo {
  kind: WorkloadKind;
  /** API group ('' for core) and version the kind is served at. */
  group: string;
  version: string;
  /** Plural resource name, as in URLs and `kubectl get`. */
  plural: string;
  /** Path (as keys) from the object root to its pod template; the Pod is its own template. */
  templatePath: readonly string[];
  /** Turned into Helm release revisions by the recorder (Pods are not: they are replaced, not changed). */
  recorded: boolean;
  /** Has `spec.revisionHistoryLimit` (old ReplicaSets / ControllerRevisions for Kubernetes' own rollbacks). */
  revisionHistory: boolean;
}

function kind(info: Omit<WorkloadKindInfo, 'plural'> & { plural?: string }): WorkloadKindInfo {
  return Object.freeze({ ...info, plural: info.plural ?? `${info.kind.toLowerCase()}s` });
}

const TEMPLATE = ['spec', 'template'] as const;

/** Every kind, in the order messages and discovery list them. */
export const WORKLOAD_KIND_TABLE: readonly WorkloadKindInfo[] = Object.freeze([
  kind({ kind: 'Deployment', group: 'apps', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: true }),
  kind({ kind: 'StatefulSet', group: 'apps', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: true }),
  kind({ kind: 'DaemonSet', group: 'apps', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: true }),
  kind({ kind: 'ReplicaSet', group: 'apps', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: false }),
  kind({ kind: 'Job', group: 'batch', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: false }),
  kind({ kind: 'CronJob', group: 'batch', version: 'v1', templatePath: ['spec', 'jobTemplate', 'spec', 'template'], recorded: true, revisionHistory: false }),
  kind({ kind: 'ReplicationController', group: '', version: 'v1', templatePath: TEMPLATE, recorded: true, revisionHistory: false }),
  kind({ kind: 'Pod', group: '', version: 'v1', templatePath: [], recorded: false, revisionHistory: false }),
]);

const BY_KIND = new Map<string, WorkloadKindInfo>(WORKLOAD_KIND_TABLE.map((k) => [k.kind, k]));
// `deployment`, `deployments`, `deploy`, `sts`, … as kubectl accepts them (its short names included).
const SHORT_NAMES: Readonly<Record<string, WorkloadKind>> = { deploy: 'Deployment', sts: 'StatefulSet', ds: 'DaemonSet', rs: 'ReplicaSet', cj: 'CronJob', rc: 'ReplicationController', po: 'Pod' };
const BY_NAME = new Map<string, WorkloadKindInfo>();
for (const k of WORKLOAD_KIND_TABLE) {
  BY_NAME.set(k.kind.toLowerCase(), k);
  BY_NAME.set(k.plural, k);
}
for (const [short, kindName] of Object.entries(SHORT_NAMES)) BY_NAME.set(short, BY_KIND.get(kindName)!);

/** The kind's entry; undefined for any other kind (Map lookup: `constructor` is not a kind). */
export function workloadKind(kindName: unknown): WorkloadKindInfo | undefined {
  return typeof kindName === 'string' ? BY_KIND.get(kindName) : undefined;
}

/** The kind a user typed (`statefulset`, `statefulsets`, `sts`, `StatefulSet`), as kubectl resolves it. */
export function workloadKindByName(name: string): WorkloadKindInfo | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(info: Pick<WorkloadKindInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The kinds the recorder turns into Helm release revisions. */
export const RECORDED_KINDS: readonly WorkloadKindInfo[] = WORKLOAD_KIND_TABLE.filter((k) => k.recorded);
