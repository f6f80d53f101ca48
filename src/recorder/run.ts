/**
 * The recorder process assembled: an informer per recorded workload kind (all namespaces or a
 * selection), leader election, the recorder, and a small HTTP endpoint for probes and metrics.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, AppsV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_RETRY, type RetryOptions } from '../kube/retry.js';
import type { MacKeyring } from '../provenance/mac.js';
import { apiVersionOf, RECORDED_KINDS, type WorkloadKindInfo } from '../workload/kinds.js';
import { createRecorder, defaultAdoptedName, type ProcessedEvent, type Recorder } from './controller.js';
import { createEventDeletionNotes } from './deletion-notes.js';
import { createLeaderElector, type LeaderOptions } from './leader.js';
import { createCertRotator, type CertRotationConfig, type CertRotator, type CertRotatorDeps } from './cert-rotation.js';
import { createRecorderMetrics } from './metrics.js';
import { createSecretDriver } from './secret-driver.js';
import { createRollbackRepair } from '../rollback/repair.js';
import { createWorkloadApi } from '../rollback/workload-api.js';
import { createTrailStore } from './trail-store.js';
import { createAuditor, type Auditor, type AuditorConfig } from '../audit/auditor.js';
import { createReportStore } from '../audit/report-store.js';
import { createWorkloadSource } from '../audit/workload-source.js';
import { createAuditMetrics } from '../metrics.js';
import type { PolicySet } from '../policy/types.js';
import type { TenancyOptions } from '../tenancy/resolve.js';

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
  /** How often a deletion waits for the gate's note of who deleted it (default 5 looks, pendingRetryMs apart). */
  deletionNoteAttempts?: number;
  /** Finish Helm rollbacks that did not land exactly (needs `update` on workloads; default true). */
  restoreRollbacks?: boolean;
  /** The background audit (src/audit): PolicyReports from the policy set; off when absent. */
  audit?: Omit<AuditorConfig, 'prefix'> & { policies: PolicySet; tenancy?: TenancyOptions; pageSize?: number };
  /** The leader keeps the gate's certificates and caBundles valid (--rotate-certs); off when absent. */
  certs?: CertRotationConfig & Pick<CertRotatorDeps, 'now' | 'generateKeyPair' | 'afterStep'>;
}

export interface RunningRecorder {
  recorder: Recorder;
  auditor?: Auditor;
  certs?: CertRotator;
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
function plain(info: WorkloadKindInfo, obj: KubernetesObject): KubeObject {
  return { ...(JSON.parse(JSON.stringify(obj)) as KubeObject), apiVersion: apiVersionOf(info), kind: info.kind };
}

type Lister = (namespace: string | undefined) => Promise<{ items: KubernetesObject[] }>;

/** How each recorded kind is listed, for one namespace or all (client-node's typed APIs). */
function listers(kc: KubeConfig): Record<string, Lister> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    Deployment: (ns) => (ns ? apps.listNamespacedDeployment({ namespace: ns }) : apps.listDeploymentForAllNamespaces()),
    StatefulSet: (ns) => (ns ? apps.listNamespacedStatefulSet({ namespace: ns }) : apps.listStatefulSetForAllNamespaces()),
    DaemonSet: (ns) => (ns ? apps.listNamespacedDaemonSet({ namespace: ns }) : apps.listDaemonSetForAllNamespaces()),
    ReplicaSet: (ns) => (ns ? apps.listNamespacedReplicaSet({ namespace: ns }) : apps.listReplicaSetForAllNamespaces()),
    Job: (ns) => (ns ? batch.listNamespacedJob({ namespace: ns }) : batch.listJobForAllNamespaces()),
    CronJob: (ns) => (ns ? batch.listNamespacedCronJob({ namespace: ns }) : batch.listCronJobForAllNamespaces()),
    ReplicationController: (ns) => (ns ? core.listNamespacedReplicationController({ namespace: ns }) : core.listReplicationControllerForAllNamespaces()),
  };
}

function watchPath(info: WorkloadKindInfo, namespace: string): string {
  const base = info.group === '' ? '/api/v1' : `/apis/${info.group}/${info.version}`;
  return namespace ? `${base}/namespaces/${namespace}/${info.plural}` : `${base}/${info.plural}`;
}

/** The certificate rotator of --rotate-certs, with the test hooks the run config may carry. */
function certRotator(kc: KubeConfig, certs: NonNullable<RecorderRunConfig['certs']>, deps: Pick<CertRotatorDeps, 'log' | 'metrics' | 'canWrite'>): CertRotator {
  const { now, generateKeyPair, afterStep, ...config } = certs;
  return createCertRotator({
    ...deps,
    core: kc.makeApiClient(CoreV1Api),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    config,
    ...(now ? { now } : {}),
    ...(generateKeyPair ? { generateKeyPair } : {}),
    ...(afterStep ? { afterStep } : {}),
  });
}

/** Starts the recorder against the cluster in `kubeConfig`. */
export async function startRecorder(deps: {
  kubeConfig: KubeConfig;
  config: RecorderRunConfig;
  log: Logger;
  /** The key shared with the gate: deletion notes are trusted only when their MAC checks. */
  keyring?: MacKeyring;
  /** Told about every processed workload state and deletion (diagnostics and tests). */
  onProcessed?: (event: ProcessedEvent) => void;
  /** The registry /metrics serves, when metrics were made on it before the start (default: a new one). */
  registry?: Registry;
}): Promise<RunningRecorder> {
  const { kubeConfig: kc, config, log } = deps;
  const metrics = createRecorderMetrics(deps.registry ? { registry: deps.registry } : {});
  const core = kc.makeApiClient(CoreV1Api);
  const storage = createSecretDriver({
    core,
    onSkip: (s) => log.warn({ ...s }, 'release record cannot be decoded; Helm hides it from helm history'),
  });
  // Set once the elector exists; the recorder asks it before every write.
  let holdsLease = (): boolean => false;
  const recorder = createRecorder({
    storage,
    trails: createTrailStore({ api: kc.makeApiClient(CustomObjectsApi), prefix: config.prefix }),
    notes: createEventDeletionNotes({ core, prefix: config.prefix, ...(deps.keyring ? { keyring: deps.keyring } : {}) }),
    log,
    metrics,
    config: {
      prefix: config.prefix,
      historyMax: config.historyMax,
      adoptedName: defaultAdoptedName,
      retry: config.retry ?? DEFAULT_RETRY,
      ...(deps.keyring ? { keyring: deps.keyring } : {}),
      ...(config.pendingRetryMs !== undefined ? { pendingRetryMs: config.pendingRetryMs } : {}),
      ...(config.deletionNoteAttempts !== undefined ? { deletionNoteAttempts: config.deletionNoteAttempts } : {}),
    },
    canWrite: () => holdsLease(),
    ...(deps.onProcessed ? { onProcessed: deps.onProcessed } : {}),
    ...(config.restoreRollbacks !== false ? { restore: createRollbackRepair({ workloads: createWorkloadApi(kc), prefix: config.prefix }) } : {}),
  });

  const auditor = config.audit
    ? createAuditor({
        source: createWorkloadSource(kc, { namespaces: config.namespaces, ...(config.audit.pageSize ? { pageSize: config.audit.pageSize } : {}) }),
        store: createReportStore({ api: kc.makeApiClient(CustomObjectsApi) }),
        log,
        metrics: createAuditMetrics(metrics.registry),
        policies: config.audit.policies,
        ...(config.audit.tenancy ? { tenancy: config.audit.tenancy } : {}),
        canWrite: () => holdsLease(),
        config: { ...config.audit, prefix: config.prefix },
      })
    : undefined;
  const certs = config.certs ? certRotator(kc, config.certs, { log, metrics, canWrite: () => holdsLease() }) : undefined;
  const observe = (obj: KubeObject) => {
    recorder.enqueue(obj);
    auditor?.observe(obj);
  };
  const scopes = config.namespaces.length ? config.namespaces : [''];
  const list = listers(kc);
  const informers = scopes.flatMap((ns) =>
    RECORDED_KINDS.map((info) => ({
      info,
      scope: `${info.plural} in ${ns || 'all namespaces'}`,
      informer: makeInformer<KubernetesObject>(kc, watchPath(info, ns), () => list[info.kind]!(ns || undefined)),
    })),
  );
  let syncedCount = 0;
  let stopped = false;
  const all = () => informers.flatMap(({ info, informer }) => informer.list().map((o) => plain(info, o)));

  for (const { info, scope, informer } of informers) {
    let delay = RESTART_BASE_MS;
    informer.on('add', (o) => observe(plain(info, o)));
    informer.on('update', (o) => observe(plain(info, o)));
    informer.on('delete', (o) => {
      const obj = plain(info, o);
      recorder.deleted(obj);
      auditor?.forget(obj);
    });
    informer.on('error', (err: unknown) => {
      if (stopped) return;
      metrics.watchRestarts.inc();
      log.warn({ scope, err: String((err as Error)?.message ?? err), retryInMs: delay }, 'workload watch failed; restarting');
      setTimeout(() => {
        informer
          .start()
          .then(() => {
            delay = RESTART_BASE_MS;
            // Changes made while the watch was down arrive as a fresh list: reconcile all of it.
            recorder.reconcile(informer.list().map((o) => plain(info, o)));
          })
          .catch(() => undefined);
      }, delay).unref();
      delay = Math.min(delay * 2, RESTART_MAX_MS);
    });
  }

  const elector = createLeaderElector(config.lease, {
    api: kc.makeApiClient(CoordinationV1Api),
    log,
    onStartedLeading: () => {
      metrics.leader.set(1);
      recorder.setActive(true);
      recorder.reconcile(all());
      auditor?.setActive(true);
      certs?.setActive(true);
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      recorder.setActive(false);
      auditor?.setActive(false);
      certs?.setActive(false);
    },
  });

  holdsLease = () => elector.isLeader();

  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok');
    if (req.url === '/readyz') {
      const ok = syncedCount === informers.length;
      res.statusCode = ok ? 200 : 503;
      return void res.end(ok ? 'ready' : 'not ready: workload caches not synced');
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

  await Promise.all(informers.map(({ informer }) => informer.start().then(() => void syncedCount++)));
  log.info({ namespaces: config.namespaces.length ? config.namespaces : 'all', identity: config.lease.identity }, 'workload caches synced; campaigning for the lease');
  elector.start();

  return {
    recorder,
    ...(auditor ? { auditor } : {}),
    ...(certs ? { certs } : {}),
    port: (server.address() as AddressInfo).port,
    isLeader: () => elector.isLeader(),
    synced: () => syncedCount === informers.length,
    async stop(opts = {}) {
      stopped = true;
      recorder.setActive(false);
      auditor?.stop();
      certs?.setActive(false);
      await auditor?.idle();
      await certs?.idle();
      // An in-flight recording stops at its next write; only then may another replica lead.
      await recorder.idle();
      await elector.stop({ release: opts.crash !== true });
      await Promise.all(informers.map(({ informer }) => informer.stop().catch(() => undefined)));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
