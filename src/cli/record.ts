/** `tracegate record`: the recorder controller, until SIGTERM/SIGINT. */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { loadKeyring } from '../provenance/keys.js';
import { buildRecordConfig } from '../recorder/config.js';
import { DEFAULT_LEADER_TIMING } from '../recorder/leader.js';
import { startRecorder } from '../recorder/run.js';
import type { CliIo } from './io.js';
import { loadKubeConfig } from './kube-client.js';
import { Registry } from 'prom-client';
import { startAuditPolicies } from '../recorder/audit-policies.js';

export const RECORD_USAGE = `Usage: tracegate record [options]

Watch every workload kind with a pod template and record each change and deletion as a Helm release
revision (Secret driver) and in its ChangeTrail, so helm history and helm rollback cover changes made
outside Helm and nothing is lost to pruning. Replicas elect a leader through a
Lease; only the leader writes.

Options:
      --kubeconfig FILE        kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  -n, --namespace NS           watch only this namespace (repeatable; default: all)
      --history-max N          revisions kept per release, like helm --history-max (10; 0 = unlimited)
      --lease-namespace NS     namespace of the leader Lease ($POD_NAMESPACE or tracegate)
      --lease-name NAME        Lease name (tracegate-recorder)
      --identity ID            this replica's identity in the Lease ($POD_NAME or the host name)
      --metrics-port N         port for /healthz, /readyz and /metrics (8080)
      --annotation-prefix P    prefix of tracegate's annotations (tracegate.io/)
      --provenance-keys DIR    the MAC keys shared with the gate (<id>.key files, and current); without
                               them no change can be verified and every one is recorded UNVERIFIED
                               [TRACEGATE_PROVENANCE_KEYS]
      --restore-rollbacks B    finish a helm rollback that left fields its revision does not have (a
                               sidecar kubectl patch added survives Helm 4's server-side apply): replace
                               the pod template with the revision's (true; false needs no workload writes)
      --audit-interval D       background audit: judge every workload against the policies and write
                               PolicyReports (wgpolicyk8s.io/v1alpha2) every D, e.g. 30m (1h; 0 = off)
                               [TRACEGATE_AUDIT_INTERVAL]
  -p, --policies PATH          policy file or directory the audit judges against, repeatable (bundled
                               policies) [TRACEGATE_POLICIES, comma-separated]
      --policy-source SRC      files (default), cluster (TracegatePolicy objects, followed live: a change
                               re-audits every workload) or both, as the gate's [TRACEGATE_POLICY_SOURCE]
      --tenant-label KEY       namespace label naming the tenant (tracegate.io/tenant) [TRACEGATE_TENANT_LABEL]
      --namespace-pattern RE   tenant from namespace names, via the group "tenant" or group 1 [TRACEGATE_NAMESPACE_PATTERN]
      --rotate-certs           the leader issues the gate's CA and serving certificate, renews the
                               serving certificate 30 days before its end (the CA: rolled 90 days before
                               its end, old and new trusted side by side) and writes the CA into the
                               caBundle of every webhook of --webhook-configuration (certs.mode self)
      --tls-secret NAME        the Secret the gate mounts: tls.crt, tls.key, ca.crt (tracegate-tls); the
                               CA key goes to NAME-ca, which only the recorder reads. Both in the Lease
                               namespace
      --webhook-configuration NAME
                               the Mutating- and ValidatingWebhookConfiguration to keep trusting the
                               gate (tracegate)
      --cert-check-interval D  how often the leader checks the certificates and caBundles (and repairs
                               them), e.g. 1m (5m; at least 1m)
      --log-level LEVEL        pino level (info)
  -h, --help                   show this help
`;

/** Runs the recorder; returns the exit code after a termination signal. */
export async function runRecordCommand(args: string[], io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n', multiple: true },
      'history-max': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'metrics-port': { type: 'string' },
      'annotation-prefix': { type: 'string' },
      'provenance-keys': { type: 'string' },
      'log-level': { type: 'string' },
      'restore-rollbacks': { type: 'string' },
      'audit-interval': { type: 'string' },
      policies: { type: 'string', short: 'p', multiple: true },
      'policy-source': { type: 'string' },
      'tenant-label': { type: 'string' },
      'namespace-pattern': { type: 'string' },
      'rotate-certs': { type: 'boolean' },
      'tls-secret': { type: 'string' },
      'webhook-configuration': { type: 'string' },
      'cert-check-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(RECORD_USAGE);
    return 0;
  }
  const config = buildRecordConfig({
    flags: {
      ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
      ...(values.namespace !== undefined ? { namespaces: values.namespace } : {}),
      ...(values['history-max'] !== undefined ? { historyMax: values['history-max'] } : {}),
      ...(values['lease-namespace'] !== undefined ? { leaseNamespace: values['lease-namespace'] } : {}),
      ...(values['lease-name'] !== undefined ? { leaseName: values['lease-name'] } : {}),
      ...(values.identity !== undefined ? { identity: values.identity } : {}),
      ...(values['metrics-port'] !== undefined ? { metricsPort: values['metrics-port'] } : {}),
      ...(values['annotation-prefix'] !== undefined ? { annotationPrefix: values['annotation-prefix'] } : {}),
      ...(values['provenance-keys'] !== undefined ? { provenanceKeyDir: values['provenance-keys'] } : {}),
      ...(values['log-level'] !== undefined ? { logLevel: values['log-level'] } : {}),
      ...(values['restore-rollbacks'] !== undefined ? { restoreRollbacks: values['restore-rollbacks'] } : {}),
      ...(values['audit-interval'] !== undefined ? { auditInterval: values['audit-interval'] } : {}),
      ...(values.policies !== undefined ? { policies: values.policies } : {}),
      ...(values['policy-source'] !== undefined ? { policySource: values['policy-source'] } : {}),
      ...(values['tenant-label'] !== undefined ? { tenantLabel: values['tenant-label'] } : {}),
      ...(values['namespace-pattern'] !== undefined ? { namespacePattern: values['namespace-pattern'] } : {}),
      ...(values['rotate-certs'] !== undefined ? { rotateCerts: values['rotate-certs'] } : {}),
      ...(values['tls-secret'] !== undefined ? { tlsSecret: values['tls-secret'] } : {}),
      ...(values['webhook-configuration'] !== undefined ? { webhookConfiguration: values['webhook-configuration'] } : {}),
      ...(values['cert-check-interval'] !== undefined ? { certCheckInterval: values['cert-check-interval'] } : {}),
    },
    env: io.env,
    hostname: hostname(),
  });
  const log = createLogger({ level: config.logLevel, name: 'tracegate-recorder' });
  const keyring = config.provenanceKeyDir ? await loadKeyring(resolve(io.cwd, config.provenanceKeyDir)) : undefined;
  if (keyring) log.info({ keys: keyring.ids }, 'provenance keys loaded');
  else log.warn('no provenance keys (--provenance-keys): no change can be verified; every change is recorded UNVERIFIED');
  const registry = new Registry();
  let running: Awaited<ReturnType<typeof startRecorder>> | undefined;
  // The gate's loader, files and objects (a bad file fails the start, as it fails the gate's).
  const auditPolicies =
    config.auditIntervalSeconds > 0
      ? await startAuditPolicies({ config, log, registry, env: io.env, cwd: io.cwd, onChange: (set) => running?.auditor?.setPolicies(set) })
      : undefined;
  const audit = auditPolicies ? { policies: auditPolicies.current(), intervalMs: config.auditIntervalSeconds * 1000 } : undefined;
  if (audit) log.info({ source: config.policySource, policySet: audit.policies.digest, policies: audit.policies.policies.map((p) => `${p.name}@${p.version}`), intervalSeconds: config.auditIntervalSeconds }, 'background audit on');
  running = await startRecorder({
    registry,
    kubeConfig: loadKubeConfig(config.kubeconfig, io),
    log,
    ...(keyring ? { keyring } : {}),
    config: {
      namespaces: config.namespaces,
      prefix: config.annotationPrefix,
      historyMax: config.historyMax,
      metricsPort: config.metricsPort,
      metricsHost: '0.0.0.0',
      restoreRollbacks: config.restoreRollbacks,
      ...(audit ? { audit: { ...audit, tenancy: { tenantLabel: config.tenantLabel, ...(config.namespacePattern ? { namespacePattern: new RegExp(config.namespacePattern) } : {}) } } } : {}),
      ...(config.certs
        ? { certs: { namespace: config.leaseNamespace, tlsSecret: config.certs.tlsSecret, webhookConfiguration: config.certs.webhookConfiguration, intervalMs: config.certs.checkIntervalSeconds * 1000 } }
        : {}),
      lease: { namespace: config.leaseNamespace, name: config.leaseName, identity: config.identity, ...DEFAULT_LEADER_TIMING },
    },
  });
  // A set that arrived while the recorder started (onChange found no auditor yet).
  if (auditPolicies && audit && auditPolicies.current() !== audit.policies) running.auditor?.setPolicies(auditPolicies.current());
  return new Promise<number>((done) => {
    const stop = () => void Promise.all([running?.stop(), auditPolicies?.stop()]).then(() => done(0));
    signals.once('SIGTERM', stop);
    signals.once('SIGINT', stop);
  });
}
