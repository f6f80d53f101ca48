/**
 * Kubeconfig behaviour for every command (src/kube/load-kubeconfig.ts + kubectl-compat.ts: the gate,
 * the recorder and the CLI all load through it), judged by the real kubectl: for each kubeconfig, what
 * an echo server sees from `kubectl get --raw` and from a client-node call is compared — credentials
 * (token, tokenFile, exec plugin, client certificate, basic auth), impersonation, multi-file KUBECONFIG
 * with a missing file, --kubeconfig relative to cwd, proxy-url, TLS server name and path prefix, and
 * plain http:// (no credentials). Then what kubectl cannot be asked about: the pod's ServiceAccount
 * from an injected directory, and the errors.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { issueCa, issueServingCert } from '../../src/certs/index.js';
import { isTracegateError } from '../../src/errors.js';
import { loadKubeconfig, type KubeconfigSource } from '../../src/kube/load-kubeconfig.js';
import { ensureRealTools, runTool, type RealTools } from '../support/tools.js';

const ca = issueCa({ commonName: 'kubeconfig-test-ca' });
const caB64 = Buffer.from(ca.certPem).toString('base64');
/** The echo server's certificate names only api.internal: reaching 127.0.0.1 verifies only through tls-server-name. */
const serving = issueServingCert({ ca, dnsNames: ['api.internal'] });
/** What a pod meets: a certificate for the address the Service variables give. */
const servingByIp = issueServingCert({ ca, dnsNames: ['kubernetes.default.svc'], ipAddresses: ['127.0.0.1'] });
const clientCert = issueServingCert({ ca, dnsNames: ['tracegate-client'] });
const NAMESPACE_LIST = JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });

/** What the API server saw of one request. */
interface Seen {
  path: string;
  authorization: string | null;
  impersonateUser: string | null;
  impersonateGroups: string[];
  /** CN of the client certificate, over https. */
  client: string | null;
}

interface Echo {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return (server.address() as AddressInfo).port;
}

function echoHandler(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as Partial<TLSSocket>;
    const peer = socket.getPeerCertificate?.();
    seen.push({
      path: req.url ?? '',
      authorization: req.headers.authorization ?? null,
      impersonateUser: req.headersDistinct['impersonate-user']?.join('|') ?? null,
      impersonateGroups: req.headersDistinct['impersonate-group'] ?? [],
      client: peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : null,
    });
    res.setHeader('content-type', 'application/json');
    res.end(NAMESPACE_LIST);
  };
}

async function startEcho(https: boolean, cert = serving): Promise<Echo> {
  const seen: Seen[] = [];
  const server = https
    ? createHttpsServer({ cert: cert.certPem, key: cert.keyPem, requestCert: true, rejectUnauthorized: false }, echoHandler(seen))
    : createHttpServer(echoHandler(seen));
  const port = await listen(server);
  return {
    url: `${https ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** An HTTP CONNECT proxy that records where it tunnelled to. */
async function startProxy(): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<Duplex>();
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    // Either side closing closes the tunnel, so the proxy can shut down.
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    sockets.add(client);
  });
  const port = await listen(server);
  const close = () =>
    new Promise<void>((ok) => {
      // Tunnels are detached from the HTTP server: close them, or close() waits for them.
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    });
  return { url: `http://127.0.0.1:${port}`, tunnels, close };
}

let dir: string;
let n = 0;
let tools: RealTools;
let tls: Echo;
let plain: Echo;
let inPod: Echo;
let proxy: Awaited<ReturnType<typeof startProxy>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-kubeconfig-'));
  [tools, tls, plain, inPod, proxy] = await Promise.all([ensureRealTools(), startEcho(true), startEcho(false), startEcho(true, servingByIp), startProxy()]);
});
after(async () => {
  await Promise.all([tls?.close(), plain?.close(), inPod?.close(), proxy?.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function caseDir(): Promise<string> {
  const d = join(dir, `case-${++n}`);
  await mkdir(d, { recursive: true });
  return d;
}

/** A one-context kubeconfig for the TLS echo server (CA and tls-server-name set) unless `cluster` replaces fields. */
function doc(user: Record<string, unknown> | undefined, cluster: Record<string, unknown> = {}, name = 'ctx'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: `c-${name}`, cluster: { server: tls.url, 'certificate-authority-data': caB64, 'tls-server-name': 'api.internal', ...cluster } }],
    users: user === undefined ? [] : [{ name: `u-${name}`, user }],
    contexts: [{ name, context: { cluster: `c-${name}`, ...(user === undefined ? {} : { user: `u-${name}` }) } }],
    'current-context': name,
  };
}

async function write(d: string, name: string, content: Record<string, unknown> | string): Promise<string> {
  const file = join(d, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
  return file;
}

/** A shell script credential plugin printing an ExecCredential with `token`. */
async function plugin(d: string, token: string): Promise<string> {
  const file = join(d, 'credential-plugin.sh');
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } });
  await writeFile(file, `#!/bin/sh\nprintf '%s' '${credential}'\n`);
  await chmod(file, 0o755);
  return file;
}

/** What the echo server saw from `kubectl get --raw /api/v1/namespaces`. */
async function viaKubectl(echo: Echo, args: string[], env: Record<string, string> = {}): Promise<Seen> {
  const before = echo.seen.length;
  const r = await runTool(tools.kubectl, ['get', '--raw', '/api/v1/namespaces', ...args], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(echo.seen.length, before + 1, 'kubectl made one request');
  return echo.seen.at(-1)!;
}

/** What the echo server saw from client-node's listNamespace with the kubeconfig tracegate loads. */
async function viaTracegate(echo: Echo, source: Partial<KubeconfigSource>): Promise<Seen> {
  const before = echo.seen.length;
  const kc = loadKubeconfig({ env: {}, cwd: dir, home: join(dir, 'no-home'), serviceAccountDir: join(dir, 'no-sa'), ...source });
  await kc.makeApiClient(CoreV1Api).listNamespace();
  assert.equal(echo.seen.length, before + 1, 'one request');
  return echo.seen.at(-1)!;
}

/** Both see the same; returns it. */
async function sameAsKubectl(file: string, echo: Echo = tls): Promise<Seen> {
  const theirs = await viaKubectl(echo, ['--kubeconfig', file]);
  const ours = await viaTracegate(echo, { file });
  assert.deepEqual(ours, theirs);
  return ours;
}

describe('kubeconfig users, as kubectl sends them', { timeout: 120_000 }, () => {
  it('a token, with the CA, tls-server-name and the server path prefix', async () => {
    const d = await caseDir();
    const seen = await sameAsKubectl(await write(d, 'config', doc({ token: 't0k3n' }, { server: `${tls.url}/prefix` })));
    assert.equal(seen.authorization, 'Bearer t0k3n');
    assert.equal(seen.path, '/prefix/api/v1/namespaces');
    const unnamed = await write(d, 'unnamed', doc({ token: 't0k3n' }, { 'tls-server-name': null }));
    await assert.rejects(viaTracegate(tls, { file: unnamed }), /IP: 127\.0\.0\.1 is not in the cert's list/, 'without tls-server-name the name check fails');
  });

  it('tokenFile (kubectl’s field): trimmed, winning over an inline token, read again on every request', async () => {
    const d = await caseDir();
    await writeFile(join(d, 'token'), 'from-file\n');
    const file = await write(d, 'config', doc({ tokenFile: 'token', token: 'inline' }));
    assert.equal((await sameAsKubectl(file)).authorization, 'Bearer from-file');
    const kc = loadKubeconfig({ file, env: {}, cwd: dir });
    const core = kc.makeApiClient(CoreV1Api);
    await writeFile(join(d, 'token'), 'rotated');
    await core.listNamespace();
    assert.equal(tls.seen.at(-1)?.authorization, 'Bearer rotated', 'the same client picks up a rotated token');
  });

  it('an exec credential plugin, its relative command resolved against the kubeconfig directory', async () => {
    const d = await caseDir();
    await plugin(d, 'from-the-plugin');
    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: './credential-plugin.sh', interactiveMode: 'Never' };
    const seen = await sameAsKubectl(await write(d, 'config', doc({ exec })));
    assert.equal(seen.authorization, 'Bearer from-the-plugin');
  });

  it('a client certificate from files, and basic auth', async () => {
    const d = await caseDir();
    await writeFile(join(d, 'client.crt'), clientCert.certPem);
    await writeFile(join(d, 'client.key'), clientCert.keyPem);
    const cert = await sameAsKubectl(await write(d, 'cert', doc({ 'client-certificate': 'client.crt', 'client-key': 'client.key' })));
    assert.equal(cert.client, 'tracegate-client');
    assert.equal(cert.authorization, null);
    const basic = await sameAsKubectl(await write(d, 'basic', doc({ username: 'admin', password: 's3cret' })));
    assert.equal(basic.authorization, `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
  });

  it('impersonation of a user name', async () => {
    const d = await caseDir();
    const seen = await sameAsKubectl(await write(d, 'config', doc({ token: 't', as: 'bob' })));
    assert.equal(seen.impersonateUser, 'bob');
  });

  it('refuses as-groups and as-uid, which kubectl sends and client-node cannot', async () => {
    const d = await caseDir();
    const file = await write(d, 'config', doc({ token: 't', as: 'bob', 'as-groups': ['dev', 'ops'] }));
    const theirs = await viaKubectl(tls, ['--kubeconfig', file]);
    assert.deepEqual(theirs.impersonateGroups, ['dev', 'ops'], 'kubectl sends each group as its own header');
    assert.throws(() => loadKubeconfig({ file, env: {}, cwd: dir }), (e: unknown) => isTracegateError(e, 'KUBE_API') && /user "u-ctx" of the kubeconfig sets as-groups: .*can impersonate only a user name/.test(e.message));
    const uid = await write(d, 'uid', doc({ token: 't', as: 'bob', 'as-uid': '42' }));
    assert.throws(() => loadKubeconfig({ file: uid, env: {}, cwd: dir }), /sets as-uid/);
  });

  it('through a proxy-url (HTTP CONNECT), verifying the API server end to end', async () => {
    const d = await caseDir();
    const before = proxy.tunnels.length;
    const seen = await sameAsKubectl(await write(d, 'config', doc({ token: 'via-proxy' }, { 'proxy-url': proxy.url })));
    assert.equal(seen.authorization, 'Bearer via-proxy');
    const port = new URL(tls.url).port;
    assert.deepEqual(proxy.tunnels.slice(before), [`127.0.0.1:${port}`, `127.0.0.1:${port}`], 'kubectl and tracegate both tunnelled');
  });

  it('sends no credentials to a plain http:// server, keeping impersonation, as kubectl', async () => {
    const d = await caseDir();
    await plugin(d, 'never-sent');
    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: './credential-plugin.sh', interactiveMode: 'Never' };
    const token = await sameAsKubectl(await write(d, 'token', doc({ token: 'secret', as: 'bob' }, { server: plain.url, 'certificate-authority-data': null, 'tls-server-name': null })), plain);
    assert.equal(token.authorization, null);
    assert.equal(token.impersonateUser, 'bob');
    const viaExec = await sameAsKubectl(await write(d, 'exec', doc({ exec }, { server: plain.url, 'certificate-authority-data': null, 'tls-server-name': null })), plain);
    assert.equal(viaExec.authorization, null);
  });

  it('(client-node alone refuses a plain http:// cluster, which is why the rule above exists)', async () => {
    const d = await caseDir();
    const kc = new KubeConfig();
    kc.loadFromFile(await write(d, 'config', doc({ token: 't' }, { server: plain.url, 'certificate-authority-data': null, 'tls-server-name': null })));
    await assert.rejects(kc.makeApiClient(CoreV1Api).listNamespace(), /HTTP protocol is not allowed when skipTLSVerify is not set or false/);
  });
});

describe('which kubeconfig, as kubectl picks it', { timeout: 120_000 }, () => {
  it('merges KUBECONFIG, skipping a missing file; the first file to set a value wins', async () => {
    const d = await caseDir();
    // The first file sets the context and user u-first; the second defines the cluster, a rival user of the same name and its own context.
    const first = await write(d, 'first', { 'current-context': 'first', contexts: [{ name: 'first', context: { cluster: 'c-second', user: 'u-first' } }], users: [{ name: 'u-first', user: { token: 'from-first' } }] });
    const second = doc({ token: 'from-second' }, {}, 'second');
    (second['users'] as unknown[]).push({ name: 'u-first', user: { token: 'rival' } });
    const secondFile = await write(d, 'second', second);
    const env = { KUBECONFIG: [join(d, 'missing'), first, secondFile].join(delimiter) };
    const theirs = await viaKubectl(tls, [], env);
    const ours = await viaTracegate(tls, { env });
    assert.deepEqual(ours, theirs);
    assert.equal(ours.authorization, 'Bearer from-first');
  });

  it('takes --kubeconfig relative to the working directory, over KUBECONFIG', async () => {
    const d = await caseDir();
    await write(d, 'flag', doc({ token: 'from-flag' }));
    const env = { KUBECONFIG: await write(d, 'env', doc({ token: 'from-env' })) };
    assert.equal((await viaTracegate(tls, { file: 'flag', cwd: d, env })).authorization, 'Bearer from-flag');
  });

  it('uses ~/.kube/config before the ServiceAccount', async () => {
    const home = await caseDir();
    await mkdir(join(home, '.kube'));
    await write(join(home, '.kube'), 'config', doc({ token: 'from-home' }));
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' };
    assert.equal((await viaTracegate(tls, { home, env })).authorization, 'Bearer from-home');
  });
});

describe("the pod's ServiceAccount", { timeout: 60_000 }, () => {
  it('uses the Service address, the mounted CA and the token, read again on every request', async () => {
    const sa = await caseDir();
    await writeFile(join(sa, 'token'), 'token-1\n');
    await writeFile(join(sa, 'ca.crt'), ca.certPem);
    const port = new URL(inPod.url).port;
    const kc = loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, cwd: dir, home: sa, serviceAccountDir: sa });
    assert.equal(kc.getCurrentCluster()?.server, `https://127.0.0.1:${port}`);
    const core = kc.makeApiClient(CoreV1Api);
    await core.listNamespace();
    assert.equal(inPod.seen.at(-1)?.authorization, 'Bearer token-1');
    await writeFile(join(sa, 'token'), 'token-2');
    await core.listNamespace();
    assert.equal(inPod.seen.at(-1)?.authorization, 'Bearer token-2', 'a rotated token is picked up');
  });

  it('puts an IPv6 service host in brackets and reads the namespace file', async () => {
    const sa = await caseDir();
    await writeFile(join(sa, 'token'), 't');
    await writeFile(join(sa, 'ca.crt'), ca.certPem);
    await writeFile(join(sa, 'namespace'), 'tracegate\n');
    const kc = loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }, cwd: dir, home: sa, serviceAccountDir: sa });
    assert.equal(kc.getCurrentCluster()?.server, 'https://[fd00:10:96::1]:443');
    assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'tracegate');
  });

  it('names the missing token, and says when there is no configuration at all', async () => {
    const sa = await caseDir();
    await writeFile(join(sa, 'ca.crt'), ca.certPem);
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.throws(() => loadKubeconfig({ env, cwd: dir, home: sa, serviceAccountDir: sa }), new RegExp(`cannot read ${join(sa, 'token')} \\(tokenFile of user "in-cluster"\\): ENOENT`));
    assert.throws(() => loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, cwd: dir, home: sa, serviceAccountDir: sa }), /no kubeconfig found .*not running in a pod/);
  });
});

describe('errors at load, naming the file', () => {
  it('for a certificate authority, client key or token file that cannot be read', async () => {
    const d = await caseDir();
    const missingCa = await write(d, 'ca', doc({ token: 't' }, { 'certificate-authority-data': null, 'certificate-authority': 'nope/ca.pem' }));
    assert.throws(() => loadKubeconfig({ file: missingCa, env: {}, cwd: dir }), (e: unknown) => isTracegateError(e, 'KUBE_API') && e.message === `cannot read ${join(d, 'nope', 'ca.pem')} (certificate-authority of cluster "c-ctx"): ENOENT`);
    const missingKey = await write(d, 'key', doc({ 'client-certificate-data': caB64, 'client-key': 'k.pem' }));
    assert.throws(() => loadKubeconfig({ file: missingKey, env: {}, cwd: dir }), /\(client-key of user "u-ctx"\): ENOENT/);
    const missingToken = await write(d, 'token', doc({ tokenFile: 'tok' }));
    assert.throws(() => loadKubeconfig({ file: missingToken, env: {}, cwd: dir }), /\(tokenFile of user "u-ctx"\): ENOENT/);
  });
});
