/**
 * The audit's view of the cluster, paged: namespace names, then one namespace's pod-bearing workloads a
 * page at a time (`limit`/`continue`, client-node's list options), so a full pass holds one page of
 * objects, never the cluster.
 */
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import type { KubeObject } from '../k8s/types.js';
import { apiVersionOf, WORKLOAD_KIND_TABLE, type WorkloadKindInfo } from '../workload/kinds.js';

/** Objects per list request: the apiserver's own pagers (client-go's ListPager) use 500. */
export const DEFAULT_PAGE_SIZE = 500;
const NOT_FOUND = 404;

/** One page of a list and the token for the next. */
type Page = { items: KubernetesObject[]; metadata?: { _continue?: string } };
type PageLister = (namespace: string, limit: number, cont: string | undefined) => Promise<Page>;

/** Lists the audit needs, page by page. */
export interface WorkloadSource {
  /** Namespaces with their labels (a tenant may be named by one). */
  namespaces(): AsyncIterable<{ name: string; labels: Record<string, string> }>;
  /** Every pod-bearing object of the namespace (owned ones included: the caller filters), as plain JSON. */
  workloads(namespace: string): AsyncIterable<KubeObject>;
  /** One namespace with its labels (undefined: it does not exist), for one created since the last pass. */
  namespace?(name: string): Promise<{ name: string; labels: Record<string, string> } | undefined>;
}

const opt = (limit: number, cont: string | undefined) => ({ limit, ...(cont ? { _continue: cont } : {}) });

/** client-node's typed lists per kind (they speak protobuf-free JSON and know each kind's path). */
function pageListers(kc: KubeConfig): Record<string, PageLister> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    Deployment: (namespace, l, c) => apps.listNamespacedDeployment({ namespace, ...opt(l, c) }),
    StatefulSet: (namespace, l, c) => apps.listNamespacedStatefulSet({ namespace, ...opt(l, c) }),
    DaemonSet: (namespace, l, c) => apps.listNamespacedDaemonSet({ namespace, ...opt(l, c) }),
    ReplicaSet: (namespace, l, c) => apps.listNamespacedReplicaSet({ namespace, ...opt(l, c) }),
    Job: (namespace, l, c) => batch.listNamespacedJob({ namespace, ...opt(l, c) }),
    CronJob: (namespace, l, c) => batch.listNamespacedCronJob({ namespace, ...opt(l, c) }),
    ReplicationController: (namespace, l, c) => core.listNamespacedReplicationController({ namespace, ...opt(l, c) }),
    Pod: (namespace, l, c) => core.listNamespacedPod({ namespace, ...opt(l, c) }),
  };
}

/** Typed lists come back with Dates and without kind: normalise to what a watch event carries. */
function plain(info: WorkloadKindInfo, obj: KubernetesObject): KubeObject {
  return { ...(JSON.parse(JSON.stringify(obj)) as KubeObject), apiVersion: apiVersionOf(info), kind: info.kind };
}

/**
 * A source over the cluster in `kc`. `namespaces` given: only those (as the recorder's `-n`); else
 * every namespace, listed in pages too.
 */
export function createWorkloadSource(kc: KubeConfig, opts: { namespaces?: readonly string[]; pageSize?: number } = {}): WorkloadSource {
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  const core = kc.makeApiClient(CoreV1Api);
  const listers = pageListers(kc);
  return {
    async *namespaces() {
      if (opts.namespaces?.length) {
        for (const name of opts.namespaces) {
          const got = await core.readNamespace({ name }).catch((err: unknown) => {
            if (statusOf(err) === NOT_FOUND) return undefined;
            throw kubeApiError('get', `namespace ${name}`, err);
          });
          if (got) yield { name, labels: got.metadata?.labels ?? {} };
        }
        return;
      }
      let cont: string | undefined;
      do {
        const page = await core.listNamespace(opt(pageSize, cont)).catch((err: unknown) => {
          throw kubeApiError('list', 'namespaces', err);
        });
        for (const n of page.items) if (n.metadata?.name) yield { name: n.metadata.name, labels: n.metadata.labels ?? {} };
        cont = page.metadata?._continue || undefined;
      } while (cont);
    },
    async namespace(name) {
      if (opts.namespaces?.length) {
        // A namespace selection is granted `get` on each (the chart's recorder.namespaces).
        const got = await core.readNamespace({ name }).catch((err: unknown) => {
          if (statusOf(err) === NOT_FOUND) return undefined;
          throw kubeApiError('get', `namespace ${name}`, err);
        });
        return got ? { name, labels: got.metadata?.labels ?? {} } : undefined;
      }
      // A list narrowed to one name, not a get: `list` on namespaces is what a cluster-wide audit is granted.
      const page = await core.listNamespace({ fieldSelector: `metadata.name=${name}` }).catch((err: unknown) => {
        throw kubeApiError('list', `namespace ${name}`, err);
      });
      const n = page.items[0];
      return n?.metadata?.name === name ? { name, labels: n.metadata.labels ?? {} } : undefined;
    },
    async *workloads(namespace) {
      for (const info of WORKLOAD_KIND_TABLE) {
        let cont: string | undefined;
        do {
          const page = await listers[info.kind]!(namespace, pageSize, cont).catch((err: unknown) => {
            throw kubeApiError('list', `${info.plural} in ${namespace}`, err);
          });
          cont = page.metadata?._continue || undefined;
          // Dropped as they are handed on: only this page is held.
          for (const o of page.items) yield plain(info, o);
        } while (cont);
      }
    },
  };
}
