/**
 * The gate's namespace cache: namespace labels kept by a client-node informer (kube/informer.ts:
 * paginated list, watch with bookmarks, 410 → relist, restarts with backoff), so no API call sits in
 * the admission path. Only name, labels and resourceVersion of each namespace are kept.
 */
import type { CoreV1Api, KubeConfig, KubernetesListObject, V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { TracegateError } from '../errors.js';
import { kubeApiError } from '../kube/api-error.js';
import { abortableRequest, createSyncedInformer } from '../kube/informer.js';
import type { NamespaceLabels } from './resolve.js';

/** client-go's page size: bounded memory per page, few round trips for ordinary clusters. */
const LIST_PAGE_SIZE = 500;
/** kube-apiserver's own default request timeout; a page that takes longer is stuck. */
const PAGE_TIMEOUT_MS = 60_000;
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** The namespace cache the tenant resolver reads (`labels`), with its lifecycle. */
export interface NamespaceCache extends NamespaceLabels {
  /** Starts list + watch; resolves after the first complete list (retrying until then), rejects if stopped first. */
  start(): Promise<void>;
  /** Closes the watch and timers; the cache keeps its last state. */
  stop(): Promise<void>;
  ready(): boolean;
}

/** Inputs of {@link createNamespaceCache}. */
export interface NamespaceCacheDeps {
  kubeConfig: KubeConfig;
  /** The gate's one CoreV1Api (the deletion-note writer shares it). */
  core: Pick<CoreV1Api, 'listNamespace'>;
  log: Logger;
  /** Called on each restart after an error (the gate counts them in a metric). */
  onRestart?: () => void;
  /** Spreads watch timeouts; default Math.random. */
  random?: () => number;
}

/** Every namespace, page by page; the list's resourceVersion is the first page's (the continue token pins the snapshot). */
async function listNamespaces(core: NamespaceCacheDeps['core'], signal: AbortSignal): Promise<KubernetesListObject<V1Namespace>> {
  const items: V1Namespace[] = [];
  let cont: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const page = await core
      .listNamespace({ limit: LIST_PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }, abortableRequest(AbortSignal.any([signal, AbortSignal.timeout(PAGE_TIMEOUT_MS)])))
      .catch((err: unknown) => {
        throw kubeApiError('list', 'namespaces', err);
      });
    for (const ns of page.items) items.push(ns);
    resourceVersion ??= page.metadata?.resourceVersion;
    cont = page.metadata?._continue || undefined;
  } while (cont !== undefined);
  if (!resourceVersion) throw new TracegateError('KUBE_API', 'list namespaces: the answer has no resourceVersion');
  return { apiVersion: 'v1', kind: 'NamespaceList', metadata: { resourceVersion }, items };
}

/** Name, labels and resourceVersion: all the resolver and the informer need of a namespace. */
function slim(ns: V1Namespace): V1Namespace {
  const m = ns.metadata ?? {};
  return { metadata: { name: m.name, resourceVersion: m.resourceVersion, ...(m.labels ? { labels: m.labels } : {}) } } as V1Namespace;
}

/** Creates the cache; nothing is requested before `start()`. */
export function createNamespaceCache(deps: NamespaceCacheDeps): NamespaceCache {
  const informer = createSyncedInformer<V1Namespace>({
    kubeConfig: deps.kubeConfig,
    path: '/api/v1/namespaces',
    list: (signal) => listNamespaces(deps.core, signal),
    keep: slim,
    what: 'namespaces',
    log: deps.log,
    ...(deps.onRestart ? { onRestart: deps.onRestart } : {}),
    ...(deps.random ? { random: deps.random } : {}),
  });
  return {
    start: () => informer.start(),
    stop: () => informer.stop(),
    ready: () => informer.ready(),
    labels(namespace) {
      const ns = informer.get(namespace);
      return ns === undefined ? undefined : (ns.metadata?.labels ?? NO_LABELS);
    },
  };
}
