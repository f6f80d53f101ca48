/**
 * `tracegate ui` assembled: the HTTPS server (TLS 1.2+, the serving certificate loaded and reloaded as
 * the gate does it — cert-store.ts — or development certificates), the cluster sources read with the
 * UI's own credentials, the reviews with their cache, the sessions and the policy set (the gate's own
 * loader: files, cluster objects or both).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { certPaths, ensureDevCerts } from '../certs/index.js';
import { policyLoader } from '../cli/policies-option.js';
import { createMetrics } from '../metrics.js';
import { packageRoot } from '../paths.js';
import { createGatePolicies } from '../policy/gate-policies.js';
import { READER_LIMITS, createSecretDriver } from '../recorder/secret-driver.js';
import type { SkippedRecord } from '../recorder/storage.js';
import { createCertStore } from '../server/cert-store.js';
import type { ChangeSource, Exporter } from './data.js';
import { createKubeReports, createKubeTenants, createKubeWorkloads } from './kube-sources.js';
import { createCachedReviewer, createKubeReviewer } from './reviews.js';
import { createUiServer } from './server.js';
import { createSessionStore } from './sessions.js';

/** The stylesheet, shipped beside the sources (the image copies src/ui/static; see the Dockerfile). */
export const STYLESHEET_FILE = join(packageRoot, 'src', 'ui', 'static', 'ui.css');

/** A working day: a reviewer signs in once in the morning. */
const SESSION_TTL_MS = 8 * 3600 * 1000;
/** Concurrent browser sessions at most: each is well under 10 KB, so the cap bounds memory to a few MB. */
const MAX_SESSIONS = 1_000;
/** A revoked token keeps working at most this long in an open session. */
const SESSION_RECHECK_MS = 5 * 60 * 1000;
/** SubjectAccessReview answers are reused this long: a revoked binding takes effect within it. */
const REVIEW_CACHE_TTL_MS = 30_000;
/** Cached answers at most (a few hundred bytes each). */
const REVIEW_CACHE_MAX = 10_000;
/** Tenant namespaces are re-listed at most this often. */
const TENANT_CACHE_TTL_MS = 15_000;
/** The same polling interval as the gate's certificate reload. */
const CERT_RELOAD_MS = 10_000;
/** A whole request (headers and the small login form) within 30 s: no page needs longer to be asked for. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Headers within 10 s: a slowloris connection is cut instead of held (Node's default is 60 s). */
const HEADERS_TIMEOUT_MS = 10_000;
/**
 * Open connections at most: browsers keep ~6 per origin, so 256 serve dozens of reviewers, while a
 * flood of idle TLS connections (each ~50-100 KB with its buffers) cannot take the memory.
 */
const MAX_CONNECTIONS = 256;

/**
 * Logs a release record the readers skipped: its Secret's name only — the decoder's reason may quote
 * the record's bytes, which are Secret data.
 */
export function skippedRecordLogger(log: Logger): (skipped: SkippedRecord) => void {
  return (skipped) => log.warn({ namespace: skipped.namespace, secret: skipped.key }, 'release record skipped: undecodable or over the read limit');
}

/** Settings of {@link startUi}. */
export interface UiOptions {
  host: string;
  port: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Where development certificates are issued when no certificate is given. */
  certDir: string;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  kubeConfig: KubeConfig;
  kubeconfigFile?: string;
  prefix: string;
  tenantLabel: string;
  policies: string[];
  policySource: 'files' | 'cluster' | 'both';
  /** TokenReview `spec.audiences`: tokens must be issued for one of these (kubectl create token --audience). */
  tokenAudiences?: string[];
  /** report/query.ts's ChangeSource and report/export.ts's renderers. */
  changes: ChangeSource;
  exporter: Exporter;
  log: Logger;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** The running view. */
export interface RunningUi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the HTTPS server; resolves once it listens. */
export async function startUi(o: UiOptions): Promise<RunningUi> {
  const { log, kubeConfig: kc } = o;
  const metrics = createMetrics();
  let certFile = o.tlsCertFile ? resolve(o.cwd, o.tlsCertFile) : undefined;
  let keyFile = o.tlsKeyFile ? resolve(o.cwd, o.tlsKeyFile) : undefined;
  if (!certFile || !keyFile) {
    const dir = resolve(o.cwd, o.certDir);
    await ensureDevCerts({ dir, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
    ({ tlsCert: certFile, tlsKey: keyFile } = certPaths(dir));
    log.warn({ caBundle: certPaths(dir).caCert }, 'using development certificates; browsers must trust the CA');
  }
  const certs = createCertStore({ certFile, keyFile, intervalMs: CERT_RELOAD_MS, log, metrics });
  const pair = await certs.load();
  const policies = await createGatePolicies({
    config: { policySource: o.policySource, policies: o.policies, ...(o.kubeconfigFile ? { kubeconfig: o.kubeconfigFile } : {}) },
    loader: await policyLoader(o.prefix),
    log,
    metrics,
    env: o.env,
    cwd: o.cwd,
    // The gate's replicas write the objects' status; the view only shows what is in force (and has no write right).
    readOnly: true,
  });
  const reviewer = createCachedReviewer(await createKubeReviewer(kc, o.tokenAudiences), { ttlMs: REVIEW_CACHE_TTL_MS, maxEntries: REVIEW_CACHE_MAX });
  const ui = createUiServer({
    reviewer,
    sessions: createSessionStore({ ttlMs: SESSION_TTL_MS, maxSessions: MAX_SESSIONS, recheckMs: SESSION_RECHECK_MS }),
    sessionTtlMs: SESSION_TTL_MS,
    tenants: createKubeTenants({ core: kc.makeApiClient(CoreV1Api), tenantLabel: o.tenantLabel, ttlMs: TENANT_CACHE_TTL_MS }),
    changes: o.changes,
    // Release records with the readers' limits: any tenant can write one in their namespace.
    workloads: createKubeWorkloads({ kc, prefix: o.prefix, storage: createSecretDriver({ core: kc.makeApiClient(CoreV1Api), limits: READER_LIMITS, onSkip: skippedRecordLogger(log) }) }),
    reports: createKubeReports({ custom: kc.makeApiClient(CustomObjectsApi) }),
    exporter: o.exporter,
    policies,
    stylesheet: await readFile(STYLESHEET_FILE, 'utf8'),
    log,
  });
  const server = createServer(
    { cert: pair.cert, key: pair.key, minVersion: o.tlsMinVersion, ALPNProtocols: ['http/1.1'], requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS },
    ui.listener,
  );
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port, o.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  certs.watch(server, o.tlsMinVersion);
  policies.start();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `https://${host}:${addr.port}`;
  log.info({ url, policySource: o.policySource }, 'tracegate web view listening');
  return {
    url,
    server,
    async close() {
      certs.stop();
      await policies.stop();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
