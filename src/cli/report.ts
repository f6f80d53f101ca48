/**
 * `tracegate report`: a tenant's change history over a period as CSV or JSON, with a digest (signed
 * with a key when given) an auditor checks with `tracegate report verify`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { importPublicJwks } from '../approval/jwks.js';
import { readJsonFile } from '../approval/keys.js';
import { readSigningKey } from '../approval/sign.js';
import { TracegateError } from '../errors.js';
import { statusOf } from '../kube/api-error.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { boundText } from '../policy/digest.js';
import { createSecretDriver, READER_LIMITS } from '../recorder/secret-driver.js';
import { exportDigest, renderCsv, renderJson, type ExportMeta } from '../report/export.js';
import { createChangeSource, MAX_ROWS, type ChangeQuery } from '../report/query.js';
import { renderDigestFile, signExport, verifyExport, type ExportClaims } from '../report/signature.js';
import type { CliIo } from './io.js';
import { loadKubeConfig } from './kube-client.js';
import { loadPolicySet } from './policies-option.js';

export const REPORT_USAGE = `Usage: tracegate report (--tenant TENANT | --namespace NS… | --all-tenants) [--since TIME] [--until TIME] [-o csv|json] [options]
       tracegate report verify EXPORT --digest FILE (--jwks FILE | --digest-only)

Export the change history — who changed what, when, with which commit, approver and verdict
(verified / unverified / break-glass), images before and after — of a tenant's workloads over the
period [--since, --until), from the ChangeTrail objects (Helm's release records add Helm's status and
the revisions before tracegate saw a workload). The export goes to standard output (or --out); its
digest to standard error (or --digest-out): the sha256 of the exact bytes, and with --sign-key a JWS
over the digest, tenant, period, row count and time of the export.

At most ${MAX_ROWS} rows per export: a longer history is cut at the earliest ${MAX_ROWS}, with a
warning naming the --since of the next part (the JSON says truncated and nextSince).

Options:
      --tenant TENANT       the tenant (the workloads whose trail is labelled with it now)
  -n, --namespace NS        only these namespaces (repeatable); with --tenant, both must hold
      --all-tenants         every namespace you may read (an auditor's cluster-wide export)
      --since TIME          from this instant on (RFC 3339, or a date: 2026-10-01 is its 00:00 UTC)
      --until TIME          before this instant (same forms; default: now)
  -o, --output FORMAT       csv (default; RFC 4180, formula-safe) or json
      --out FILE            write the export to FILE instead of standard output
      --limit N             at most N rows (default and maximum ${MAX_ROWS})
      --sign-key FILE       sign the digest with this private key (PEM, Ed25519 or ECDSA P-256)
      --kid KID             the key id in the signature (default: the key's RFC 7638 thumbprint)
      --digest-out FILE     write the digest file (JSON) to FILE instead of standard error
      --policies PATH       record the digest of this policy set in the export (repeatable)
      --trail-only          do not read Helm's release Secrets (statuses are then recorded / deleted)
      --page-size N         ChangeTrail objects per list request (default 50)
      --kubeconfig FILE     kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
      --context NAME        the kubeconfig context to use (default: its current context), as kubectl --context
      --annotation-prefix P prefix of tracegate's labels (tracegate.io/)
  -h, --help                show this help

verify: checks EXPORT against the digest file: its sha256, and with --jwks that a trusted key signed
exactly that digest and period. Always pass --jwks: an unsigned digest proves nothing against
someone who could edit both files. A signed digest file without --jwks is refused (exit 1) unless
--digest-only says to check the bytes only. Exits 0 when it verifies, 1 when it does not.

Examples:
  tracegate report --tenant team-a --since 2026-10-01 --until 2026-11-01 -o csv --out team-a.csv \\
    --sign-key auditor.pem --digest-out team-a.csv.digest
  tracegate report verify team-a.csv --digest team-a.csv.digest --jwks auditors.jwks.json
`;

const OPTIONS = {
  tenant: { type: 'string' },
  namespace: { type: 'string', short: 'n', multiple: true },
  'all-tenants': { type: 'boolean' },
  since: { type: 'string' },
  until: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'csv' },
  out: { type: 'string' },
  limit: { type: 'string' },
  'sign-key': { type: 'string' },
  kid: { type: 'string' },
  'digest-out': { type: 'string' },
  policies: { type: 'string', multiple: true },
  'trail-only': { type: 'boolean' },
  'page-size': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'annotation-prefix': { type: 'string' },
  digest: { type: 'string' },
  jwks: { type: 'string' },
  'digest-only': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HTTP_UNAUTHORIZED = 401;
const HTTP_FORBIDDEN = 403;
// A list page must hold at least one object; kube-apiserver itself caps nothing, so bound it like client-go's 500.
const MAX_PAGE_SIZE = 500;

function usage(message: string): TracegateError {
  return new TracegateError('USAGE', message);
}

/** An instant as users type it: RFC 3339, or a date meaning 00:00 UTC that day. */
export function parseInstant(text: string, flag: string): Date {
  const ms = /^\d{4}-\d\d-\d\d$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw usage(`${flag} ${JSON.stringify(text)} is not a date (2026-10-01) or an RFC 3339 time (2026-10-01T09:30:00Z)`);
  return new Date(ms);
}

function positiveInt(text: string | undefined, flag: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw usage(`${flag} must be a whole number from 1 to ${max}`);
  return n;
}

async function write(path: string, text: string, io: CliIo): Promise<void> {
  try {
    await writeFile(resolve(io.cwd, path), text);
  } catch (err) {
    throw new TracegateError('EXPORT_WRITE', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unwritable'}`);
  }
}

async function readText(path: string, io: CliIo, what: string): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, path), 'utf8');
  } catch (err) {
    throw new TracegateError('INPUT_NOT_FOUND', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

async function runVerify(values: { digest?: string | undefined; jwks?: string | undefined; 'digest-only'?: boolean | undefined }, files: string[], io: CliIo): Promise<number> {
  if (files.length !== 1) throw usage('give exactly one export file to verify');
  if (values.digest === undefined) throw usage('--digest FILE is required: the digest file written with the export');
  if (values['digest-only'] && values.jwks !== undefined) throw usage('--digest-only checks the bytes only; do not combine it with --jwks');
  let bytes: Buffer;
  try {
    bytes = await readFile(resolve(io.cwd, files[0]!));
  } catch (err) {
    throw new TracegateError('INPUT_NOT_FOUND', `cannot read the export ${files[0]}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let digestFile: unknown;
  try {
    digestFile = JSON.parse(await readText(values.digest, io, 'the digest file'));
  } catch (err) {
    if (err instanceof TracegateError) throw err;
    throw new TracegateError('INPUT_PARSE', `${values.digest} is not a digest file (JSON)`);
  }
  let keys;
  if (values.jwks !== undefined) {
    try {
      keys = await importPublicJwks(await readJsonFile(values.jwks, io.cwd), ['Ed25519', 'P-256'], values.jwks);
    } catch (err) {
      throw err instanceof TracegateError ? err : new TracegateError('APPROVAL_KEYS', (err as Error).message);
    }
  }
  const signed = typeof digestFile === 'object' && digestFile !== null && 'jws' in digestFile;
  // A signature nobody checks must not read as a pass: its claims are whatever the file says.
  if (signed && keys === undefined && !values['digest-only']) throw new TracegateError('EXPORT_INVALID', 'signed digest: pass --jwks FILE to check the signature (or --digest-only to check the bytes only)');
  const result = await verifyExport(bytes, digestFile, keys);
  if (!result.ok) throw new TracegateError('EXPORT_INVALID', `not verified: ${result.reason}`);
  const c = result.claims;
  // Type-checked by verifyExport; still printed through boundText, as every value read from a file.
  const shown = (v: unknown) => boundText(v);
  const scope = [c.tenant !== null && c.tenant !== undefined ? `tenant ${shown(c.tenant)}` : 'all tenants', c.namespaces?.length ? `namespaces ${c.namespaces.map(shown).join(', ')}` : ''].filter(Boolean).join(', ');
  const period = `${shown(c.since ?? 'the beginning')} to ${shown(c.until ?? c.generatedAt)}`;
  const how =
    result.signedBy !== undefined
      ? `signed by key ${shown(result.signedBy)}`
      : signed
        ? 'digest only (--digest-only): the signature was NOT checked'
        : 'digest only, NOT signed (tamper-evident only with a signed digest and --jwks)';
  io.stdout(`verified: ${shown(c.format)} export of ${scope}, ${period}, ${shown(c.rows)} rows${c.truncated ? ' (truncated)' : ''}, made ${shown(c.generatedAt)}; ${shown(c.sha256)}; ${how}\n`);
  return 0;
}

/** Runs `tracegate report`; see {@link REPORT_USAGE}. */
export async function runReportCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  if (values.help) {
    io.stdout(REPORT_USAGE);
    return 0;
  }
  if (positionals[0] === 'verify') return runVerify(values, positionals.slice(1), io);
  if (positionals.length) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}; did you mean 'tracegate report verify FILE'?`);
  if (values.digest !== undefined || values.jwks !== undefined || values['digest-only']) throw usage('--digest, --jwks and --digest-only belong to tracegate report verify');
  const format = values.output;
  if (format !== 'csv' && format !== 'json') throw usage(`unknown output format ${JSON.stringify(format)}; use csv or json`);
  const namespaces = values.namespace;
  if (values.tenant === undefined && namespaces === undefined && !values['all-tenants']) throw usage('choose what to export: --tenant TENANT, --namespace NS, or --all-tenants');
  if (values['all-tenants'] && (values.tenant !== undefined || namespaces !== undefined)) throw usage('--all-tenants exports everything: do not combine it with --tenant or --namespace');
  if (values.kid !== undefined && values['sign-key'] === undefined) throw usage('--kid names the key of --sign-key; give --sign-key too');
  const since = values.since === undefined ? undefined : parseInstant(values.since, '--since');
  const until = values.until === undefined ? undefined : parseInstant(values.until, '--until');
  if (since && until && since >= until) throw usage('--since must be before --until');
  const limit = positiveInt(values.limit, '--limit', MAX_ROWS);
  const pageSize = positiveInt(values['page-size'], '--page-size', MAX_PAGE_SIZE);
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  // The key first: a bad key fails before any cluster work.
  const key = values['sign-key'] === undefined ? undefined : await readSigningKey(await readText(values['sign-key'], io, 'the signing key'), values['sign-key'], values.kid);
  const policyDigest = values.policies === undefined ? undefined : (await loadPolicySet(values.policies, io, prefix)).digest;

  const kc = loadKubeConfig(values.kubeconfig, io, values.context);
  // Readers' limits: the records are any tenant's to write, and an export must not inflate bombs.
  const secrets = values['trail-only'] ? undefined : createSecretDriver({
        core: kc.makeApiClient(CoreV1Api),
        limits: READER_LIMITS,
        // The Secret's name only: the decoder's reason may quote the record, which is Secret data.
        onSkip: (s) => io.stderr(`tracegate report: warning: skipped release record ${s.namespace}/${s.key}: undecodable or over the read limit\n`),
      });
  const source = createChangeSource({
    trails: kc.makeApiClient(CustomObjectsApi),
    prefix,
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(secrets
      ? {
          releases: async (namespace: string, name: string) => {
            try {
              return await secrets.history(namespace, name);
            } catch (err) {
              // A reviewer may read trails but not Secrets: the rows keep the trail's own statuses.
              const status = statusOf(err);
              if (status === HTTP_FORBIDDEN || status === HTTP_UNAUTHORIZED) return undefined;
              throw err;
            }
          },
        }
      : {}),
  });
  const q: ChangeQuery = { ...(values.tenant !== undefined ? { tenant: values.tenant } : {}), ...(namespaces ? { namespaces } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}), ...(limit ? { limit } : {}) };
  const result = await source.query(q);
  const generatedAt = new Date().toISOString();
  const meta: ExportMeta = {
    ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
    ...(namespaces ? { namespaces } : {}),
    ...(since ? { since: since.toISOString() } : {}),
    ...(until ? { until: until.toISOString() } : {}),
    generatedAt,
    ...(policyDigest ? { policyDigest } : {}),
    truncated: result.truncated,
    ...(result.nextSince ? { nextSince: result.nextSince } : {}),
  };
  const text = format === 'csv' ? renderCsv(result.rows) : renderJson(meta, result.rows);
  const claims: ExportClaims = {
    sha256: exportDigest(text),
    format,
    tenant: meta.tenant ?? null,
    ...(namespaces ? { namespaces } : {}),
    since: meta.since ?? null,
    until: meta.until ?? null,
    generatedAt,
    rows: result.rows.length,
    truncated: result.truncated,
  };
  const signed = key ? { kid: key.kid, jws: await signExport(claims, key) } : undefined;
  if (values.out !== undefined) await write(values.out, text, io);
  else io.stdout(text);
  if (values['digest-out'] !== undefined) await write(values['digest-out'], renderDigestFile(claims, signed), io);
  else io.stderr(signed ? renderDigestFile(claims, signed) : `${claims.sha256}\n`);
  if (result.truncated) io.stderr(`tracegate report: warning: cut at ${result.rows.length} rows; export the rest with --since ${result.nextSince}\n`);
  return 0;
}
