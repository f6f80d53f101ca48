/**
 * Namespace labels from the cluster through a client-node informer (list + watch), so no API call sits
 * in the admission path. The informer restarts with backoff after errors; `ready()` turns true after
 * the first complete list, which is what the gate's readiness probe waits for.
 */
import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { NamespaceLabels } from './resolve.js';

/** First restart delay after a watch error, doubling up to the maximum (seconds matter, not ms: the cache stays usable). */
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;

export interface NamespaceInformer extends NamespaceLabels {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
}

/** Creates the namespace cache over `kubeConfig`. */
export function createNamespaceInformer(deps: { kubeConfig: KubeConfig; log: Logger; onRestart?: () => void }): NamespaceInformer {
  const api = deps.kubeConfig.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Namespace>(deps.kubeConfig, '/api/v1/namespaces', () => api.listNamespace());
  let synced = false;
  let stopped = false;
  let delay = RESTART_BASE_MS;
  let timer: NodeJS.Timeout | undefined;

  informer.on('error', (err: unknown) => {
    if (stopped) return;
    deps.log.warn({ err: String((err as Error)?.message ?? err), retryInMs: delay }, 'namespace watch failed; restarting');
    deps.onRestart?.();
    timer = setTimeout(() => {
      informer.start().then(() => (delay = RESTART_BASE_MS)).catch(() => undefined);
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, RESTART_MAX_MS);
  });
  // Not 'connect': client-node fires it before the list, so the cache may still be empty then.

  return {
    async start() {
      await informer.start();
      synced = true;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
    ready: () => synced,
    labels(namespace: string) {
      const ns = informer.get(namespace);
      return ns?.metadata?.labels;
    },
  };
}
