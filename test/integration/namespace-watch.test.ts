/**
 * The gate's namespace cache (src/tenancy/namespace-cache.ts on client-node's informer, through
 * src/kube/informer.ts) against the test Kubernetes API server: paginated first sync and readiness,
 * label changes, new and deleted namespaces, watches the server ends (re-watched without a relist) or
 * drops (restarted with backoff), bookmarks, `410 Gone` as an ERROR event and as an answer (relist),
 * retries of a failing first list, stop(); over HTTPS the pod's ServiceAccount with a rotated token, an
 * exec credential plugin and a proxy-url.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';
import { createLogger } from '../../src/log.js';
import { createNamespaceCache, type NamespaceCache } from '../../src/tenancy/namespace-cache.js';
import { startTestApiServer, type RequestLogEntry, type TestApiServer } from '../support/api-server/index.js';

/** A hang guard, not a speed check. */
const DEADLINE_MS = 30_000;
const POLL_MS = 20;
/** Above the cache's page size (500), so the first list takes two pages. */
const MANY_NAMESPACES = 520;
const TENANT = 'tracegate.io/tenant';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-namespace-watch-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function namespace(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

const isList = (r: RequestLogEntry) => r.method === 'GET' && r.path === '/api/v1/namespaces' && r.query['watch'] !== 'true';
const isWatch = (r: RequestLogEntry) => r.method === 'GET' && r.path === '/api/v1/namespaces' && r.query['watch'] === 'true';

/** A kubeconfig file loaded as the gate loads it, with nothing of the machine's. */
function load(file: string): KubeConfig {
  return loadKubeconfig({ file, env: {}, cwd: dir, home: join(dir, 'no-home') });
}

/** A cache with captured logs and a restart counter. */
function cacheFor(kubeConfig: KubeConfig) {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  let restarts = 0;
  const cache = createNamespaceCache({ kubeConfig, core: kubeConfig.makeApiClient(CoreV1Api), log, onRestart: () => restarts++ });
  return { cache, lines, restarts: () => restarts };
}

/** Waits until the cache shows `labels` for `name` (or its absence for `undefined`). */
async function sees(cache: NamespaceCache, name: string, labels: Record<string, string> | undefined): Promise<void> {
  await until(`${name} → ${JSON.stringify(labels)}`, () => {
    const got = cache.labels(name);
    if (labels === undefined) return got === undefined;
    return isDeepStrictEqual(got, { 'kubernetes.io/metadata.name': name, ...labels });
  });
}

describe('namespace cache over plain HTTP', { timeout: DEADLINE_MS * 6 }, () => {
  let api: TestApiServer;
  let kubeConfig: KubeConfig;
  let subject: ReturnType<typeof cacheFor>;
  let token: string;
  /** The store's resourceVersion when the first list ran. */
  let listedAt: string;

  before(async () => {
    api = await startTestApiServer({ controller: false });
    const file = await api.kubeconfig(await mkdtemp(join(dir, 'http-')), { user: 'system:serviceaccount:tracegate:tracegate' });
    token = api.token('system:serviceaccount:tracegate:tracegate', []);
    for (let i = 0; i < MANY_NAMESPACES; i++) api.store.put(namespace(`ns-${String(i).padStart(3, '0')}`, i % 2 === 0 ? { [TENANT]: `t${i}` } : {}));
    kubeConfig = load(file);
    subject = cacheFor(kubeConfig);
  });
  after(async () => {
    await subject?.cache.stop().catch(() => undefined);
    await api?.close();
  });

  it('is ready after the first complete, paginated list, and holds labels by name', async () => {
    const { cache } = subject;
    assert.equal(cache.ready(), false);
    listedAt = api.store.resourceVersion();
    await cache.start();
    assert.equal(cache.ready(), true);
    assert.deepEqual(cache.labels('ns-000'), { 'kubernetes.io/metadata.name': 'ns-000', [TENANT]: 't0' });
    assert.deepEqual(cache.labels(`ns-${MANY_NAMESPACES - 2}`), { 'kubernetes.io/metadata.name': `ns-${MANY_NAMESPACES - 2}`, [TENANT]: `t${MANY_NAMESPACES - 2}` });
    assert.deepEqual(cache.labels('ns-001'), { 'kubernetes.io/metadata.name': 'ns-001' });
    assert.ok(cache.labels('default'), 'the built-in namespaces are listed too');
    assert.equal(cache.labels('nope'), undefined);
    const lists = api.requests.filter(isList);
    assert.equal(lists.length, 2, 'two pages');
    assert.equal(lists[0]?.query['limit'], '500');
    assert.ok(lists[1]?.query['continue'], 'the second page continues the first');
    await until('an open watch', () => api.sendBookmarks() > 0);
  });

  it('watches from the list resourceVersion with bookmarks and a timeout, and follows label changes, new and deleted namespaces', async () => {
    const { cache } = subject;
    api.store.put(namespace('ns-001', { [TENANT]: 'relabelled' }));
    await sees(cache, 'ns-001', { [TENANT]: 'relabelled' });
    api.store.put(namespace('brand-new', { [TENANT]: 'new' }));
    await sees(cache, 'brand-new', { [TENANT]: 'new' });
    assert.ok(api.store.delete('namespaces', '', 'brand-new'));
    await sees(cache, 'brand-new', undefined);
    assert.equal(api.requests.filter(isList).length, 2, 'changes arrive through the watch, not new lists');
    // The watch is still open, so it is not in the request log yet: its parameters show once it is dropped.
    api.faults.dropWatches();
    const watch = await until('the first watch in the log', () => api.requests.find(isWatch));
    assert.equal(watch.query['allowWatchBookmarks'], 'true');
    assert.equal(watch.query['resourceVersion'], listedAt, "the watch starts at the list's resourceVersion");
    assert.ok(Number(watch.query['timeoutSeconds']) >= 300, 'a server-side timeout of 5–10 minutes, as client-go asks');
  });

  it('re-watches from its resourceVersion when the server ends the watch, without a relist or a restart', async () => {
    const { cache } = subject;
    // An event on the current watch first, so its clean end is an ordinary one (not a "very short watch").
    await until('an open watch', () => api.sendBookmarks() > 0);
    api.store.put(namespace('before-end', { [TENANT]: 'a' }));
    await sees(cache, 'before-end', { [TENANT]: 'a' });
    const lists = api.requests.filter(isList).length;
    const restarts = subject.restarts();
    const watches = api.requests.filter(isWatch).length;
    const rv = api.store.resourceVersion();
    assert.equal(api.faults.dropWatches(), 1);
    api.store.put(namespace('after-end', { [TENANT]: 'b' }));
    await sees(cache, 'after-end', { [TENANT]: 'b' });
    assert.equal(api.requests.filter(isList).length, lists, 'no relist');
    assert.equal(subject.restarts(), restarts, 'a watch the server ends is no error');
    // The re-watch reaches the request log once it ends too.
    api.faults.dropWatches();
    const next = await until('the re-watch in the log', () => api.requests.filter(isWatch)[watches + 1]);
    assert.equal(next.query['resourceVersion'], rv, 'the re-watch starts from the last event seen');
  });

  it('keeps the resourceVersion of a bookmark', async () => {
    const { cache } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    api.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-a-namespace', namespace: 'default' } });
    const lists = api.requests.filter(isList).length;
    assert.equal(api.sendBookmarks(), 1);
    // Without the bookmark the cache would re-watch from before the ConfigMap: now too old, so 410 and a relist.
    api.faults.expireWatches();
    api.faults.dropWatches();
    api.store.put(namespace('after-bookmark', { [TENANT]: 'c' }));
    await sees(cache, 'after-bookmark', { [TENANT]: 'c' });
    assert.equal(api.requests.filter(isList).length, lists, 'the bookmark kept the watch resumable');
  });

  it('restarts with backoff after an abrupt drop and counts the restart', async () => {
    const { cache } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const restarts = subject.restarts();
    const lists = api.requests.filter(isList).length;
    assert.equal(api.faults.dropWatches({ abrupt: true }), 1);
    await until('the restart', () => subject.restarts() > restarts);
    api.store.put(namespace('after-drop', { [TENANT]: 'd' }));
    await sees(cache, 'after-drop', { [TENANT]: 'd' });
    assert.equal(api.requests.filter(isList).length, lists, 'the resourceVersion is still good: no relist');
    assert.equal(cache.ready(), true, 'readiness stays while the watch restarts');
    assert.ok(subject.lines.some((l) => l.includes('namespaces watch failed; restarting') && l.includes('"retryInMs":1000')));
  });

  it('restarts after an error answer to the watch', async () => {
    const { cache } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const restarts = subject.restarts();
    api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?.*watch=true/, status: 500, message: 'etcd is sad' });
    api.faults.dropWatches({ abrupt: true });
    await until('two restarts (the drop and the 500)', () => subject.restarts() >= restarts + 2);
    api.store.put(namespace('after-500', { [TENANT]: 'e' }));
    await sees(cache, 'after-500', { [TENANT]: 'e' });
    // client-node's Watch keeps only the status line of an error answer.
    assert.ok(subject.lines.some((l) => l.includes('watch namespaces failed (HTTP 500)')));
  });

  it('relists after a 410 ERROR event, keeping labels it had meanwhile', async () => {
    const { cache } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const lists = api.requests.filter(isList).length;
    // Advance the resourceVersion past the cache's without a namespace event, then compact.
    api.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'compaction', namespace: 'default' } });
    api.faults.expireWatches();
    api.faults.dropWatches();
    await until('a relist (two pages)', () => api.requests.filter(isList).length >= lists + 2);
    assert.deepEqual(cache.labels('ns-000'), { 'kubernetes.io/metadata.name': 'ns-000', [TENANT]: 't0' });
    api.store.put(namespace('after-410', { [TENANT]: 'f' }));
    await sees(cache, 'after-410', { [TENANT]: 'f' });
    assert.ok(subject.lines.some((l) => l.includes('namespaces watch expired (410 Gone); relisting')));
  });

  it('relists after a 410 answer to the watch request', async () => {
    const { cache } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    // Something must arrive on this watch first, else its end would be a "very short watch" error instead.
    api.store.put(namespace('before-410-answer', { [TENANT]: 'g' }));
    await sees(cache, 'before-410-answer', { [TENANT]: 'g' });
    const lists = api.requests.filter(isList).length;
    api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?.*watch=true/, status: 410, message: 'too old resource version' });
    api.faults.dropWatches();
    await until('a relist (two pages)', () => api.requests.filter(isList).length >= lists + 2);
    api.store.delete('namespaces', '', 'before-410-answer');
    await sees(cache, 'before-410-answer', undefined);
  });

  it('never logs the credentials', () => {
    const text = subject.lines.join('');
    assert.ok(text.length > 0);
    assert.equal(text.includes(token), false);
  });

  it('stops: the watch closes and start() of a stopped cache rejects', async () => {
    await until('an open watch', () => api.sendBookmarks() > 0);
    await subject.cache.stop();
    await until('the watch to close', () => api.sendBookmarks() === 0);
    const late = cacheFor(kubeConfig);
    await late.cache.stop();
    await assert.rejects(late.cache.start(), /stopped before its first sync/);
  });
});

describe('first sync under errors', { timeout: DEADLINE_MS * 2 }, () => {
  it('retries a failing first list with backoff and becomes ready afterwards', async () => {
    const api = await startTestApiServer({ controller: false });
    const subject = cacheFor(load(await api.kubeconfig(await mkdtemp(join(dir, 'retry-')))));
    try {
      api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?limit=/, status: 503, count: 2 });
      await subject.cache.start();
      assert.equal(subject.restarts(), 2);
      assert.equal(subject.cache.ready(), true);
      const retries = subject.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'namespaces watch failed; restarting');
      assert.deepEqual(retries.map((l) => l['retryInMs']), [1000, 2000], 'the delay doubles');
      assert.match(String(retries[0]?.['err']), /^list namespaces failed \(HTTP 503\)/);
    } finally {
      await subject.cache.stop();
      await api.close();
    }
  });

  it('rejects start() when stopped before the first sync', async () => {
    const api = await startTestApiServer({ controller: false });
    const subject = cacheFor(load(await api.kubeconfig(await mkdtemp(join(dir, 'early-stop-')))));
    try {
      api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?limit=/, status: 503, count: Infinity });
      const started = subject.cache.start();
      await until('the first failure', () => subject.restarts() > 0);
      await subject.cache.stop();
      await assert.rejects(started, /stopped before its first sync/);
      assert.equal(subject.cache.ready(), false);
    } finally {
      await api.close();
    }
  });
});

describe('namespace cache over HTTPS', { timeout: DEADLINE_MS * 4 }, () => {
  let api: TestApiServer;
  before(async () => {
    api = await startTestApiServer({ https: true, controller: false });
    api.store.put(namespace('secure', { [TENANT]: 'tls' }));
  });
  after(async () => {
    await api?.close();
  });

  /** A kubeconfig for the HTTPS server with `user` and extra cluster fields. */
  async function kubeconfigWith(d: string, user: Record<string, unknown>, cluster: Record<string, unknown> = {}): Promise<string> {
    const file = join(d, 'kubeconfig');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.caPem ?? '').toString('base64'), ...cluster } }],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'u' } }],
        'current-context': 'test',
      }),
    );
    return file;
  }

  it("uses the pod's ServiceAccount and picks up a rotated token on reconnect", async () => {
    const sa = await mkdtemp(join(dir, 'sa-'));
    await writeFile(join(sa, 'ca.crt'), api.caPem ?? '');
    await writeFile(join(sa, 'token'), api.token('system:serviceaccount:tracegate:old', []));
    const port = new URL(api.url).port;
    const kubeConfig = loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, cwd: dir, home: sa, serviceAccountDir: sa });
    const subject = cacheFor(kubeConfig);
    try {
      await subject.cache.start();
      assert.deepEqual(subject.cache.labels('secure'), { 'kubernetes.io/metadata.name': 'secure', [TENANT]: 'tls' });
      assert.ok(api.requests.some((r) => isList(r) && r.user === 'system:serviceaccount:tracegate:old'));
      await writeFile(join(sa, 'token'), api.token('system:serviceaccount:tracegate:new', []));
      api.faults.dropWatches({ abrupt: true });
      // Seen after the drop, so through the re-watch, which read the token file again.
      api.store.put(namespace('secure', { [TENANT]: 'rotated' }));
      await sees(subject.cache, 'secure', { [TENANT]: 'rotated' });
      api.faults.dropWatches();
      await until('the re-watch as the new identity', () => api.requests.some((r) => isWatch(r) && r.user === 'system:serviceaccount:tracegate:new'));
    } finally {
      await subject.cache.stop();
    }
  });

  it('authenticates through an exec credential plugin (a shell script)', async () => {
    const d = await mkdtemp(join(dir, 'exec-'));
    const plugin = join(d, 'credential-plugin.sh');
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: api.token('exec-user', ['plugins']) } };
    await writeFile(plugin, `#!/bin/sh\nprintf '%s' '${JSON.stringify(credential)}'\n`);
    await chmod(plugin, 0o755);
    const subject = cacheFor(load(await kubeconfigWith(d, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } })));
    try {
      await subject.cache.start();
      assert.ok(subject.cache.labels('secure'));
      assert.ok(api.requests.some((r) => isList(r) && r.user === 'exec-user'), 'the list ran as the plugin’s user');
      api.store.put(namespace('via-plugin', { [TENANT]: 'exec' }));
      await sees(subject.cache, 'via-plugin', { [TENANT]: 'exec' });
      api.faults.dropWatches();
      await until('the watch as the plugin’s user', () => api.requests.some((r) => isWatch(r) && r.user === 'exec-user'));
    } finally {
      await subject.cache.stop();
    }
  });

  it('lists and watches through a proxy-url', async () => {
    const tunnels: string[] = [];
    const sockets = new Set<Duplex>();
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, client, head: Buffer) => {
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
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const d = await mkdtemp(join(dir, 'proxy-'));
    const subject = cacheFor(load(await kubeconfigWith(d, { token: api.token('proxied', []) }, { 'proxy-url': proxyUrl })));
    try {
      await subject.cache.start();
      api.store.put(namespace('via-proxy', { [TENANT]: 'proxy' }));
      await sees(subject.cache, 'via-proxy', { [TENANT]: 'proxy' });
      assert.ok(tunnels.length >= 2, 'the list and the watch went through the proxy');
      assert.ok(tunnels.every((t) => t === new URL(api.url).host));
    } finally {
      await subject.cache.stop();
      // Tunnels are detached from the HTTP server: close them, or close() waits for them.
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => proxy.close(() => ok()));
    }
  });
});
