/**
 * The recorder process assembled: a Deployment informer (all namespaces or a selection), leader
 * election, the recorder, and a small HTTP endpoint for probes and metrics.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, makeInformer, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_RETRY, type RetryOptions } from '../kube/retry.js';
import { createRecorder, defaultAdoptedName, type ProcessedEvent, type Recorder } from './controller.js';
import { createLeaderElector, type LeaderOptions } from './leader.js';
import { createRecorderMetrics } from './metrics.js';
import { createSecretDriver } from './secret-driver.js';

/** First restart delay after a watch error, doubling to the maximum. */
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;

export interface RecorderRunConfig {
  namespaces: readonly string[];
  prefix: string;
  historyMax: number;
  lease: LeaderOptions;
  metricsPort: number;
  metricsHost: string;
  /** Retries of Kubernetes API calls (default {@link DEFAULT_RETRY}); also the delay before a failed recording is retried. */
  retry?: RetryOptions;
  /** How long to wait before looking again at a release Helm is mid-operation on (default 2 s). */
  pendingRetryMs?: number;
}

export interface RunningRecorder {
  recorder: Recorder;
  port: number;
  isLeader(): boolean;
  synced(): boolean;
  /**
   * Stops watching and writing, waits for an in-flight recording to stop at its next write, then
   * releases the Lease. `crash: true` keeps the Lease until it expires, as a killed replica would.
   */
  stop(opts?: { crash?: boolean }): Promise<void>;
}

/** Watch events carry plain JSON while lists come back as typed objects with Dates: normalise to JSON. */
function plain(obj: V1Deployment): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', ...(JSON.parse(JSON.stringify(obj)) as KubeObject) };
}

/** Starts the recorder against the cluster in `kubeConfig`. */
export async function startRecorder(deps: {
  kubeConfig: KubeConfig;
  config: RecorderRunConfig;
  log: Logger;
  /** Told about every processed Deployment state (diagnostics and tests). */
  onProcessed?: (event: ProcessedEvent) => void;
}): Promise<RunningRecorder> {
  const { kubeConfig: kc, config, log } = deps;
  const metrics = createRecorderMetrics();
  const apps = kc.makeApiClient(AppsV1Api);
  const storage = createSecretDriver({
    core: kc.makeApiClient(CoreV1Api),
    onSkip: (s) => log.warn({ ...s }, 'release record cannot be decoded; Helm hides it from helm history'),
  });
  // Set once the elector exists; the recorder asks it before every write.
  let holdsLease = (): boolean => false;
  const recorder = createRecorder({
    storage,
    log,
    metrics,
    config: {
      prefix: config.prefix,
      historyMax: config.historyMax,
      adoptedName: defaultAdoptedName,
      retry: config.retry ?? DEFAULT_RETRY,
      ...(config.pendingRetryMs !== undefined ? { pendingRetryMs: config.pendingRetryMs } : {}),
    },
    canWrite: () => holdsLease(),
    ...(deps.onProcessed ? { onProcessed: deps.onProcessed } : {}),
  });

  const scopes = config.namespaces.length ? config.namespaces : [''];
  const informers = scopes.map((ns) =>
    ns
      ? makeInformer<V1Deployment>(kc, `/apis/apps/v1/namespaces/${ns}/deployments`, () => apps.listNamespacedDeployment({ namespace: ns }))
      : makeInformer<V1Deployment>(kc, '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces()),
  );
  let syncedCount = 0;
  let stopped = false;
  const all = () => informers.flatMap((i) => i.list()).map(plain);

  informers.forEach((informer, idx) => {
    let delay = RESTART_BASE_MS;
    informer.on('add', (o) => recorder.enqueue(plain(o)));
    informer.on('update', (o) => recorder.enqueue(plain(o)));
    informer.on('delete', (o) => recorder.forget(plain(o)));
    informer.on('error', (err: unknown) => {
      if (stopped) return;
      metrics.watchRestarts.inc();
      log.warn({ scope: scopes[idx] || 'all namespaces', err: String((err as Error)?.message ?? err), retryInMs: delay }, 'deployment watch failed; restarting');
      setTimeout(() => {
        informer
          .start()
          .then(() => {
            delay = RESTART_BASE_MS;
            // Changes made while the watch was down arrive as a fresh list: reconcile all of it.
            recorder.reconcile(informer.list().map(plain));
          })
          .catch(() => undefined);
      }, delay).unref();
      delay = Math.min(delay * 2, RESTART_MAX_MS);
    });
  });

  const elector = createLeaderElector(config.lease, {
    api: kc.makeApiClient(CoordinationV1Api),
    log,
    onStartedLeading: () => {
      metrics.leader.set(1);
      recorder.setActive(true);
      recorder.reconcile(all());
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      recorder.setActive(false);
    },
  });

  holdsLease = () => elector.isLeader();

  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    if (req.url === '/readyz') {
      const ok = syncedCount === informers.length;
      res.statusCode = ok ? 200 : 503;
      return void res.end(ok ? 'ready' : 'not ready: deployment cache not synced');
    }
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.setHeader('content-type', metrics.registry.contentType);
        res.end(text);
      });
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  });
  await new Promise<void>((ok) => server.listen(config.metricsPort, config.metricsHost, ok));

  await Promise.all(informers.map((i) => i.start().then(() => void syncedCount++)));
  log.info({ namespaces: config.namespaces.length ? config.namespaces : 'all', identity: config.lease.identity }, 'deployment cache synced; campaigning for the lease');
  elector.start();

  return {
    recorder,
    port: (server.address() as AddressInfo).port,
    isLeader: () => elector.isLeader(),
    synced: () => syncedCount === informers.length,
    async stop(opts = {}) {
      stopped = true;
      recorder.setActive(false);
      // An in-flight recording stops at its next write; only then may another replica lead.
      await recorder.idle();
      await elector.stop({ release: opts.crash !== true });
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
