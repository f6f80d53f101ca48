/**
 * `tracegate certs`: a CA and a serving certificate for the gate's Service, and optionally a kustomize
 * overlay over the install manifests that adds the TLS Secret and every webhook's caBundle, so that
 * `kubectl apply -k DIR` installs a gate the apiserver trusts. Rerunning it renews the serving
 * certificate under the same CA, so the caBundle only changes when the CA itself must.
 */
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CA_VALID_DAYS,
  DEFAULT_RENEW_BEFORE_DAYS,
  DEFAULT_SERVING_VALID_DAYS,
  assessCertSet,
  caBundleBase64,
  certPaths,
  inspectCert,
  readOptionalSet,
  issueCa,
  issueServingCert,
  serviceDnsNames,
  writeCertSet,
} from '../certs/index.js';
import type { CertPaths, IssuedCa } from '../certs/index.js';
import { writeAtomic } from '../certs/files.js';
import { KEY_SECRET, MARKER, TLS_SECRET, kustomizationYaml, readWebhookConfigs, type WebhookConfigRef } from '../certs/kustomize-overlay.js';

export { kustomizationYaml, readWebhookConfigs, type WebhookConfigRef } from '../certs/kustomize-overlay.js';
import { loadKeyring, newKeyText } from '../provenance/keys.js';
import { TracegateError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { CliIo } from './io.js';

/** Help text of `tracegate certs`. */
export const CERTS_USAGE = `Usage: tracegate certs [options]

Issue a CA and a serving certificate for the gate's Service DNS names (svc, svc.ns, svc.ns.svc,
svc.ns.svc.<cluster domain>) into DIR. A CA already in DIR is kept while it is valid for more than
${DEFAULT_RENEW_BEFORE_DAYS} days, so renewing (rerunning) never changes the webhooks' caBundle.

Options:
      --service NAME         Service the apiserver calls (tracegate; with --kustomize: the manifests')
  -n, --namespace NS         its namespace (tracegate; with --kustomize: the manifests')
      --cluster-domain D     cluster DNS domain (cluster.local)
  -o, --out DIR              where the files go (certs/cluster)
      --ca-days N            lifetime of a new CA in days (${DEFAULT_CA_VALID_DAYS})
      --days N               lifetime of the serving certificate in days (${DEFAULT_SERVING_VALID_DAYS})
      --kustomize            also write DIR/kustomization.yaml: the manifests + Secret tracegate-tls +
                             caBundle on every webhook; then run: kubectl apply -k DIR
      --manifests PATH       the install kustomization the overlay builds on (the bundled manifests/)
  -h, --help                 show this help

DIR holds private keys (mode 0600): keep it out of version control.
`;

/** Clock for the command; tests pass a fixed or shifted one. */
export interface CertsDeps {
  now?: () => Date;
}

/** Where the overlay keeps the provenance keys, beside the certificates. */
const KEY_DIR = 'provenance';
/** The overlay itself holds no secret (they sit in the files beside it): readable like any manifest. */
const OVERLAY_MODE = 0o644;
const DEFAULT_OUT = join('certs', 'cluster');
const DEFAULT_NAME = 'tracegate';
/** RFC 1123 label, as Service and Namespace names must be; at most 63 characters. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Runs `certs`; returns the exit code. */
export async function runCertsCommand(args: string[], io: CliIo, deps: CertsDeps = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      service: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'cluster-domain': { type: 'string' },
      out: { type: 'string', short: 'o' },
      'ca-days': { type: 'string' },
      days: { type: 'string' },
      kustomize: { type: 'boolean' },
      manifests: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(CERTS_USAGE);
    return 0;
  }
  const caDays = days('--ca-days', values['ca-days'], DEFAULT_CA_VALID_DAYS);
  const servingDays = days('--days', values.days, DEFAULT_SERVING_VALID_DAYS);
  if (servingDays > caDays) throw usage(`--days (${servingDays}) is longer than --ca-days (${caDays}): a certificate cannot outlive the CA that signs it`);
  if (values.manifests !== undefined && !values.kustomize) throw usage('--manifests only applies with --kustomize');
  const clusterDomain = values['cluster-domain'] ?? 'cluster.local';
  if (!clusterDomain.split('.').every((l) => DNS_LABEL.test(l))) throw usage(`--cluster-domain ${JSON.stringify(clusterDomain)} is not a DNS domain`);
  const outDir = resolve(io.cwd, values.out ?? DEFAULT_OUT);

  // Everything that can be wrong with the manifests is found before a single file is written.
  let overlay: { manifestsDir: string; configs: WebhookConfigRef[] } | undefined;
  let target = { service: values.service ?? DEFAULT_NAME, namespace: values.namespace ?? DEFAULT_NAME };
  if (values.kustomize) {
    const manifestsDir = values.manifests === undefined ? join(packageRoot, 'manifests') : resolve(io.cwd, values.manifests);
    if (relative(outDir, manifestsDir) === '') throw usage('--out must not be the manifests directory: its kustomization.yaml would be replaced');
    const configs = await readWebhookConfigs(manifestsDir);
    target = serviceTarget(configs, manifestsDir, values.service, values.namespace);
    await checkOverlayWritable(outDir);
    overlay = { manifestsDir, configs };
  }
  for (const [flag, name] of [['--service', target.service], ['--namespace', target.namespace]] as const) {
    if (!DNS_LABEL.test(name)) throw usage(`${flag} ${JSON.stringify(name)} is not a valid name (lower-case letters, digits and '-', at most 63)`);
  }

  const now = (deps.now ?? (() => new Date()))();
  const dnsNames = serviceDnsNames(target.service, target.namespace, clusterDomain);
  const paths = certPaths(outDir);
  const { ca, caNote } = await caFor(paths, dnsNames, caDays, now);
  const serving = issueServingCert({ ca, dnsNames, validDays: servingDays, now });
  await writeCertSet(outDir, { ca, serving });
  const caBundle = caBundleBase64(ca.certPem);

  const lines = [
    `CA:        ${paths.caCert} (key ${paths.caKey})`,
    `           ${caNote}; expires ${ca.notAfter.toISOString()}`,
    `serving:   ${paths.tlsCert} (key ${paths.tlsKey})`,
    `           for ${serving.dnsNames.join(', ')}; expires ${serving.notAfter.toISOString()}`,
  ];
  // issueServingCert caps a certificate at its CA's end of life.
  if (now.getTime() + servingDays * DAY_MS > ca.notAfter.getTime()) {
    lines.push(`warning:   the CA expires before ${servingDays} days are up; the serving certificate ends with it`);
  }
  lines.push(`caBundle:  ${caBundle}`, '');
  if (overlay) {
    const file = join(outDir, 'kustomization.yaml');
    // The MAC key is made once and kept: a new key on every renewal would unverify every stamped change.
    const keys = await ensureKeyFiles(join(outDir, KEY_DIR));
    // Temp file + rename (certs/files.ts): kubectl never reads half an overlay.
    await writeAtomic(file, kustomizationYaml({ outDir, ...overlay, namespace: target.namespace, caBundle, now, keyFiles: keys.files.map((f) => `${KEY_DIR}/${f}` ) }), OVERLAY_MODE);
    lines.push(`overlay:   ${file} (base ${overlay.manifestsDir}; Secrets ${target.namespace}/${TLS_SECRET} and ${target.namespace}/${KEY_SECRET}; caBundle on ${overlay.configs.map((c) => `${c.kind}/${c.name}`).join(', ')})`);
    lines.push(`keys:      ${join(outDir, KEY_DIR)} (${keys.created ? 'new provenance key' : 'existing provenance keys kept'})`);
    lines.push(`install or renew: kubectl apply -k ${outDir}`);
  } else {
    lines.push('install:');
    // Through apply, so the same command also renews an existing Secret.
    lines.push(`  kubectl -n ${target.namespace} create secret tls ${TLS_SECRET} --cert=${paths.tlsCert} --key=${paths.tlsKey} --dry-run=client -o yaml | kubectl apply -f -`);
    lines.push('  and set clientConfig.caBundle of every tracegate webhook to the caBundle above,');
    lines.push('  or rerun with --kustomize and run: kubectl apply -k DIR');
  }
  lines.push(`${outDir} holds private keys: keep it out of version control.`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

function usage(message: string): TracegateError {
  return new TracegateError('USAGE', message);
}

function days(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw usage(`${flag} must be a whole number of days (1 or more), got ${JSON.stringify(raw)}`);
  return n;
}

/** The CA in `paths` when it is sound and good for more than the renewal window; otherwise a new one. */
async function caFor(paths: CertPaths, dnsNames: string[], caDays: number, now: Date): Promise<{ ca: IssuedCa; caNote: string }> {
  const pems = await readOptionalSet(paths);
  const verdict = assessCertSet({ pems, dnsNames, now, renewBeforeDays: DEFAULT_RENEW_BEFORE_DAYS });
  // Past 'renew-all', assessCertSet has checked the CA pair in the files; 'reuse' just doesn't repeat it.
  const kept = verdict.action === 'renew-serving' ? verdict.ca : verdict.action === 'reuse' ? { certPem: pems.caCertPem, keyPem: pems.caKeyPem } : undefined;
  if (kept?.certPem !== undefined && kept.keyPem !== undefined) {
    const info = inspectCert(kept.certPem);
    if (info.ok) {
      const ca = { certPem: kept.certPem, keyPem: kept.keyPem, notAfter: info.value.notAfter, serialHex: info.value.serialHex };
      return { ca, caNote: 'existing CA kept, so the caBundle is unchanged' };
    }
  }
  const fresh = pems.caCertPem === undefined;
  const caNote = fresh ? 'new CA' : `new CA (${verdict.reason}): the caBundle changed, apply it to the webhook configurations`;
  return { ca: issueCa({ validDays: caDays, now }), caNote };
}

/** The Service the certificate is for: the one the webhooks call, which flags may repeat but not contradict. */
function serviceTarget(configs: WebhookConfigRef[], dir: string, service: string | undefined, namespace: string | undefined) {
  const called = [...new Set(configs.flatMap((c) => c.services))];
  const [only] = called;
  if (only === undefined) return { service: service ?? DEFAULT_NAME, namespace: namespace ?? DEFAULT_NAME };
  if (called.length > 1) throw usage(`the webhooks in ${dir} call several Services (${called.join(', ')}); one certificate cannot serve them all`);
  const [ns = '', name = ''] = only.split('/');
  if ((service !== undefined && service !== name) || (namespace !== undefined && namespace !== ns)) {
    throw usage(`the webhooks in ${dir} call Service ${only}, not ${namespace ?? ns}/${service ?? name}; leave out --service/--namespace with --kustomize, or leave out --kustomize`);
  }
  return { service: name, namespace: ns };
}

/** Refuses to replace a kustomization.yaml someone else wrote. */
async function checkOverlayWritable(outDir: string): Promise<void> {
  const existing = await readFile(join(outDir, 'kustomization.yaml'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw usage(`cannot read ${join(outDir, 'kustomization.yaml')}: ${err.message}`);
  });
  if (existing !== undefined && !existing.startsWith(MARKER)) {
    throw usage(`${join(outDir, 'kustomization.yaml')} exists and was not written by tracegate certs; choose another --out`);
  }
}

/**
 * The provenance key files of an overlay: kept when there (rotation is adding `<id>.key` files and
 * naming the signing one in `current`), else one new key `k1`. Returns the file names, `current` first.
 */
async function ensureKeyFiles(dir: string): Promise<{ files: string[]; created: boolean }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let keys = names.filter((n) => n.endsWith('.key')).sort();
  const created = keys.length === 0;
  if (created) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, 'k1.key'), newKeyText(), 0o600);
    await writeAtomic(join(dir, 'current'), 'k1\n', 0o600);
    keys = ['k1.key'];
  }
  // Checked as the gate will read them, before anything is applied.
  await loadKeyring(dir);
  const current = names.includes('current') || created ? ['current'] : [];
  return { files: [...current, ...keys], created };
}
