/**
 * The gate assembled: policies, certificates, tenancy, handlers, the router and the HTTPS server,
 * with readiness and graceful shutdown. `createGate` wires dependencies; `start` does the I/O.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { tracegateKeys } from '../admission/annotations.js';
import { createApprovalEdge, withEvidence, type EvidenceSource } from '../admission/approval-edge.js';
import { createChangeIdSource } from '../admission/change-id.js';
import { createApprovalVerifier, createCiTokenVerifier } from '../approval/cache.js';
import { loadApprovalKeyPath, loadCiIssuerPath } from '../approval/trust-files.js';
import { createMutator } from '../admission/mutate.js';
import { createValidator } from '../admission/validate.js';
import { certPaths, ensureDevCerts, serviceDnsNames } from '../certs/index.js';
import type { GateConfig } from '../config.js';
import { TracegateError } from '../errors.js';
import type { DecisionLogger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { policySchemaPath } from '../paths.js';
import { createGatePolicies } from '../policy/gate-policies.js';
import { createPolicyLoader, readPolicySchema } from '../policy/load.js';
import type { PolicySet } from '../policy/types.js';
import { createDeletionWriter, type DeletionWriter } from '../provenance/deletion-writer.js';
import { ensureDevKeyring, loadKeyring } from '../provenance/keys.js';
import type { MacKeyring } from '../provenance/mac.js';
import type { NamespaceCache } from '../tenancy/namespace-cache.js';
import { loadNamespaceFile } from '../tenancy/namespace-file.js';
import { createTenantResolver, type NamespaceLabels } from '../tenancy/resolve.js';
import { createRequestListener } from './app.js';
import { createBodyBudget, defaultBodyBudget, readMemoryLimit } from './body-budget.js';
import { createCertStore } from './cert-store.js';

export interface GateDeps {
  config: Readonly<GateConfig>;
  log: Logger;
  /** The decision lines' logger (`createLoggers`: `log`'s destination without redaction); `log` when absent. */
  decisionLog?: DecisionLogger;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  metrics?: Metrics;
}

export interface RunningGate {
  port: number;
  server: Server;
  /** Path of the CA bundle clients must trust (development certificates), when tracegate issued them. */
  caFile?: string;
  policies: () => PolicySet;
  metrics: Metrics;
  ready(): boolean;
  /** Re-reads the certificate files now (the poller does the same every certReloadIntervalMs). */
  reloadCertificates(): Promise<'unchanged' | 'reloaded' | 'rejected'>;
  /** Stops readiness, waits `shutdownDelayMs`, stops accepting, drains in-flight requests, then closes. */
  shutdown(reason?: string, opts?: { delayMs?: number }): Promise<void>;
}

function tenancySource(config: Readonly<GateConfig>, env: GateDeps['env']): 'cluster' | 'file' | 'none' {
  if (config.tenancy !== 'auto') return config.tenancy;
  if (config.kubeconfig || env.KUBERNETES_SERVICE_HOST) return 'cluster';
  return config.namespacesFile ? 'file' : 'none';
}

/**
 * The MAC keys: the configured directory (in a pod, the mounted Secret — required there, since replicas
 * must share one key with each other and the recorder), else a development key kept beside the
 * development certificates.
 */
async function provenanceKeyring(config: Readonly<GateConfig>, deps: GateDeps, abs: (p: string) => string): Promise<MacKeyring> {
  if (config.provenanceKeyDir) {
    const keyring = await loadKeyring(abs(config.provenanceKeyDir));
    deps.log.info({ keys: keyring.ids, signing: keyring.ids[0] }, 'provenance keys loaded');
    return keyring;
  }
  if (deps.env.KUBERNETES_SERVICE_HOST) {
    throw new TracegateError('PROVENANCE_KEY', 'running in a pod without --provenance-keys: every replica and the recorder must share one key (mount the tracegate-provenance-key Secret)');
  }
  const dir = join(abs(config.devCertDir), 'provenance');
  const { keyring, created } = await ensureDevKeyring(dir);
  deps.log.warn({ dir, created }, 'using a development provenance key; the recorder verifies changes only with the same key (--provenance-keys)');
  return keyring;
}

/**
 * The trust of verified provenance (`--approval-keys`, `--ci-issuers`), loaded once; a file that cannot
 * be used stops the start (APPROVAL_KEYS). Logged by counts and ids only, never key material.
 */
async function approvalEdge(config: Readonly<GateConfig>, deps: GateDeps, tenantOf: (namespace: string) => string | undefined): Promise<EvidenceSource> {
  const keys = config.approvalKeys ? await loadApprovalKeyPath(config.approvalKeys, config.clusterName ? { cluster: config.clusterName } : {}, deps.cwd) : undefined;
  const issuers = config.ciIssuers ? await loadCiIssuerPath(config.ciIssuers, deps.cwd) : undefined;
  if (keys || issuers) deps.log.info({ approvalKeys: keys?.size ?? 0, trust: keys?.id, ciIssuers: issuers?.size ?? 0, cluster: config.clusterName }, 'approval trust loaded');
  return createApprovalEdge({
    keys: tracegateKeys(config.annotationPrefix),
    prefix: config.annotationPrefix,
    tenantOf,
    ...(keys ? { approvals: createApprovalVerifier({ keys }) } : {}),
    ...(issuers ? { ciTokens: createCiTokenVerifier({ issuers }) } : {}),
  });
}

/** The cluster side of the gate: one KubeConfig and one CoreV1Api for the namespace cache and the deletion notes. */
interface ClusterClient {
  core: CoreV1Api;
  namespaces: NamespaceCache;
}

/**
 * Connects to the cluster as kubectl would (`--kubeconfig`, $KUBECONFIG, ~/.kube/config, else the
 * pod's ServiceAccount). client-node costs ~70 MB of RSS at import, so it is loaded only here, when the
 * gate has a cluster; a kubeconfig that cannot be used is a startup error.
 */
async function connectCluster(config: Readonly<GateConfig>, deps: GateDeps, metrics: Metrics): Promise<ClusterClient> {
  const [{ CoreV1Api: CoreV1ApiClass }, { loadKubeconfig }, { createNamespaceCache }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../kube/load-kubeconfig.js'),
    import('../tenancy/namespace-cache.js'),
  ]);
  const kubeConfig = loadKubeconfig({ ...(config.kubeconfig ? { file: config.kubeconfig } : {}), env: deps.env, cwd: deps.cwd, ...(deps.env.HOME ? { home: deps.env.HOME } : {}) });
  const core = kubeConfig.makeApiClient(CoreV1ApiClass);
  const server = kubeConfig.getCurrentCluster()?.server;
  // The origin only: a server URL's path may carry a secret.
  deps.log.info({ context: kubeConfig.getCurrentContext(), server: server && URL.canParse(server) ? new URL(server).origin : undefined }, 'namespace cache connecting');
  return { core, namespaces: createNamespaceCache({ kubeConfig, core, log: deps.log, onRestart: () => metrics.tenancyRestarts.inc() }) };
}

/** Writes deletion notes as Events through the gate's CoreV1Api. */
function deletionWriter(core: CoreV1Api, config: Readonly<GateConfig>, deps: GateDeps, keyring: MacKeyring): DeletionWriter {
  return createDeletionWriter({
    createEvent: async (namespace, body) => void (await core.createNamespacedEvent({ namespace, body: body as never })),
    keyring,
    prefix: config.annotationPrefix,
    instance: deps.env.POD_NAME ?? hostname(),
    log: deps.log,
  });
}

/** Why the gate cannot listen, in one line with what to do (never an internal error with a stack). */
function listenError(err: NodeJS.ErrnoException, config: Readonly<GateConfig>): TracegateError {
  const where = `${config.host}:${config.port}`;
  if (err.code === 'EADDRINUSE') return new TracegateError('LISTEN_FAILED', `${where} is already in use (another gate, or another program): stop it, or choose another port with --port`);
  if (err.code === 'EACCES') return new TracegateError('LISTEN_FAILED', `not permitted to listen on ${where} (ports below 1024 need privileges): choose another port with --port`);
  if (err.code === 'EADDRNOTAVAIL') return new TracegateError('LISTEN_FAILED', `${config.host} is not an address of this machine: choose another with --host`);
  return new TracegateError('LISTEN_FAILED', `cannot listen on ${where}: ${err.message}`);
}

/** Starts the gate and resolves once it listens. */
export async function startGate(deps: GateDeps): Promise<RunningGate> {
  const { config, log } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const abs = (p: string) => resolve(deps.cwd, p);

  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: config.annotationPrefix });
  const gatePolicies = await createGatePolicies({ config, loader, log, metrics, env: deps.env, cwd: deps.cwd });

  let certFile = config.tlsCertFile ? abs(config.tlsCertFile) : undefined;
  let keyFile = config.tlsKeyFile ? abs(config.tlsKeyFile) : undefined;
  let caFile: string | undefined = config.tlsCaFile ? abs(config.tlsCaFile) : undefined;
  if (!certFile || !keyFile) {
    const dir = abs(config.devCertDir);
    const dnsNames = [...serviceDnsNames(config.serviceName, config.serviceNamespace), 'localhost'];
    const ensured = await ensureDevCerts({ dir, dnsNames, ipAddresses: ['127.0.0.1', '::1'] });
    const paths = certPaths(dir);
    ({ tlsCert: certFile, tlsKey: keyFile, caCert: caFile } = paths);
    log.warn({ caBundle: caFile, created: ensured.created, reason: ensured.reason }, `using development certificates; clients must trust the CA in ${caFile}`);
  }
  const certs = createCertStore({ certFile, keyFile, ...(caFile ? { caFile } : {}), intervalMs: config.certReloadIntervalMs, log, metrics });
  const pair = await certs.load();

  let namespaces: NamespaceLabels = { labels: () => undefined };
  let informer: NamespaceCache | undefined;
  let cluster: ClusterClient | undefined;
  const source = tenancySource(config, deps.env);
  if (source === 'file') {
    namespaces = await loadNamespaceFile(abs(config.namespacesFile!));
    log.info({ file: config.namespacesFile }, 'tenants from the namespaces file');
  } else if (source === 'cluster') {
    cluster = await connectCluster(config, deps, metrics);
    informer = cluster.namespaces;
    namespaces = informer;
    // Not awaited: readiness reports the sync, and a slow apiserver must not keep /healthz down. Failures are retried and logged inside.
    informer.start().then(
      () => log.info('namespace cache synced'),
      (err: unknown) => log.info({ err: String((err as Error)?.message ?? err) }, 'namespace cache stopped before its first sync'),
    );
  }
  const tenantOf = createTenantResolver(
    { tenantLabel: config.tenantLabel, ...(config.namespacePattern ? { namespacePattern: new RegExp(config.namespacePattern) } : {}) },
    namespaces,
  );

  const memoryLimit = config.maxBufferedBodyBytes === undefined ? await readMemoryLimit() : undefined;
  const bodyBudget = createBodyBudget(config.maxBufferedBodyBytes ?? defaultBodyBudget(memoryLimit, config.bodyLimitBytes));
  log.info(
    { maxBufferedBodyBytes: bodyBudget.capBytes, source: config.maxBufferedBodyBytes !== undefined ? 'configured' : memoryLimit !== undefined ? 'memory limit' : 'default (no memory limit)', memoryLimitBytes: memoryLimit },
    'request body budget',
  );

  const keys = tracegateKeys(config.annotationPrefix);
  const keyring = await provenanceKeyring(config, deps, abs);
  const evidence = await approvalEdge(config, deps, tenantOf);
  const deletions = cluster ? deletionWriter(cluster.core, config, deps, keyring) : undefined;
  const policies = gatePolicies.current;
  let draining = false;
  // Set once the server stops accepting: answers from then on close their connection (see AppDeps.closing).
  let closing = false;
  const listener = createRequestListener({
    // A review carrying an approval or CI token is answered asynchronously (its evidence verified first).
    validate: withEvidence(evidence, createValidator({ policies, tenantOf, keys, prefix: config.annotationPrefix, keyring })),
    mutate: withEvidence(evidence, createMutator({ policies, tenantOf, keys, prefix: config.annotationPrefix, keyring, newId: createChangeIdSource() })),
    ...(deletions ? { onDeletion: deletions.write } : {}),
    metrics,
    log,
    decisionLog: deps.decisionLog,
    notReady: () => [
      ...(draining ? ['shutting down'] : []),
      ...(informer && !informer.ready() ? ['namespace cache not synced'] : []),
      ...(gatePolicies.ready() ? [] : ['policy objects not loaded']),
    ],
    policiesView: gatePolicies.view,
    closing: () => closing,
    bodyBudget,
    bodyLimitBytes: config.bodyLimitBytes,
    minBodyBytesPerSecond: config.minBodyBytesPerSecond,
    bodyRateGraceMs: config.bodyRateGraceMs,
    maxRequestTimeoutMs: config.maxRequestTimeoutMs,
  });

  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: config.tlsMinVersion, ALPNProtocols: ['http/1.1'] }, listener);
  // The apiserver keeps connections alive between reviews; a long idle timeout avoids TLS handshakes per call.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((ok, fail) => {
    const refused = (err: NodeJS.ErrnoException) => fail(listenError(err, config));
    server.once('error', refused);
    server.listen(config.port, config.host, () => {
      server.off('error', refused);
      ok();
    });
  });
  certs.watch(server, config.tlsMinVersion);
  gatePolicies.start();
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: config.host, tenancy: source, tlsMinVersion: config.tlsMinVersion }, 'tracegate gate listening');

  let shuttingDown: Promise<void> | undefined;
  return {
    port,
    server,
    ...(caFile ? { caFile } : {}),
    policies,
    metrics,
    ready: () => !draining && (!informer || informer.ready()) && gatePolicies.ready(),
    reloadCertificates: () => certs.reload(server, config.tlsMinVersion),
    shutdown(reason = 'shutdown', opts = {}) {
      shuttingDown ??= (async () => {
        draining = true;
        const delayMs = opts.delayMs ?? config.shutdownDelayMs;
        log.info({ reason, delayMs }, 'shutting down: readiness off, draining');
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        // Synchronous with shutdown() when there is no delay: a request in flight then already answers with close.
        closing = true;
        certs.stop();
        await informer?.stop().catch(() => undefined);
        await gatePolicies.stop().catch(() => undefined);
        const closed = new Promise<void>((r) => server.close(() => r()));
        // Keep-alive connections turn idle as their last request finishes: close each as it does.
        const sweeper = setInterval(() => server.closeIdleConnections(), 100);
        void closed.finally(() => clearInterval(sweeper));
        server.closeIdleConnections();
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdownGraceMs).unref());
        if ((await Promise.race([closed, timeout])) === 'timeout') {
          log.warn({ graceMs: config.shutdownGraceMs }, 'drain timed out; closing remaining connections');
          server.closeAllConnections();
          await closed;
        }
        log.info('tracegate gate stopped');
      })();
      return shuttingDown;
    },
  };
}
