/** `tracegate verify`: re-verify a signed approval offline against an object and the public keys. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { readInputDocuments } from '../check/inputs.js';
import { ALL_TENANTS, loadTrustedKeyFiles } from '../approval/keys.js';
import { pickWorkload } from '../approval/pick-workload.js';
import { APPROVAL_ANNOTATION_NAME, formatInstant, parseDuration, type ApprovalStatement } from '../approval/statement.js';
import { approvalExpectationOf } from '../approval/template-digest.js';
import { verifyApproval } from '../approval/verify-approval.js';
import type { CliIo } from './io.js';
import { formatRef, parseWorkloadRef } from './kube-client.js';
import { verifyRecordedRevision } from './verify-revision.js';

export const VERIFY_USAGE = `Usage: tracegate verify --jwks FILE [--tenant TENANT] [TOKEN_OR_FILE] --object MANIFEST [options]
       tracegate verify --jwks FILE [--tenant TENANT] --revision N [NAMESPACE/][KIND/]NAME [TOKEN_OR_FILE]

Re-verify a signed approval offline: its signature with the public keys (a JWKS file), its lifetime,
and that it binds exactly this object (namespace, kind, name, pod template digest or images). Without
TOKEN_OR_FILE, the approval is read from the object's own annotation (tracegate.io/approval). Exits 0
when it verifies, 1 with the failed check in one line when it does not.

With --revision, the approval the gate recorded as verified for revision N of a workload (its trail
entry, read from the cluster) is checked again: that it is the statement the record names (its
digest), signed by a trusted key, valid when the change was recorded, and binding that revision's pod
template (from the Helm release's manifest). The tenant is the one recorded unless --tenant is given.

Arguments:
  TOKEN_OR_FILE          the approval (a compact JWS), or a file holding it or the annotation line
                         tracegate.io/approval=…, or - for standard input

Options:
      --jwks FILE          the trusted public keys (RFC 7517 JWKS; Ed25519 and P-256 keys)
      --tenant TENANT      the tenant the keys belong to (default: keys trusted for every tenant)
      --object FILE        the object the approval must bind (YAML or JSON manifest; - for stdin)
      --revision N         re-verify the approval recorded for revision N of the workload named
      --kubeconfig FILE    kubeconfig for --revision (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
      --kind KIND          which workload of the manifest, by kind
      --name NAME          which workload of the manifest, by name
  -n, --namespace NS       namespace of the object when the manifest names none
      --at TIME            verify as of this instant (RFC 3339, e.g. the revision's admission time; default: now)
      --max-lifetime D     longest accepted lifetime (default 7d, as the gate)
      --cluster NAME       the gate's cluster name (accepted as audience; required by a cluster claim)
      --audience AUD       accepted audience instead of tracegate (repeatable)
  -o, --output FORMAT      text (default) or json (the verified statement)
      --annotation-prefix P  prefix of tracegate's annotations (tracegate.io/)
  -h, --help               show this help

Examples:
  tracegate verify --jwks approvers.jwks.json --tenant team-a --object rendered.yaml --name web
  tracegate verify --jwks approvers.jwks.json --revision 3 team-a/web
`;

const OPTIONS = {
  jwks: { type: 'string' },
  tenant: { type: 'string' },
  object: { type: 'string' },
  revision: { type: 'string' },
  kubeconfig: { type: 'string' },
  kind: { type: 'string' },
  name: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  at: { type: 'string' },
  'max-lifetime': { type: 'string' },
  cluster: { type: 'string' },
  audience: { type: 'string', multiple: true },
  output: { type: 'string', short: 'o', default: 'text' },
  'annotation-prefix': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

// A compact JWS: three base64url segments, the first a JSON object (`{"` is `eyJ`), so `my.approval.jws` stays a file name.
const COMPACT = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

function usage(message: string): TracegateError {
  return new TracegateError('USAGE', message);
}

/** The token: given inline, in a file (alone or as the annotation line), or on stdin. */
async function readToken(arg: string, io: CliIo): Promise<string> {
  if (COMPACT.test(arg)) return arg;
  let text: string;
  if (arg === '-') text = await io.readStdin();
  else {
    try {
      text = await readFile(resolve(io.cwd, arg), 'utf8');
    } catch (err) {
      throw new TracegateError('INPUT_NOT_FOUND', `${arg} is neither an approval (a compact JWS) nor a readable file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  const line = text.trim();
  // `tracegate.io/approval=eyJ…`: the JWS alphabet has no `=`, so the value follows the last one.
  return line.slice(line.lastIndexOf('=') + 1).trim();
}

function instant(text: string | undefined): number {
  if (text === undefined) return Date.now();
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw usage(`--at ${JSON.stringify(text)} is not an RFC 3339 time like 2026-12-01T09:30:00Z`);
  return ms;
}

function describe(s: ApprovalStatement): string {
  const bound = s.template !== undefined ? `pod template sha256:${s.template.slice(0, 12)}…` : `images ${s.images!.join(', ')}`;
  const extra = [s.pipelineRun && `pipeline run ${s.pipelineRun}`, s.testResults && `test results ${s.testResults}`].filter(Boolean).join(', ');
  return `verified: ${s.kind} ${s.namespace}/${s.name} approved by ${s.approver} (issuer ${s.issuer}, key ${s.kid}), commit ${s.commit}${extra ? `, ${extra}` : ''}; binds ${bound}; valid ${formatInstant(s.notBefore ?? s.issuedAt)} to ${formatInstant(s.expiresAt)}\n`;
}

type Values = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>['values'];

/** The --jwks keys as trusted for `tenant`, with the lifetime, cluster and audience options. */
async function trustedKeys(values: Values, tenant: string, io: CliIo) {
  const maxLifetime = values['max-lifetime'] === undefined ? undefined : parseDuration(values['max-lifetime']);
  if (values['max-lifetime'] !== undefined && maxLifetime === undefined) throw usage(`--max-lifetime ${JSON.stringify(values['max-lifetime'])} is not a duration like 24h or 7d`);
  return loadTrustedKeyFiles(
    {
      tenants: { [tenant]: values.jwks! },
      ...(maxLifetime !== undefined ? { maxLifetimeSeconds: maxLifetime } : {}),
      ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
      ...(values.audience !== undefined ? { audiences: values.audience } : {}),
    },
    io.cwd,
  );
}

/** `verify --revision N WORKLOAD [TOKEN_OR_FILE]`: see verify-revision.ts. */
async function verifyRevision(values: Values, positionals: string[], io: CliIo): Promise<number> {
  const revision = Number(values.revision);
  if (!/^[1-9][0-9]{0,9}$/.test(values.revision!)) throw usage(`--revision ${JSON.stringify(values.revision)} is not a revision number`);
  if (positionals.length < 1 || positionals.length > 2) throw usage('--revision N needs the workload, [NAMESPACE/][KIND/]NAME, and at most one approval');
  if (values.object !== undefined) throw usage('--revision reads the object from the recorded revision: leave out --object');
  if (values.output !== 'text' && values.output !== 'json') throw usage(`unknown output format ${JSON.stringify(values.output)}; use text or json`);
  const ref = parseWorkloadRef(positionals[0]!, values.namespace ?? 'default');
  if (!ref) throw usage(`not a workload reference: ${JSON.stringify(positionals[0])} (use [NAMESPACE/][KIND/]NAME)`);
  const check = await verifyRecordedRevision(
    {
      ref,
      revision,
      keys: async (recorded) => {
        const tenant = values.tenant ?? recorded ?? ALL_TENANTS;
        return { tenant, keys: await trustedKeys(values, tenant, io) };
      },
      ...(positionals[1] !== undefined ? { token: await readToken(positionals[1], io) } : {}),
      ...(values.at !== undefined ? { at: instant(values.at) } : {}),
      ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
      prefix: values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX,
    },
    io,
  );
  if (values.output === 'json') io.stdout(`${JSON.stringify({ verified: true, revision, recorded: check.entry.approval, statement: check.statement }, null, 2)}\n`);
  else io.stdout(`revision ${revision} of ${formatRef(ref)}: ${describe(check.statement).trimEnd()}; the statement recorded for it (${check.statement.digest})\n`);
  return 0;
}

/** Runs `tracegate verify`; see {@link VERIFY_USAGE}. Exit 1 (APPROVAL_INVALID) when the approval does not verify. */
export async function runVerifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  if (values.help) {
    io.stdout(VERIFY_USAGE);
    return 0;
  }
  if (values.jwks === undefined) throw usage('--jwks FILE is required: the trusted public keys');
  if (values.revision !== undefined) return verifyRevision(values, positionals, io);
  if (values.object === undefined) throw usage('--object FILE is required: the object the approval must bind (or --revision N and a workload)');
  if (positionals.length > 1) throw usage('give at most one approval (TOKEN_OR_FILE)');
  if (positionals[0] === '-' && values.object === '-') throw usage('only one of TOKEN_OR_FILE and --object can be standard input');
  if (values.output !== 'text' && values.output !== 'json') throw usage(`unknown output format ${JSON.stringify(values.output)}; use text or json`);
  const now = instant(values.at);
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  const tenant = values.tenant ?? ALL_TENANTS;
  const keys = await trustedKeys(values, tenant, io);
  const docs: KubeObject[] = [];
  for await (const d of readInputDocuments([values.object], io.readStdin, io.cwd)) docs.push(d.object);
  const obj = pickWorkload(docs, { kind: values.kind, name: values.name, namespace: values.namespace }, values.object);
  const annotation = `${prefix}${APPROVAL_ANNOTATION_NAME}`;
  const token = positionals[0] !== undefined ? await readToken(positionals[0], io) : obj.metadata?.annotations?.[annotation];
  if (token === undefined) throw usage(`no approval given, and the object has no ${annotation} annotation`);
  const result = await verifyApproval(token, approvalExpectationOf(obj, tenant, prefix), keys, now);
  if (!result.ok) throw new TracegateError('APPROVAL_INVALID', `not verified: ${result.reason}`);
  io.stdout(values.output === 'json' ? `${JSON.stringify({ verified: true, statement: result.statement }, null, 2)}\n` : describe(result.statement));
  return 0;
}
