/**
 * `tracegate certs`, run in-process: the certificates it writes, renewal under the same CA, and the
 * kustomize overlay rendered by the real kubectl — whose webhooks must trust the CA that signed the
 * serving certificate in the Secret it generates.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CA_VALID_DAYS, caBundleBase64, inspectCert, serviceDnsNames, verifyServingPair } from '../../src/certs/index.js';
import { runCertsCommand } from '../../src/cli/certs.js';
import type { CliIo } from '../../src/cli/io.js';
import { createCli } from '../../src/cli/main.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const DAY_MS = 24 * 60 * 60 * 1000;
const run = createCli();

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function fakeIo(cwd: string): { io: CliIo; out: () => Outcome['stdout']; err: () => Outcome['stderr'] } {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => '',
    env: {},
    cwd,
  };
  return { io, out: () => stdout, err: () => stderr };
}

/** `tracegate certs …` through the CLI's dispatcher, with `cwd` as the working directory. */
async function certs(args: string[], cwd = repoRoot): Promise<Outcome> {
  const { io, out, err } = fakeIo(cwd);
  const code = await run(['certs', ...args], io);
  return { code, stdout: out(), stderr: err() };
}

/** Loose view of rendered objects. */
type Obj = Record<string, any>;

let scratch: string;
let kubectl: KubectlLocal;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tracegate-certs-'));
  kubectl = createKubectlLocal(await ensureRealTools());
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

let counter = 0;
/** A fresh, not yet existing directory under the scratch dir. */
function freshDir(): string {
  counter++;
  return join(scratch, `out-${counter}`);
}

async function render(dir: string): Promise<Obj[]> {
  return parseAllDocuments(await kubectl.kustomize(dir)).map((d) => d.toJS() as Obj);
}

function decode(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

describe('tracegate certs', () => {
  it('issues a CA and a serving certificate for the four Service names, keys owner-only', async () => {
    const out = freshDir();
    const res = await certs(['--out', out]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    for (const key of ['ca.key', 'tls.key']) assert.equal((await stat(join(out, key))).mode & 0o777, 0o600, key);

    const caPem = await readFile(join(out, 'ca.crt'), 'utf8');
    const certPem = await readFile(join(out, 'tls.crt'), 'utf8');
    const keyPem = await readFile(join(out, 'tls.key'), 'utf8');
    const pair = verifyServingPair({ caPem, certPem, keyPem });
    assert.ok(pair.ok, pair.ok ? '' : pair.error);
    assert.deepEqual(pair.value.dnsNames, ['tracegate', 'tracegate.tracegate', 'tracegate.tracegate.svc', 'tracegate.tracegate.svc.cluster.local']);
    const ca = inspectCert(caPem);
    assert.ok(ca.ok && ca.value.isCa);

    // What an operator needs: where the files are, when they expire, the caBundle to paste.
    assert.ok(res.stdout.includes(join(out, 'tls.crt')) && res.stdout.includes(join(out, 'ca.crt')));
    assert.ok(res.stdout.includes(pair.value.notAfter.toISOString()));
    assert.ok(res.stdout.includes(ca.value.notAfter.toISOString()));
    assert.ok(res.stdout.includes(caBundleBase64(caPem)));
    assert.match(res.stdout, /kubectl -n tracegate create secret tls tracegate-tls/);
  });

  it('honours --service, --namespace, --cluster-domain, --days and a relative --out', async () => {
    const cwd = freshDir();
    await mkdir(cwd);
    const res = await certs(['--service', 'gate', '-n', 'policy', '--cluster-domain', 'corp.internal', '--days', '10', '--out', 'tls'], cwd);
    assert.equal(res.code, 0, res.stderr);
    const info = inspectCert(await readFile(join(cwd, 'tls', 'tls.crt'), 'utf8'));
    assert.ok(info.ok);
    assert.deepEqual(info.value.dnsNames, serviceDnsNames('gate', 'policy', 'corp.internal'));
    const lifetime = info.value.notAfter.getTime() - Date.now();
    assert.ok(lifetime > 9 * DAY_MS && lifetime <= 10 * DAY_MS, `${lifetime / DAY_MS} days`);
  });

  it('renews the serving certificate under the same CA, so the caBundle does not change', async () => {
    const out = freshDir();
    const first = await certs(['--out', out]);
    assert.equal(first.code, 0, first.stderr);
    const caBefore = await readFile(join(out, 'ca.crt'), 'utf8');
    const caKeyBefore = await readFile(join(out, 'ca.key'), 'utf8');
    const servingBefore = inspectCert(await readFile(join(out, 'tls.crt'), 'utf8'));

    const second = await certs(['--out', out]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await readFile(join(out, 'ca.crt'), 'utf8'), caBefore);
    assert.equal(await readFile(join(out, 'ca.key'), 'utf8'), caKeyBefore);
    const servingAfter = inspectCert(await readFile(join(out, 'tls.crt'), 'utf8'));
    assert.ok(servingBefore.ok && servingAfter.ok);
    assert.notEqual(servingAfter.value.serialHex, servingBefore.value.serialHex, 'a new serving certificate');
    assert.match(second.stdout, /existing CA kept/);
    assert.ok(second.stdout.includes(caBundleBase64(caBefore)));
    const pair = verifyServingPair({ caPem: caBefore, certPem: await readFile(join(out, 'tls.crt'), 'utf8'), keyPem: await readFile(join(out, 'tls.key'), 'utf8') });
    assert.ok(pair.ok, pair.ok ? '' : pair.error);
  });

  it('replaces a CA that is about to expire or broken, and says the caBundle changed', async () => {
    const out = freshDir();
    const start = new Date();
    const at = (d: Date) => ({ now: () => d });
    const first = fakeIo(repoRoot);
    assert.equal(await runCertsCommand(['--out', out], first.io, at(start)), 0, first.err());
    const ca1 = await readFile(join(out, 'ca.crt'), 'utf8');

    // Four years on, the five-year CA still has over 30 days: kept.
    const later = fakeIo(repoRoot);
    assert.equal(await runCertsCommand(['--out', out], later.io, at(new Date(start.getTime() + 4 * 365 * DAY_MS))), 0, later.err());
    assert.equal(await readFile(join(out, 'ca.crt'), 'utf8'), ca1);

    // Within 30 days of the CA's end: a new CA, loudly.
    const late = fakeIo(repoRoot);
    const nearEnd = new Date(start.getTime() + (DEFAULT_CA_VALID_DAYS - 10) * DAY_MS);
    assert.equal(await runCertsCommand(['--out', out, '--days', '5'], late.io, at(nearEnd)), 0, late.err());
    const ca2 = await readFile(join(out, 'ca.crt'), 'utf8');
    assert.notEqual(ca2, ca1);
    assert.match(late.out(), /caBundle changed/);

    // A CA key that does not belong to the CA certificate cannot sign: a new CA.
    await writeFile(join(out, 'ca.key'), await readFile(join(out, 'tls.key'), 'utf8'));
    const broken = fakeIo(repoRoot);
    assert.equal(await runCertsCommand(['--out', out], broken.io, at(nearEnd)), 0, broken.err());
    assert.notEqual(await readFile(join(out, 'ca.crt'), 'utf8'), ca2);
    assert.match(broken.out(), /new CA \(CA private key does not match/);
  });

  it('warns when the CA ends before the requested serving lifetime', async () => {
    const out = freshDir();
    const start = new Date();
    const first = fakeIo(repoRoot);
    assert.equal(await runCertsCommand(['--out', out], first.io, { now: () => start }), 0, first.err());
    const later = fakeIo(repoRoot);
    // 1,700 days in: the CA has ~125 days left, the default serving lifetime is 365.
    const code = await runCertsCommand(['--out', out], later.io, { now: () => new Date(start.getTime() + 1700 * DAY_MS) });
    assert.equal(code, 0, later.err());
    assert.match(later.out(), /warning: +the CA expires before 365 days are up/);
    const ca = inspectCert(await readFile(join(out, 'ca.crt'), 'utf8'));
    const serving = inspectCert(await readFile(join(out, 'tls.crt'), 'utf8'));
    assert.ok(ca.ok && serving.ok);
    assert.equal(serving.value.notAfter.getTime(), ca.value.notAfter.getTime());
  });
});

describe('tracegate certs --kustomize', () => {
  it('makes the provenance key once and keeps it when certificates are renewed', async () => {
    const out = freshDir();
    assert.equal((await certs(['--out', out, '--kustomize'])).code, 0);
    const key = (docs: Obj[]) => docs.find((d) => d.metadata?.name === 'tracegate-provenance-key')!.data['k1.key'];
    const first = key(await render(out));
    const kept = await certs(['--out', out, '--kustomize']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /existing provenance keys kept/);
    assert.equal(key(await render(out)), first, 'a new key would unverify every change stamped so far');
  });

  it('writes an overlay that kubectl renders into a trusted, complete install', async () => {
    const out = freshDir();
    const res = await certs(['--out', out, '--kustomize']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`kubectl apply -k ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const caPem = await readFile(join(out, 'ca.crt'), 'utf8');
    const docs = await render(out);

    const secrets = docs.filter((d) => d.kind === 'Secret');
    assert.deepEqual(secrets.map((s) => s.metadata.name).sort(), ['tracegate-provenance-key', 'tracegate-tls']);
    const secret = secrets.find((s) => s.metadata.name === 'tracegate-tls')!;
    // The MAC key the gate and the recorder share: made once, kept on renewal, mounted by both.
    const keySecret = secrets.find((s) => s.metadata.name === 'tracegate-provenance-key')!;
    assert.deepEqual(Object.keys(keySecret.data).sort(), ['current', 'k1.key']);
    assert.equal(decode(keySecret.data['current']).trim(), 'k1');
    assert.equal(Buffer.from(decode(keySecret.data['k1.key']).trim(), 'base64').length, 32);
    for (const d of docs.filter((x) => x.kind === 'Deployment')) {
      assert.ok((d.spec.template.spec.volumes as Obj[]).some((v) => v.secret?.secretName === 'tracegate-provenance-key'), `${d.metadata.name} mounts the provenance key`);
    }
    assert.equal(secret.metadata.name, 'tracegate-tls', 'no name-suffix hash');
    assert.equal(secret.metadata.namespace, 'tracegate');
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'the CA certificate (for --tls-ca), never the CA key');
    assert.equal(decode(secret.data['ca.crt']), caPem);
    const certPem = decode(secret.data['tls.crt']);
    const keyPem = decode(secret.data['tls.key']);
    assert.equal(certPem, await readFile(join(out, 'tls.crt'), 'utf8'));

    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const volumes = deployment.spec.template.spec.volumes as Obj[];
    assert.ok(volumes.some((v) => v.secret?.secretName === secret.metadata.name), 'the Deployment mounts the generated Secret');

    const configs = docs.filter((d) => d.kind === 'MutatingWebhookConfiguration' || d.kind === 'ValidatingWebhookConfiguration');
    assert.deepEqual(configs.map((c) => c.kind).sort(), ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    for (const config of configs) {
      for (const hook of config.webhooks as Obj[]) {
        const bundle = hook.clientConfig.caBundle as string;
        assert.equal(bundle, caBundleBase64(caPem), `${hook.name} carries the CA`);
        const pair = verifyServingPair({ caPem: decode(bundle), certPem, keyPem });
        assert.ok(pair.ok, `${hook.name}: ${pair.ok ? '' : pair.error}`);
        const svc = hook.clientConfig.service;
        assert.ok(pair.value.dnsNames.includes(`${svc.name}.${svc.namespace}.svc`), `the certificate names the Service ${hook.name} calls`);
      }
    }

    // Renewal: the overlay is rewritten, the caBundle stays the same, the Secret gets the new cert.
    const again = await certs(['--out', out, '--kustomize']);
    assert.equal(again.code, 0, again.stderr);
    const renewed = await render(out);
    const hooks = renewed.filter((d) => d.kind.endsWith('WebhookConfiguration')).flatMap((c) => c.webhooks as Obj[]);
    assert.ok(hooks.length >= 2 && hooks.every((h) => h.clientConfig.caBundle === caBundleBase64(caPem)));
    const tls = renewed.find((d) => d.kind === 'Secret' && d.metadata.name === 'tracegate-tls')!;
    const newCert = decode(tls.data['tls.crt']);
    assert.notEqual(newCert, certPem);
    assert.ok(verifyServingPair({ caPem, certPem: newCert, keyPem: decode(tls.data['tls.key']) }).ok);
  });

  it('takes the Service from other manifests and patches every webhook there', async () => {
    const base = join(scratch, 'other-manifests');
    await mkdir(base, { recursive: true });
    await writeFile(join(base, 'kustomization.yaml'), 'resources:\n  - hooks.yaml\n');
    const hookYaml = (name: string) => `  - name: ${name}
    admissionReviewVersions: ["v1"]
    sideEffects: None
    clientConfig:
      service: { name: gate, namespace: policy, path: /validate }
    rules: [{ apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments"], operations: ["CREATE"] }]
`;
    await writeFile(
      join(base, 'hooks.yaml'),
      `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: other\nwebhooks:\n${hookYaml('a.example.com')}${hookYaml('b.example.com')}`,
    );
    const out = freshDir();
    const res = await certs(['--out', out, '--kustomize', '--manifests', base]);
    assert.equal(res.code, 0, res.stderr);
    const info = inspectCert(await readFile(join(out, 'tls.crt'), 'utf8'));
    assert.ok(info.ok);
    assert.deepEqual(info.value.dnsNames, serviceDnsNames('gate', 'policy'));
    const docs = await render(out);
    const caBundle = caBundleBase64(await readFile(join(out, 'ca.crt'), 'utf8'));
    const hooks = docs.find((d) => d.kind === 'ValidatingWebhookConfiguration')!.webhooks as Obj[];
    assert.deepEqual(hooks.map((h) => [h.name, h.clientConfig.caBundle]), [['a.example.com', caBundle], ['b.example.com', caBundle]]);
    assert.equal(docs.find((d) => d.kind === 'Secret')!.metadata.namespace, 'policy');

    const clash = await certs(['--out', freshDir(), '--kustomize', '--manifests', base, '--namespace', 'tracegate']);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /call Service policy\/gate, not tracegate\/gate/);
  });
});

describe('tracegate certs: bad usage', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--bogus'], /Unknown option '--bogus'/],
    ['a positional argument', ['extra'], /Unexpected argument 'extra'|does not take positional arguments/],
    ['zero days', ['--days', '0'], /--days must be a whole number of days/],
    ['non-numeric days', ['--ca-days', 'ten'], /--ca-days must be a whole number of days/],
    ['a certificate outliving its CA', ['--days', '400', '--ca-days', '100'], /--days \(400\) is longer than --ca-days \(100\)/],
    ['an invalid Service name', ['--service', 'Bad_Name'], /--service "Bad_Name" is not a valid name/],
    ['an invalid cluster domain', ['--cluster-domain', 'a..b'], /--cluster-domain "a..b" is not a DNS domain/],
    ['--manifests without --kustomize', ['--manifests', 'manifests'], /--manifests only applies with --kustomize/],
    ['missing manifests', ['--kustomize', '--manifests', '/nonexistent/tracegate-manifests'], /\/nonexistent\/tracegate-manifests cannot be read/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what} with exit 2, a clear message and no files`, async () => {
      const out = freshDir();
      const res = await certs([...args, '--out', out]);
      assert.equal(res.code, 2, res.stdout);
      assert.match(res.stderr, message);
      assert.match(res.stderr, /^tracegate certs: /);
      await assert.rejects(stat(out), { code: 'ENOENT' });
    });
  }

  it('never replaces a kustomization.yaml it did not write', async () => {
    const out = freshDir();
    await mkdir(out);
    await writeFile(join(out, 'kustomization.yaml'), 'resources: [mine.yaml]\n');
    const res = await certs(['--out', out, '--kustomize']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /was not written by tracegate certs/);
    assert.equal(await readFile(join(out, 'kustomization.yaml'), 'utf8'), 'resources: [mine.yaml]\n');
    assert.deepEqual(await readdir(out), ['kustomization.yaml'], 'no certificates written either');
  });

  it('prints its help, and the CLI lists the command', async () => {
    const help = await certs(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: tracegate certs/);
    assert.match(help.stdout, /--kustomize/);
    const { io, out } = fakeIo(repoRoot);
    assert.equal(await run(['--help'], io), 0);
    assert.match(out(), /^ {2}certs /m);
  });
});
