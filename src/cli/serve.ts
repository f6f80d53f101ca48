/** `tracegate serve`: the admission webhook. SIGTERM/SIGINT drain and exit. */
import { parseArgs } from 'node:util';
import { buildConfig } from '../config.js';
import { createLoggers } from '../log.js';
import { startGate, type RunningGate } from '../server/gate.js';
import type { CliIo } from './io.js';

export const SERVE_USAGE = `Usage: tracegate serve [options]

Run the validating and mutating admission webhook over HTTPS (POST /validate, POST /mutate;
GET /healthz, /readyz, /metrics, /policies). With no certificate given, a development CA and serving
certificate are issued into --cert-dir and reused on later starts.

Options (environment variable in brackets):
      --port N                 listen port (8443) [TRACEGATE_PORT]
      --host ADDR              listen address (0.0.0.0) [TRACEGATE_HOST]
      --tls-cert FILE          serving certificate, reloaded when renewed [TRACEGATE_TLS_CERT]
      --tls-key FILE           serving key [TRACEGATE_TLS_KEY]
      --tls-ca FILE            CA the webhooks trust; a renewed certificate must chain to it [TRACEGATE_TLS_CA]
      --cert-dir DIR           where development certificates live (certs) [TRACEGATE_CERT_DIR]
      --tls-min-version V      TLSv1.2 (default) or TLSv1.3
  -p, --policies PATH          policy file or directory, repeatable (bundled policies) [TRACEGATE_POLICIES, comma-separated]
      --policy-source SRC      files (default), cluster (TracegatePolicy objects, applied live) or both
                               (the files always apply, the objects add to them) [TRACEGATE_POLICY_SOURCE]
      --annotation-prefix P    prefix of tracegate's annotations (tracegate.io/) [TRACEGATE_ANNOTATION_PREFIX]
      --tenant-label KEY       namespace label naming the tenant (tracegate.io/tenant) [TRACEGATE_TENANT_LABEL]
      --namespace-pattern RE   tenant from namespace names, via the group "tenant" or group 1 [TRACEGATE_NAMESPACE_PATTERN]
      --namespaces-file FILE   namespaces (kubectl get ns -o yaml) when no cluster is used [TRACEGATE_NAMESPACES_FILE]
      --tenancy MODE           auto (default), cluster, file or none [TRACEGATE_TENANCY]
      --kubeconfig FILE        kubeconfig for the namespace cache and policy objects (in a pod: the ServiceAccount)
      --service NAME           Service name for development certificates (tracegate) [TRACEGATE_SERVICE_NAME]
      --service-namespace NS   its namespace (tracegate) [TRACEGATE_SERVICE_NAMESPACE]
      --log-level LEVEL        trace, debug, info (default), warn, error, fatal, silent [TRACEGATE_LOG_LEVEL]
      --provenance-keys DIR    the MAC keys shared with the recorder (<id>.key files, and current);
                               outside a pod a development key is kept in <cert-dir>/provenance
                               [TRACEGATE_PROVENANCE_KEYS]
      --approval-keys PATH     trusted approval keys: a JWKS file (every tenant) or a directory of
                               <tenant>.jwks.json files (_shared.jwks.json: every tenant) [TRACEGATE_APPROVAL_KEYS]
      --ci-issuers FILE        CI issuers whose OIDC ID tokens prove commit and run (YAML/JSON:
                               issuers: [{issuer, audience, jwks, tenants, protectedEnvironments}])
                               [TRACEGATE_CI_ISSUERS]
      --cluster-name NAME      this cluster's name: an approval's audience or cluster claim [TRACEGATE_CLUSTER_NAME]
      --max-buffered-body-bytes N
                               bytes all in-flight request bodies may hold; beyond, 429 with Retry-After
                               (a quarter of the container's memory limit; 64 MiB without one)
                               [TRACEGATE_MAX_BUFFERED_BODY_BYTES]
      --min-body-bytes-per-second N
                               after the grace period, a body slower than this is cut off with 408;
                               0 disables (16384) [TRACEGATE_MIN_BODY_BYTES_PER_SECOND]
      --body-rate-grace-ms N   how long a body may take before that floor applies (2000)
                               [TRACEGATE_BODY_RATE_GRACE_MS]
  -h, --help                   show this help
`;

/** Runs the gate until a termination signal; returns the exit code. */
export async function runServeCommand(args: string[], io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'cert-dir': { type: 'string' },
      'tls-min-version': { type: 'string' },
      policies: { type: 'string', short: 'p', multiple: true },
      'policy-source': { type: 'string' },
      'annotation-prefix': { type: 'string' },
      'tenant-label': { type: 'string' },
      'namespace-pattern': { type: 'string' },
      'namespaces-file': { type: 'string' },
      tenancy: { type: 'string' },
      kubeconfig: { type: 'string' },
      service: { type: 'string' },
      'service-namespace': { type: 'string' },
      'log-level': { type: 'string' },
      'provenance-keys': { type: 'string' },
      'approval-keys': { type: 'string' },
      'ci-issuers': { type: 'string' },
      'cluster-name': { type: 'string' },
      'max-buffered-body-bytes': { type: 'string' },
      'min-body-bytes-per-second': { type: 'string' },
      'body-rate-grace-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(SERVE_USAGE);
    return 0;
  }
  const config = buildConfig(io.env, {
    port: values.port,
    host: values.host,
    tlsCertFile: values['tls-cert'],
    tlsKeyFile: values['tls-key'],
    tlsCaFile: values['tls-ca'],
    devCertDir: values['cert-dir'],
    tlsMinVersion: values['tls-min-version'],
    policies: values.policies,
    policySource: values['policy-source'],
    annotationPrefix: values['annotation-prefix'],
    tenantLabel: values['tenant-label'],
    namespacePattern: values['namespace-pattern'],
    namespacesFile: values['namespaces-file'],
    tenancy: values.tenancy,
    kubeconfig: values.kubeconfig,
    serviceName: values.service,
    serviceNamespace: values['service-namespace'],
    logLevel: values['log-level'],
    provenanceKeyDir: values['provenance-keys'],
    approvalKeys: values['approval-keys'],
    ciIssuers: values['ci-issuers'],
    clusterName: values['cluster-name'],
    maxBufferedBodyBytes: values['max-buffered-body-bytes'],
    minBodyBytesPerSecond: values['min-body-bytes-per-second'],
    bodyRateGraceMs: values['body-rate-grace-ms'],
  });
  const { log, decisions } = createLoggers({ level: config.logLevel });
  let gate: RunningGate;
  try {
    gate = await startGate({ config, log, decisionLog: decisions, env: io.env, cwd: io.cwd });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'tracegate gate failed to start');
    throw err;
  }
  return new Promise<number>((resolveExit) => {
    // SIGTERM comes from the kubelet: wait for endpoints to drop first. SIGINT is a person at a terminal.
    const stop = (signal: string) => {
      void gate.shutdown(signal, signal === 'SIGINT' ? { delayMs: 0 } : {}).then(() => resolveExit(0));
    };
    signals.once('SIGTERM', () => stop('SIGTERM'));
    signals.once('SIGINT', () => stop('SIGINT'));
  });
}
