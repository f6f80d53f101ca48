/** `tracegate approve`: sign an approval for one workload change, from a manifest or a live object. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import type { KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX, DEFAULT_COMMIT_PATTERN } from '../policy/defaults.js';
import { readInputDocuments } from '../check/inputs.js';
import { pickWorkload } from '../approval/pick-workload.js';
import { readSigningKey, signApproval } from '../approval/sign.js';
import { APPROVAL_ANNOTATION_NAME, DEFAULT_APPROVAL_AUDIENCE, DEFAULT_MAX_LIFETIME_SECONDS, formatDuration, parseDuration, type ApprovalBindingClaim } from '../approval/statement.js';
import { approvalImages, approvalTemplateDigest } from '../approval/template-digest.js';
import type { CliIo } from './io.js';
import { formatRef, loadKubeConfig, parseWorkloadRef, type WorkloadRef } from './kube-client.js';
import { kubeApiError } from '../kube/api-error.js';
import { apiVersionOf } from '../workload/kinds.js';

export const APPROVE_USAGE = `Usage: tracegate approve -f MANIFEST [--kind KIND] [--name NAME] [-n NAMESPACE] --key FILE --approver NAME --commit SHA [options]
       tracegate approve [NAMESPACE/][KIND/]NAME --key FILE --approver NAME --commit SHA [options]
       tracegate approve --key FILE [--kid ID] --print-jwks

Sign an approval of one workload change: a JWS over the namespace, kind and name, the pod template's
digest (or the images), the commit, the pipeline run, the approver and an expiry. Prints the annotation
to add to the workload (tracegate.io/approval=…), or writes it to the live object with --annotate. The
gate verifies it with the tenant's public keys; a manifest and the object the cluster admits from it
have the same template digest, so approve what the pipeline is about to apply.

Options:
  -f, --filename FILE      the manifest (YAML or JSON, several documents allowed; - for stdin)
      --kind KIND          which workload of the manifest (deployment, statefulset, cronjob, …)
      --name NAME          which workload of the manifest, by name
  -n, --namespace NS       namespace of the workload (when the manifest or the reference names none)
      --key FILE           private key, PEM, Ed25519 or ECDSA P-256 (openssl genpkey -algorithm ed25519 -out approver.pem)
      --kid ID             key id the gate's JWKS lists the key under (default: the key's RFC 7638 thumbprint)
      --approver NAME      who approves (required)
      --commit SHA         the commit being deployed, 7-64 lowercase hex (required)
      --pipeline-run ID    the pipeline run that built and tested it
      --test-results URL   link to the test results
      --ttl DURATION       lifetime: 30m, 24h, 7d (default 24h; the gate refuses more than its maximum, 7d unless configured)
      --audience AUD       tracegate (default), or the cluster name the gate is configured with
      --cluster NAME       bind the approval to the gate of this cluster
      --bind WHAT          template (default: the exact pod template) or images (only the container images)
      --issuer TEXT        who issues the approval: your tool or organisation (default: tracegate approve)
      --annotate           write the annotation to the live object (a merge patch of metadata.annotations, with your credentials)
      --print-jwks         print the JWKS of the key's public half (for the gate's trusted keys) and exit
  -o, --output FORMAT      text (default: the annotation line) or json (the annotation, header and claims)
      --annotation-prefix P  prefix of tracegate's annotations (tracegate.io/)
      --kubeconfig FILE    kubeconfig (for a live object or --annotate)
  -h, --help               show this help

Examples:
  tracegate approve -f rendered.yaml --name web -n team-a --key approver.pem --kid ci-2026 --approver bob --commit "$GIT_SHA"
  tracegate approve team-a/web --key approver.pem --kid ci-2026 --approver bob --commit 3f2a9c1 --annotate
`;

/** The default lifetime: a working day and a night, for a pipeline that deploys after approval. */
const DEFAULT_TTL_SECONDS = 24 * 3600;

const OPTIONS = {
  filename: { type: 'string', short: 'f' },
  kind: { type: 'string' },
  name: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  key: { type: 'string' },
  kid: { type: 'string' },
  approver: { type: 'string' },
  commit: { type: 'string' },
  'pipeline-run': { type: 'string' },
  'test-results': { type: 'string' },
  ttl: { type: 'string' },
  audience: { type: 'string' },
  cluster: { type: 'string' },
  bind: { type: 'string' },
  issuer: { type: 'string' },
  annotate: { type: 'boolean' },
  'print-jwks': { type: 'boolean' },
  output: { type: 'string', short: 'o', default: 'text' },
  'annotation-prefix': { type: 'string' },
  kubeconfig: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function usage(message: string): TracegateError {
  return new TracegateError('USAGE', message);
}

function header(ref: WorkloadRef) {
  return { apiVersion: apiVersionOf(ref.kind), kind: ref.kind.kind, metadata: { name: ref.name, namespace: ref.namespace } };
}

/** The live workload, read with the user's kubeconfig. */
async function readLive(ref: WorkloadRef, kubeconfig: string | undefined, io: CliIo): Promise<KubeObject> {
  const api = KubernetesObjectApi.makeApiClient(loadKubeConfig(kubeconfig, io));
  try {
    const obj = await api.read(header(ref));
    return { ...(JSON.parse(JSON.stringify(obj)) as KubeObject), apiVersion: apiVersionOf(ref.kind), kind: ref.kind.kind };
  } catch (err) {
    throw kubeApiError('get', formatRef(ref), err);
  }
}

/** Writes the annotation with a JSON merge patch of metadata.annotations only: nothing else of the object changes. */
async function annotateLive(ref: WorkloadRef, annotation: string, value: string, kubeconfig: string | undefined, io: CliIo): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(loadKubeConfig(kubeconfig, io));
  const patch = { ...header(ref), metadata: { ...header(ref).metadata, annotations: { [annotation]: value } } };
  try {
    await api.patch(patch, undefined, undefined, 'tracegate-approve', undefined, PatchStrategy.MergePatch);
  } catch (err) {
    throw kubeApiError('annotate', formatRef(ref), err);
  }
}

async function readKeyFile(path: string, io: CliIo): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, path), 'utf8');
  } catch (err) {
    throw new TracegateError('APPROVAL_SIGNING_KEY', `cannot read --key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** The object to approve: from the manifest, or read live. */
async function targetObject(values: Values, positionals: string[], io: CliIo): Promise<{ obj: KubeObject; ref?: WorkloadRef }> {
  if (values.filename !== undefined) {
    if (positionals.length) throw usage('give either -f MANIFEST or a workload reference, not both');
    const docs: KubeObject[] = [];
    for await (const d of readInputDocuments([values.filename], io.readStdin, io.cwd)) docs.push(d.object);
    return { obj: pickWorkload(docs, { kind: values.kind, name: values.name, namespace: values.namespace }, values.filename) };
  }
  if (positionals.length !== 1) throw usage('give -f MANIFEST or exactly one workload: [NAMESPACE/][KIND/]NAME');
  if (values.kind !== undefined || values.name !== undefined) throw usage('--kind and --name pick a workload of a manifest (-f); a live workload is named as [NAMESPACE/][KIND/]NAME');
  const ref = parseWorkloadRef(positionals[0]!, values.namespace ?? 'default');
  if (!ref) throw usage(`not a workload reference: ${JSON.stringify(positionals[0])} (use [NAMESPACE/][KIND/]NAME)`);
  return { obj: await readLive(ref, values.kubeconfig, io), ref };
}

function binding(obj: KubeObject, values: Values, prefix: string): ApprovalBindingClaim {
  const bind = values.bind ?? 'template';
  if (bind !== 'template' && bind !== 'images') throw usage(`--bind must be template or images, not ${JSON.stringify(bind)}`);
  return {
    namespace: obj.metadata!.namespace!,
    kind: obj.kind!,
    name: obj.metadata!.name!,
    ...(bind === 'template' ? { template: approvalTemplateDigest(obj, prefix) } : { images: approvalImages(obj) }),
    commit: values.commit!,
    ...(values['pipeline-run'] !== undefined ? { pipelineRun: values['pipeline-run'] } : {}),
    ...(values['test-results'] !== undefined ? { testResults: values['test-results'] } : {}),
    ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
  };
}

// The gate refuses claims with control characters (they would forge log lines): refuse them before signing.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function checkValues(values: Values): number {
  if (values.approver === undefined || values.approver.trim() === '') throw usage('--approver NAME is required: who approves');
  if (values.commit === undefined || !new RegExp(`^${DEFAULT_COMMIT_PATTERN}$`).test(values.commit)) throw usage('--commit SHA is required: 7-64 lowercase hex');
  for (const option of ['approver', 'pipeline-run', 'issuer', 'cluster', 'audience'] as const) {
    if (CONTROL.test(values[option] ?? '')) throw usage(`--${option} contains control characters`);
  }
  if (values['test-results'] !== undefined && !/^https?:\/\/\S+$/.test(values['test-results'])) throw usage('--test-results must be an http(s) URL');
  if (values.output !== 'text' && values.output !== 'json') throw usage(`unknown output format ${JSON.stringify(values.output)}; use text or json`);
  const ttl = values.ttl === undefined ? DEFAULT_TTL_SECONDS : parseDuration(values.ttl);
  if (ttl === undefined) throw usage(`--ttl ${JSON.stringify(values.ttl)} is not a duration like 30m, 24h or 7d`);
  return ttl;
}

/** Runs `tracegate approve`; see {@link APPROVE_USAGE}. */
export async function runApproveCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  if (values.help) {
    io.stdout(APPROVE_USAGE);
    return 0;
  }
  if (values.key === undefined) throw usage('--key FILE is required: the approver\'s private key (PEM, Ed25519 or P-256)');
  if (values['print-jwks']) {
    const key = await readSigningKey(await readKeyFile(values.key, io), `--key ${values.key}`, values.kid);
    io.stdout(`${JSON.stringify({ keys: [key.publicJwk] }, null, 2)}\n`);
    return 0;
  }
  const ttl = checkValues(values);
  const prefix = values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX;
  const key = await readSigningKey(await readKeyFile(values.key, io), `--key ${values.key}`, values.kid);
  const { obj, ref } = await targetObject(values, positionals, io);
  const signed = await signApproval(
    {
      issuer: values.issuer ?? 'tracegate approve',
      approver: values.approver!,
      audience: values.audience ?? DEFAULT_APPROVAL_AUDIENCE,
      binding: binding(obj, values, prefix),
      ttlSeconds: ttl,
      now: Date.now(),
    },
    key,
  );
  const annotation = `${prefix}${APPROVAL_ANNOTATION_NAME}`;
  if (ttl > DEFAULT_MAX_LIFETIME_SECONDS) io.stderr(`note: --ttl ${formatDuration(ttl)} is longer than the gate's default maximum (${formatDuration(DEFAULT_MAX_LIFETIME_SECONDS)}); it refuses the approval unless configured for more\n`);
  if (values.annotate) {
    const target = ref ?? parseWorkloadRef(`${obj.metadata!.namespace}/${obj.kind}/${obj.metadata!.name}`);
    if (!target) throw usage(`cannot name the live ${obj.kind} ${obj.metadata!.namespace}/${obj.metadata!.name} to annotate`);
    await annotateLive(target, annotation, signed.jws, values.kubeconfig, io);
    io.stderr(`annotated ${formatRef(target)} with ${annotation}\n`);
  }
  if (values.output === 'json') io.stdout(`${JSON.stringify({ annotation: { [annotation]: signed.jws }, header: signed.header, claims: signed.claims }, null, 2)}\n`);
  else io.stdout(`${annotation}=${signed.jws}\n`);
  return 0;
}
