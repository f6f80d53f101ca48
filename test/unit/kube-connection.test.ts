/**
 * The gate's own way to the API server (src/kube): kubeconfig parsing and merging, the request settings
 * built from every supported field, the in-cluster ServiceAccount from an injected directory, the order
 * in which sources are tried, the lazy client-node fallback for an `exec` user, and — in a child
 * process that refuses to resolve @kubernetes/client-node — that the `serve` path never imports it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { issueCa, issueServingCert } from '../../src/certs/index.js';
import { isTracegateError } from '../../src/errors.js';
import { importClientNode, type ClientNodeImporter } from '../../src/kube/client-node-fallback.js';
import { loadKubeConnection, type KubeConnection } from '../../src/kube/connection.js';
import { inClusterServer } from '../../src/kube/in-cluster.js';
import { mergeKubeconfigs, parseKubeconfig, resolveCurrentContext, type Kubeconfig } from '../../src/kube/kubeconfig.js';
import { kubeGet, readText } from '../../src/kube/request.js';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A hang guard for the child processes, not a speed check. */
const CHILD_TIMEOUT_MS = 60_000;

let dir: string;
let n = 0;
const ca = issueCa({ commonName: 'kube-connection-test-ca' });
const caB64 = Buffer.from(ca.certPem).toString('base64');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-kube-connection-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh directory for one case. */
async function caseDir(): Promise<string> {
  const d = join(dir, `case-${++n}`);
  await mkdir(d, { recursive: true });
  return d;
}

/** A one-context kubeconfig document. */
function kubeconfigDoc(cluster: Record<string, unknown>, user: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: user === undefined ? [] : [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', ...(user === undefined ? {} : { user: 'u' }) } }],
    'current-context': 'ctx',
    ...extra,
  };
}

async function writeKubeconfig(d: string, doc: Record<string, unknown> | string, name = 'config'): Promise<string> {
  const file = join(d, name);
  await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

function parsed(text: string, file = '/home/me/.kube/config'): Kubeconfig {
  const r = parseKubeconfig(text, file);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

async function configError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail('expected a configuration error'),
    (e: unknown) => e,
  );
  assert.ok(isTracegateError(err, 'CONFIG_INVALID'), String(err));
  return err.message;
}

describe('parseKubeconfig', () => {
  it('reads every cluster and user field, resolving relative paths against the kubeconfig directory', () => {
    const kc = parsed(
      `apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: dev
    cluster:
      server: https://api.dev.example:6443
      certificate-authority: certs/ca.pem
      insecure-skip-tls-verify: false
      tls-server-name: api.internal
  - name: inline
    cluster: { server: https://10.0.0.1, certificate-authority-data: ${caB64}, insecure-skip-tls-verify: true, proxy-url: http://proxy:3128 }
users:
  - name: alice
    user:
      tokenFile: ../tokens/alice
      client-certificate: alice.crt
      client-key: /abs/alice.key
      as: bob
      as-groups: [dev, ops]
      as-uid: "42"
  - name: inline
    user: { token: t0k3n, client-certificate-data: ${caB64}, client-key-data: ${caB64}, username: u, password: p }
  - name: legacy
    user: { token-file: legacy-token }
  - name: plugin
    user: { exec: { command: ./bin/credential-helper, args: [get] } }
  - name: path-plugin
    user: { exec: { command: gke-gcloud-auth-plugin } }
contexts:
  - name: dev
    context: { cluster: dev, user: alice, namespace: team-a }
`,
      '/home/me/.kube/config',
    );
    assert.deepEqual(kc.currentContext, { name: 'dev', file: '/home/me/.kube/config' });
    assert.deepEqual(kc.clusters.get('dev')?.value, {
      server: 'https://api.dev.example:6443',
      certificateAuthority: '/home/me/.kube/certs/ca.pem',
      certificateAuthorityData: undefined,
      insecureSkipTlsVerify: false,
      tlsServerName: 'api.internal',
      proxyUrl: undefined,
    });
    const inline = kc.clusters.get('inline')?.value;
    assert.equal(inline?.certificateAuthorityData, caB64);
    assert.equal(inline?.insecureSkipTlsVerify, true);
    assert.equal(inline?.proxyUrl, 'http://proxy:3128');
    const alice = kc.users.get('alice')?.value;
    assert.equal(alice?.tokenFile, '/home/me/tokens/alice');
    assert.equal(alice?.clientCertificate, '/home/me/.kube/alice.crt');
    assert.equal(alice?.clientKey, '/abs/alice.key');
    assert.equal(alice?.as, 'bob');
    assert.deepEqual(alice?.asGroups, ['dev', 'ops']);
    assert.equal(alice?.asUid, '42');
    const u = kc.users.get('inline')?.value;
    assert.equal(u?.token, 't0k3n');
    assert.equal(u?.clientCertificateData, caB64);
    assert.equal(u?.clientKeyData, caB64);
    assert.equal(u?.username, 'u');
    assert.equal(u?.password, 'p');
    assert.equal(kc.users.get('legacy')?.value.tokenFile, '/home/me/.kube/legacy-token', "client-node's token-file spelling is read too");
    assert.equal(kc.users.get('plugin')?.value.exec?.['command'], '/home/me/.kube/bin/credential-helper', 'a relative command path resolves like kubectl');
    assert.equal(kc.users.get('path-plugin')?.value.exec?.['command'], 'gke-gcloud-auth-plugin', 'a bare command name is looked up in PATH');
    assert.deepEqual(kc.contexts.get('dev')?.value, { cluster: 'dev', user: 'alice', namespace: 'team-a' });
  });

  it('accepts JSON and an empty file', () => {
    assert.equal(parsed(JSON.stringify(kubeconfigDoc({ server: 'https://x' }, { token: 't' }))).users.get('u')?.value.token, 't');
    const empty = parsed('');
    assert.equal(empty.clusters.size, 0);
    assert.equal(empty.currentContext, undefined);
  });

  it('reports bad files with the file and the field, without throwing', () => {
    const cases: [string, RegExp][] = [
      ['clusters: [unclosed', /^\/k: not valid YAML/],
      ['- a list', /^\/k: not a kubeconfig/],
      ['clusters: {}', /^\/k: clusters must be a list/],
      ['clusters: [{ cluster: { server: https://x } }]', /clusters\[0\]\.name is missing/],
      ['clusters: [{ name: a, cluster: {} }]', /clusters\[0\] \("a"\)\.cluster\.server is missing/],
      ['clusters: [{ name: a, cluster: { server: "ftp://x" } }]', /clusters\[0\] \("a"\)\.cluster\.server is not an http\(s\) URL/],
      ['clusters: [{ name: a, cluster: { server: https://x, insecure-skip-tls-verify: "yes" } }]', /insecure-skip-tls-verify must be true or false/],
      ['clusters: [{ name: a, cluster: { server: https://x, certificate-authority-data: "not base64!" } }]', /certificate-authority-data is not base64/],
      ['users: [{ name: u, user: { token: [1] } }]', /users\[0\] \("u"\)\.user\.token must be a string/],
      ['users: [{ name: u, user: { as-groups: x } }]', /as-groups must be a list of strings/],
      ['users: [{ name: u, user: { exec: cmd } }]', /users\[0\] \("u"\)\.user\.exec must be a mapping/],
      ['contexts: [{ name: x, context: { user: u } }]', /contexts\[0\] \("x"\)\.context\.cluster is missing/],
      ['current-context: [a]', /current-context must be a string/],
    ];
    for (const [text, expected] of cases) {
      const r = parseKubeconfig(text, '/k');
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.error, expected, text);
    }
  });
});

describe('mergeKubeconfigs and resolveCurrentContext', () => {
  it('lets the first file set the current context and define each name, as KUBECONFIG does', () => {
    const a = parsed('current-context: one\nclusters: [{ name: c, cluster: { server: "https://a" } }]\nusers: [{ name: u, user: { token: from-a } }]', '/a');
    const b = parsed(
      'current-context: two\nclusters: [{ name: c, cluster: { server: "https://b" } }, { name: d, cluster: { server: "https://d" } }]\ncontexts: [{ name: one, context: { cluster: d, user: u } }]',
      '/b',
    );
    const merged = mergeKubeconfigs([a, b]);
    assert.deepEqual(merged.files, ['/a', '/b']);
    const r = resolveCurrentContext(merged);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.value.context.name, 'one');
    assert.equal(r.value.context.file, '/b');
    assert.equal(r.value.cluster.value.server, 'https://d');
    assert.equal(r.value.user.value.token, 'from-a');
    assert.equal(merged.clusters.get('c')?.value.server, 'https://a', 'the first definition of a name wins');
  });

  it('treats a context without a user as anonymous', () => {
    const r = resolveCurrentContext(parsed(JSON.stringify(kubeconfigDoc({ server: 'https://x' }, undefined))));
    assert.ok(r.ok);
    assert.deepEqual(r.value.user.value, {});
  });

  it('names the file and entry when the context cannot be resolved or the user is inconsistent', () => {
    const cases: [string, RegExp][] = [
      ['clusters: []', /^\/k: current-context is not set$/],
      ['current-context: x', /^\/k: current-context "x" names no entry in contexts$/],
      ['current-context: x\ncontexts: [{ name: x, context: { cluster: nope } }]', /^\/k: context "x" names cluster "nope", which is not in clusters$/],
      [
        'current-context: x\nclusters: [{ name: c, cluster: { server: "https://x" } }]\ncontexts: [{ name: x, context: { cluster: c, user: ghost } }]',
        /context "x" names user "ghost", which is not in users/,
      ],
      [`current-context: ctx\n${userYaml('{ client-certificate: a.crt }')}`, /user "u" has client-certificate without client-key/],
      [`current-context: ctx\n${userYaml('{ client-key-data: AAAA }')}`, /user "u" has client-key without client-certificate/],
      [`current-context: ctx\n${userYaml('{ token: t, username: a, password: b }')}`, /user "u" has both a token and a username\/password/],
    ];
    for (const [text, expected] of cases) {
      const r = resolveCurrentContext(parsed(text, '/k'));
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.error, expected, text);
    }
  });
});

function userYaml(user: string): string {
  return `clusters: [{ name: c, cluster: { server: "https://x" } }]\nusers: [{ name: u, user: ${user} }]\ncontexts: [{ name: ctx, context: { cluster: c, user: u } }]`;
}

/** `loadKubeConnection` with nothing of the machine's: no env, no home, no ServiceAccount. */
function load(deps: Partial<Parameters<typeof loadKubeConnection>[0]>): Promise<KubeConnection> {
  return loadKubeConnection({ env: {}, cwd: dir, serviceAccountDir: join(dir, 'no-service-account'), ...deps });
}

describe('kubeconfig connections', () => {
  it('builds TLS options and headers from a token, CA file, TLS server name and impersonation', async () => {
    const d = await caseDir();
    await mkdir(join(d, 'pki'));
    await writeFile(join(d, 'pki', 'ca.pem'), ca.certPem);
    const file = await writeKubeconfig(
      d,
      kubeconfigDoc({ server: 'https://api.example:6443/prefix/', 'certificate-authority': 'pki/ca.pem', 'tls-server-name': 'api.internal' }, { token: 't0k3n', as: 'bob', 'as-groups': ['dev', 'ops'], 'as-uid': '7' }),
    );
    const c = await load({ kubeconfig: file });
    assert.equal(c.server.href, 'https://api.example:6443/prefix/');
    assert.match(c.source, new RegExp(`^kubeconfig ${file}, context "ctx", https://api.example:6443$`));
    const s = await c.settings();
    assert.deepEqual(s.headers, { Authorization: 'Bearer t0k3n', 'Impersonate-User': 'bob', 'Impersonate-Group': ['dev', 'ops'], 'Impersonate-Uid': '7' });
    assert.equal(s.tls.ca?.toString(), ca.certPem);
    assert.equal(s.tls.servername, 'api.internal');
    assert.equal(s.tls.rejectUnauthorized, true);
    assert.equal(s.agent, undefined);
  });

  it('reads the token file again on every connect', async () => {
    const d = await caseDir();
    await writeFile(join(d, 'token'), 'first\n');
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'certificate-authority-data': caB64 }, { tokenFile: 'token', token: 'inline' })) });
    assert.equal((await c.settings()).headers['Authorization'], 'Bearer first', 'the token file wins over an inline token, trimmed');
    await writeFile(join(d, 'token'), 'second');
    assert.equal((await c.settings()).headers['Authorization'], 'Bearer second');
  });

  it('uses client certificates from files or inline data, inline data first', async () => {
    const d = await caseDir();
    await writeFile(join(d, 'client.crt'), 'CERT FROM FILE');
    await writeFile(join(d, 'client.key'), 'KEY FROM FILE');
    const fromFiles = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x' }, { 'client-certificate': 'client.crt', 'client-key': 'client.key' }), 'files') });
    let s = await fromFiles.settings();
    assert.equal(s.tls.cert?.toString(), 'CERT FROM FILE');
    assert.equal(s.tls.key?.toString(), 'KEY FROM FILE');
    assert.deepEqual(s.headers, {});
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    const inline = await load({
      kubeconfig: await writeKubeconfig(
        d,
        kubeconfigDoc({ server: 'https://x' }, { 'client-certificate': 'client.crt', 'client-certificate-data': b64('INLINE CERT'), 'client-key-data': b64('INLINE KEY') }),
        'inline',
      ),
    });
    s = await inline.settings();
    assert.equal(s.tls.cert?.toString(), 'INLINE CERT');
    assert.equal(s.tls.key?.toString(), 'INLINE KEY');
  });

  it('sends basic auth for a username and password', async () => {
    const d = await caseDir();
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x' }, { username: 'admin', password: 's3cret' })) });
    assert.equal((await c.settings()).headers['Authorization'], `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
  });

  it('skips verification and the CA for insecure-skip-tls-verify', async () => {
    const d = await caseDir();
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'insecure-skip-tls-verify': true, 'certificate-authority': 'missing.pem' }, { token: 't' })) });
    const s = await c.settings();
    assert.equal(s.tls.rejectUnauthorized, false);
    assert.equal(s.tls.ca, undefined);
  });

  it('sends no credentials to a plain-http server, as kubectl', async () => {
    const d = await caseDir();
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'http://127.0.0.1:8001' }, { token: 't', as: 'bob' })) });
    assert.deepEqual((await c.settings()).headers, {});
  });

  it('fails at load naming the file and field that cannot be read', async () => {
    const d = await caseDir();
    const missingCa = await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'certificate-authority': 'nope/ca.pem' }, { token: 't' }), 'ca');
    assert.match(await configError(load({ kubeconfig: missingCa })), new RegExp(`cannot read ${join(d, 'nope', 'ca.pem')} \\(certificate-authority of cluster "c" in ${missingCa}\\): ENOENT`));
    const missingKey = await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x' }, { 'client-certificate-data': caB64, 'client-key': 'k.pem' }), 'key');
    assert.match(await configError(load({ kubeconfig: missingKey })), /\(client-key of user "u" in .*\/key\): ENOENT/);
    const missingToken = await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x' }, { tokenFile: 'tok' }), 'token');
    assert.match(await configError(load({ kubeconfig: missingToken })), /\(tokenFile of user "u" in .*\/token\): ENOENT/);
    assert.match(await configError(load({ kubeconfig: join(d, 'absent') })), new RegExp(`cannot read ${join(d, 'absent')} \\(kubeconfig\\): ENOENT`));
    const bad = await writeKubeconfig(d, 'clusters: [{ name: c, cluster: {} }]', 'bad');
    assert.match(await configError(load({ kubeconfig: bad })), new RegExp(`^invalid kubeconfig ${bad}: clusters\\[0\\] \\("c"\\)\\.cluster\\.server is missing$`));
    const noContext = await writeKubeconfig(d, { clusters: [] }, 'empty');
    assert.match(await configError(load({ kubeconfig: noContext })), /current-context is not set/);
  });

  it('resolves --kubeconfig against cwd, and reads only that file', async () => {
    const d = await caseDir();
    await writeKubeconfig(d, kubeconfigDoc({ server: 'https://flag' }, { token: 't' }), 'flag');
    const env = { KUBECONFIG: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://env' }, { token: 't' }), 'env') };
    const c = await load({ kubeconfig: 'flag', cwd: d, env });
    assert.equal(c.server.origin, 'https://flag');
  });
});

describe('choosing the source', () => {
  async function homeWithConfig(server: string): Promise<string> {
    const home = await caseDir();
    await mkdir(join(home, '.kube'));
    await writeKubeconfig(join(home, '.kube'), kubeconfigDoc({ server }, { token: 't' }));
    return home;
  }

  async function serviceAccount(token: string): Promise<string> {
    const sa = await caseDir();
    await writeFile(join(sa, 'token'), token);
    await writeFile(join(sa, 'ca.crt'), ca.certPem);
    return sa;
  }

  it('merges the KUBECONFIG files that exist, skipping missing ones, before ~/.kube/config', async () => {
    const d = await caseDir();
    const first = await writeKubeconfig(d, { 'current-context': 'ctx', users: [{ name: 'u', user: { token: 'from-first' } }] }, 'first');
    const second = await writeKubeconfig(d, kubeconfigDoc({ server: 'https://second' }, { token: 'from-second' }, { 'current-context': 'other' }), 'second');
    const home = await homeWithConfig('https://home');
    const c = await load({ env: { KUBECONFIG: [join(d, 'missing'), first, 'second'].join(':') }, cwd: d, homeDir: home });
    assert.equal(c.server.origin, 'https://second');
    assert.equal((await c.settings()).headers['Authorization'], 'Bearer from-first');
    assert.match(c.source, new RegExp(`^kubeconfig ${first}, ${second}, context "ctx"`));
  });

  it('fails when no KUBECONFIG file exists, listing them', async () => {
    const d = await caseDir();
    assert.match(await configError(load({ env: { KUBECONFIG: `${join(d, 'a')}:${join(d, 'b')}` } })), new RegExp(`none of the files in KUBECONFIG exists: ${join(d, 'a')}, ${join(d, 'b')}`));
  });

  it('prefers ~/.kube/config over the ServiceAccount, and uses the ServiceAccount without one', async () => {
    const sa = await serviceAccount('sa-token');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const fromHome = await load({ env, homeDir: await homeWithConfig('https://home'), serviceAccountDir: sa });
    assert.equal(fromHome.server.origin, 'https://home');
    const inCluster = await load({ env, homeDir: await caseDir(), serviceAccountDir: sa });
    assert.equal(inCluster.server.href, 'https://10.96.0.1/');
    assert.match(inCluster.source, /^in-cluster ServiceAccount/);
  });

  it('fails clearly when there is nothing to use', async () => {
    assert.match(await configError(load({ homeDir: await caseDir() })), /no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG/);
  });
});

describe('in-cluster connections', () => {
  it('uses the Service address, the mounted CA and the token, re-read on every connect', async () => {
    const sa = await caseDir();
    await writeFile(join(sa, 'token'), 'token-1\n');
    await writeFile(join(sa, 'ca.crt'), ca.certPem);
    const c = await load({ env: { KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: sa });
    assert.equal(c.server.href, 'https://kubernetes.default.svc:6443/');
    let s = await c.settings();
    assert.deepEqual(s.headers, { Authorization: 'Bearer token-1' });
    assert.equal(s.tls.ca?.toString(), ca.certPem);
    assert.equal(s.tls.rejectUnauthorized, true);
    await writeFile(join(sa, 'token'), 'token-2\n');
    s = await c.settings();
    assert.deepEqual(s.headers, { Authorization: 'Bearer token-2' }, 'a rotated token is picked up');
  });

  it('puts an IPv6 service host in brackets', () => {
    assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' })?.href, 'https://[fd00:10:96::1]/');
    assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '8443' })?.href, 'https://10.96.0.1:8443/');
    assert.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }), undefined);
  });

  it('names the missing token or port', async () => {
    const sa = await caseDir();
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.match(await configError(load({ env, serviceAccountDir: sa })), new RegExp(`cannot read ${join(sa, 'token')} \\(in-cluster ServiceAccount token\\): ENOENT`));
    assert.match(await configError(load({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, serviceAccountDir: sa })), /KUBERNETES_SERVICE_PORT is not, or the two do not make a URL/);
  });
});

describe('requests over TLS', () => {
  let server: Server;
  let port: number;
  const client = issueServingCert({ ca, dnsNames: ['tracegate-client'] });

  before(async () => {
    // Only the name api.internal, no IP: reaching 127.0.0.1 verifies only through tls-server-name.
    const serving = issueServingCert({ ca, dnsNames: ['api.internal'] });
    server = createServer({ cert: serving.certPem, key: serving.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(JSON.stringify({ path: req.url, client: peer.subject?.CN ?? null, authorization: req.headers.authorization ?? null }));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  it('verifies the server with the CA and tls-server-name, presents the client certificate and keeps the path prefix', async () => {
    const d = await caseDir();
    await writeFile(join(d, 'client.crt'), client.certPem);
    await writeFile(join(d, 'client.key'), client.keyPem);
    const cluster = { server: `https://127.0.0.1:${port}/prefix`, 'certificate-authority-data': caB64, 'tls-server-name': 'api.internal' };
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc(cluster, { 'client-certificate': 'client.crt', 'client-key': 'client.key' })) });
    const res = await kubeGet(c, { path: '/api/v1/namespaces', query: { limit: '5', continue: undefined }, idleTimeoutMs: CHILD_TIMEOUT_MS });
    assert.deepEqual(JSON.parse(await readText(res, 1024, 'test')), { path: '/prefix/api/v1/namespaces?limit=5', client: 'tracegate-client', authorization: null });

    const { 'tls-server-name': _, ...withoutName } = cluster;
    const unnamed = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc(withoutName, { token: 't' }), 'unnamed') });
    await assert.rejects(kubeGet(unnamed, { path: '/', idleTimeoutMs: CHILD_TIMEOUT_MS }), /IP: 127\.0\.0\.1 is not in the cert's list/, 'without tls-server-name the name check fails');
  });
});

describe('the client-node fallback', () => {
  it('is loaded only for an exec user, and its plugin supplies the token', async () => {
    const d = await caseDir();
    const plugin = join(d, 'plugin.mjs');
    await writeFile(
      plugin,
      `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-the-plugin' } }));\n`,
    );
    let imports = 0;
    const importer: ClientNodeImporter = () => {
      imports++;
      return importClientNode();
    };
    const plain = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'certificate-authority-data': caB64 }, { token: 't' }), 'plain'), importClientNode: importer });
    await plain.settings();
    assert.equal(imports, 0, 'a token user needs no client-node');

    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' };
    const c = await load({ kubeconfig: await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'certificate-authority-data': caB64 }, { exec, as: 'bob' }), 'exec'), importClientNode: importer });
    assert.equal(imports, 1);
    assert.match(c.source, /\(through @kubernetes\/client-node\)$/);
    const s = await c.settings();
    assert.equal(s.headers['Authorization'], 'Bearer from-the-plugin');
    assert.equal(s.headers['Impersonate-User'], 'bob');
    assert.equal(s.tls.ca?.toString(), ca.certPem);
    assert.equal(s.tls.rejectUnauthorized, true);
  });
});

describe('the serve path without client-node', { timeout: CHILD_TIMEOUT_MS * 3 }, () => {
  /** Runs `node --import tsx` with a resolve hook that fails any import of @kubernetes/client-node. */
  async function withoutClientNode(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const d = await caseDir();
    await writeFile(
      join(d, 'hooks.mjs'),
      `export async function resolve(specifier, context, next) {
  if (specifier === '@kubernetes/client-node' || specifier.startsWith('@kubernetes/client-node/')) throw new Error('client-node imported from ' + context.parentURL);
  return next(specifier, context);
}\n`,
    );
    await writeFile(join(d, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
    try {
      const r = await run(process.execPath, ['--import', 'tsx', '--import', join(d, 'register.mjs'), ...args], { cwd: REPO_ROOT, timeout: CHILD_TIMEOUT_MS });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('runs `tracegate serve --help` and loads the gate with a kubeconfig connection', async () => {
    const serve = await withoutClientNode(['src/main.ts', 'serve', '--help']);
    assert.equal(serve.code, 0, serve.stderr);
    assert.match(serve.stdout, /^Usage: tracegate serve/);
    const d = await caseDir();
    const file = await writeKubeconfig(d, kubeconfigDoc({ server: 'https://x', 'certificate-authority-data': caB64 }, { token: 't' }));
    const script = `const g = await import('./src/server/gate.ts'); const k = await import('./src/kube/connection.ts');
const c = await k.loadKubeConnection({ kubeconfig: ${JSON.stringify(file)}, env: {}, cwd: '.' });
console.log(typeof g.startGate, (await c.settings()).headers.Authorization);`;
    const gate = await withoutClientNode(['--input-type=module', '-e', script]);
    assert.equal(gate.code, 0, gate.stderr);
    assert.equal(gate.stdout.trim(), 'function Bearer t');
  });

  it('still loads client-node for `tracegate history`, which needs it (the hook works)', async () => {
    const history = await withoutClientNode(['src/main.ts', 'history', '--help']);
    assert.notEqual(history.code, 0);
    assert.match(history.stderr, /client-node imported from/);
  });
});
