/** `tracegate serve`: the admission webhook. SIGTERM/SIGINT drain and exit. */
import { parseArgs } from 'node:util';
import { buildConfig } from '../config.js';
import { createLogger } from '../log.js';
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
      --annotation-prefix P    prefix of tracegate's annotations (tracegate.io/) [TRACEGATE_ANNOTATION_PREFIX]
      --tenant-label KEY       namespace label naming the tenant (tracegate.io/tenant) [TRACEGATE_TENANT_LABEL]
      --namespace-pattern RE   tenant from namespace names, via the group "tenant" or group 1 [TRACEGATE_NAMESPACE_PATTERN]
      --namespaces-file FILE   namespaces (kubectl get ns -o yaml) when no cluster is used [TRACEGATE_NAMESPACES_FILE]
      --tenancy MODE           auto (default), cluster, file or none [TRACEGATE_TENANCY]
      --kubeconfig FILE        kubeconfig for the namespace cache (in a pod: the ServiceAccount)
      --service NAME           Service name for development certificates (tracegate) [TRACEGATE_SERVICE_NAME]
      --service-namespace NS   its namespace (tracegate) [TRACEGATE_SERVICE_NAMESPACE]
      --log-level LEVEL        trace, debug, info (default), warn, error, fatal, silent [TRACEGATE_LOG_LEVEL]
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
      'annotation-prefix': { type: 'string' },
      'tenant-label': { type: 'string' },
      'namespace-pattern': { type: 'string' },
      'namespaces-file': { type: 'string' },
      tenancy: { type: 'string' },
      kubeconfig: { type: 'string' },
      service: { type: 'string' },
      'service-namespace': { type: 'string' },
      'log-level': { type: 'string' },
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
    annotationPrefix: values['annotation-prefix'],
    tenantLabel: values['tenant-label'],
    namespacePattern: values['namespace-pattern'],
    namespacesFile: values['namespaces-file'],
    tenancy: values.tenancy,
    kubeconfig: values.kubeconfig,
    serviceName: values.service,
    serviceNamespace: values['service-namespace'],
    logLevel: values['log-level'],
  });
  const log = createLogger({ level: config.logLevel });
  let gate: RunningGate;
  try {
    gate = await startGate({ config, log, env: io.env, cwd: io.cwd });
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
