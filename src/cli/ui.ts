/** `tracegate ui`: the compliance reviewer's read-only web view (HTTPS). SIGTERM/SIGINT stop it. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { TracegateError } from '../errors.js';
import { createLogger } from '../log.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { createSecretDriver, READER_LIMITS } from '../recorder/secret-driver.js';
import { ReleaseReadLimitError } from '../recorder/storage.js';
import { exportDigest, renderCsv, renderJson } from '../report/export.js';
import { createChangeSource } from '../report/query.js';
import type { ChangeSource, Exporter } from '../ui/data.js';
import { skippedRecordLogger, startUi } from '../ui/start.js';
import type { CliIo } from './io.js';
import { loadKubeConfig } from './kube-client.js';

export const UI_USAGE = `Usage: tracegate ui [options]

Serve the compliance reviewer's read-only web view over HTTPS: the enforced policies with every rule's
parameters, each tenant's changes over a period (who, what, when, commit, approver, verdict; BREAK-GLASS
and UNVERIFIED highlighted; filter, sort, CSV/JSON export with a digest), the violations PolicyReports
list now, and each workload's trail with the exact manifest and diff of every revision.
Users sign in with a Kubernetes bearer token (checked with TokenReview) or send it as
Authorization: Bearer; what they see is decided by SubjectAccessReview: a tenant's changes where they
may list changetrails.tracegate.io, Helm's records (statuses, manifests) where they may also get
secrets. Only a release in the workload's own namespace is ever read.

Options:
      --listen HOST:PORT      listen address (0.0.0.0:9443)
      --tls-cert FILE         serving certificate (reloaded when renewed)
      --tls-key FILE          serving key
      --tls-dir DIR           a directory with tls.crt and tls.key (a mounted kubernetes.io/tls Secret)
      --cert-dir DIR          where development certificates are issued when none is given (certs/ui)
      --tls-min-version V     TLSv1.2 (default) or TLSv1.3
      --kubeconfig FILE       the UI's own credentials (in a pod: the ServiceAccount); it needs
                              tokenreviews and subjectaccessreviews create (system:auth-delegator)
      --prefix P              prefix of tracegate's annotations and labels (tracegate.io/)
      --tenant-label KEY      namespace label naming the tenant (tracegate.io/tenant)
      --token-audience AUD    accept only tokens issued for this audience (repeatable; TokenReview
                              spec.audiences): kubectl create token SA --audience AUD
  -p, --policies PATH         policy file or directory, repeatable (the bundled policies), as the gate
      --policy-source SRC     files (default), cluster or both, as the gate
      --log-level LEVEL       info (default), debug, warn, error, silent
  -h, --help                  show this help
`;

/** The gate's default tenant label (config.ts). */
const DEFAULT_TENANT_LABEL = `${DEFAULT_ANNOTATION_PREFIX}tenant`;

/** The default port: beside the gate's 8443, free in the recorder's pod. */
const DEFAULT_LISTEN = '0.0.0.0:9443';

function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TracegateError('USAGE', `--listen: use HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

/**
 * The report module's change source over the trails, joined with the Helm records for their statuses
 * (as `tracegate report` reads them), and its renderers: the view exports the same bytes.
 */
function reportSources(kc: KubeConfig, prefix: string, log: Logger): { changes: ChangeSource; exporter: Exporter } {
  const storage = createSecretDriver({ core: kc.makeApiClient(CoreV1Api), limits: READER_LIMITS, onSkip: skippedRecordLogger(log) });
  const changes = createChangeSource({
    trails: kc.makeApiClient(CustomObjectsApi),
    prefix,
    // A release whose records cannot be read leaves its rows with the trail's own statuses; records
    // over the read limit are said so (413), never silently left out.
    releases: (namespace, name) =>
      storage.history(namespace, name).catch((err: unknown) => {
        if (err instanceof ReleaseReadLimitError) throw err;
        return undefined;
      }),
  });
  return { changes, exporter: { csv: renderCsv, json: renderJson, digest: exportDigest } };
}

/** Runs the view until a termination signal; returns the exit code. */
export async function runUiCommand(args: string[], io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string', default: DEFAULT_LISTEN },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-dir': { type: 'string' },
      'cert-dir': { type: 'string', default: join('certs', 'ui') },
      'tls-min-version': { type: 'string', default: 'TLSv1.2' },
      kubeconfig: { type: 'string' },
      prefix: { type: 'string', default: DEFAULT_ANNOTATION_PREFIX },
      'tenant-label': { type: 'string' },
      'token-audience': { type: 'string', multiple: true },
      policies: { type: 'string', short: 'p', multiple: true },
      'policy-source': { type: 'string', default: 'files' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(UI_USAGE);
    return 0;
  }
  const { host, port } = parseListen(values.listen);
  const minVersion = values['tls-min-version'];
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') throw new TracegateError('USAGE', '--tls-min-version: TLSv1.2 or TLSv1.3');
  const source = values['policy-source'];
  if (source !== 'files' && source !== 'cluster' && source !== 'both') throw new TracegateError('USAGE', '--policy-source: files, cluster or both');
  if (source === 'cluster' && values.policies?.length) throw new TracegateError('USAGE', 'policy files are not read with --policy-source cluster; use both');
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) throw new TracegateError('USAGE', 'give --tls-cert and --tls-key together');
  if (values['tls-dir'] && values['tls-cert']) throw new TracegateError('USAGE', 'give either --tls-dir or --tls-cert/--tls-key');
  if (values['token-audience']?.some((a) => !/^\S{1,253}$/.test(a))) throw new TracegateError('USAGE', '--token-audience: a non-empty audience without spaces');
  const tlsDir = values['tls-dir'];
  const prefix = values.prefix;
  const kc = loadKubeConfig(values.kubeconfig, io);
  const log = createLogger({ level: values['log-level'], name: 'tracegate-ui' });
  const { changes, exporter } = reportSources(kc, prefix, log);
  const ui = await startUi({
    host,
    port,
    ...(tlsDir ? { tlsCertFile: join(tlsDir, 'tls.crt'), tlsKeyFile: join(tlsDir, 'tls.key') } : {}),
    ...(values['tls-cert'] && values['tls-key'] ? { tlsCertFile: values['tls-cert'], tlsKeyFile: values['tls-key'] } : {}),
    certDir: values['cert-dir'],
    tlsMinVersion: minVersion,
    kubeConfig: kc,
    ...(values.kubeconfig ? { kubeconfigFile: values.kubeconfig } : {}),
    prefix,
    tenantLabel: values['tenant-label'] ?? DEFAULT_TENANT_LABEL,
    ...(values['token-audience']?.length ? { tokenAudiences: values['token-audience'] } : {}),
    policies: values.policies ?? [],
    policySource: source,
    changes,
    exporter,
    log,
    env: io.env,
    cwd: io.cwd,
  });
  return new Promise<number>((resolveExit) => {
    const stop = () => void ui.close().then(() => resolveExit(0));
    signals.once('SIGTERM', stop);
    signals.once('SIGINT', stop);
  });
}
