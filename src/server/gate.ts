/**
 * The gate assembled: policies, certificates, tenancy, handlers, express app and the HTTPS server,
 * with readiness and graceful shutdown. `createGate` wires dependencies; `start` does the I/O.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { tracegateKeys } from '../admission/annotations.js';
import { createChangeIdSource } from '../admission/change-id.js';
import { createMutator } from '../admission/mutate.js';
import { createValidator } from '../admission/validate.js';
import { certPaths, ensureDevCerts, serviceDnsNames } from '../certs/index.js';
import { describePolicySet } from '../cli/policies.js';
import type { GateConfig } from '../config.js';
import { loadKubeConnection } from '../kube/connection.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { bundledPoliciesDir, policySchemaPath } from '../paths.js';
import { createPolicyLoader, readPolicySchema } from '../policy/load.js';
import type { PolicySet } from '../policy/types.js';
import { createNamespaceInformer, type NamespaceInformer } from '../tenancy/namespace-informer.js';
import { loadNamespaceFile } from '../tenancy/namespace-file.js';
import { createTenantResolver, type NamespaceLabels } from '../tenancy/resolve.js';
import { createRequestListener } from './app.js';
import { createCertStore } from './cert-store.js';

export interface GateDeps {
  config: Readonly<GateConfig>;
  log: Logger;
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

/** Starts the gate and resolves once it listens. */
export async function startGate(deps: GateDeps): Promise<RunningGate> {
  const { config, log } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const abs = (p: string) => resolve(deps.cwd, p);

  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: config.annotationPrefix });
  const policyPaths = config.policies.length ? config.policies.map(abs) : [bundledPoliciesDir];
  const policySet = await loader.load(policyPaths, deps.cwd);
  for (const p of policySet.policies) metrics.policyInfo.set({ policy: p.name, version: p.version, digest: p.digest }, 1);
  log.info({ policies: policySet.policies.map((p) => `${p.name}@${p.version}=${p.digest}`), set: policySet.digest }, 'policies loaded');

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
  let informer: NamespaceInformer | undefined;
  const source = tenancySource(config, deps.env);
  if (source === 'file') {
    namespaces = await loadNamespaceFile(abs(config.namespacesFile!));
    log.info({ file: config.namespacesFile }, 'tenants from the namespaces file');
  } else if (source === 'cluster') {
    const connection = await loadKubeConnection({
      ...(config.kubeconfig ? { kubeconfig: abs(config.kubeconfig) } : {}),
      env: deps.env,
      cwd: deps.cwd,
      ...(deps.env.HOME ? { homeDir: deps.env.HOME } : {}),
    });
    log.info({ kube: connection.source }, 'namespace cache connecting');
    informer = createNamespaceInformer({ connection, log, onRestart: () => metrics.tenancyRestarts.inc() });
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

  const keys = tracegateKeys(config.annotationPrefix);
  const policies = () => policySet;
  let draining = false;
  const listener = createRequestListener({
    validate: createValidator({ policies, tenantOf, keys }),
    mutate: createMutator({ policies, tenantOf, keys, prefix: config.annotationPrefix, newId: createChangeIdSource() }),
    metrics,
    log,
    notReady: () => [...(draining ? ['shutting down'] : []), ...(informer && !informer.ready() ? ['namespace cache not synced'] : [])],
    policiesView: () => describePolicySet(policySet),
    bodyLimitBytes: config.bodyLimitBytes,
    maxRequestTimeoutMs: config.maxRequestTimeoutMs,
  });

  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: config.tlsMinVersion, ALPNProtocols: ['http/1.1'] }, listener);
  // The apiserver keeps connections alive between reviews; a long idle timeout avoids TLS handshakes per call.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(config.port, config.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  certs.watch(server, config.tlsMinVersion);
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: config.host, tenancy: source, tlsMinVersion: config.tlsMinVersion }, 'tracegate gate listening');

  let shuttingDown: Promise<void> | undefined;
  return {
    port,
    server,
    ...(caFile ? { caFile } : {}),
    policies,
    metrics,
    ready: () => !draining && (!informer || informer.ready()),
    reloadCertificates: () => certs.reload(server, config.tlsMinVersion),
    shutdown(reason = 'shutdown', opts = {}) {
      shuttingDown ??= (async () => {
        draining = true;
        const delayMs = opts.delayMs ?? config.shutdownDelayMs;
        log.info({ reason, delayMs }, 'shutting down: readiness off, draining');
        await new Promise((r) => setTimeout(r, delayMs));
        certs.stop();
        await informer?.stop().catch(() => undefined);
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
