/**
 * The lean namespace cache (src/tenancy/namespace-informer.ts) against the test Kubernetes API server:
 * paginated first sync and readiness, label changes, new and deleted namespaces, watches the server ends
 * (re-watched without a relist) or drops (restarted with backoff), bookmarks, `410 Gone` as an ERROR event
 * and as an answer (relist), retries of a failing first list, stop(), the pod's ServiceAccount with a
 * rotated token over HTTPS, and an `exec` credential plugin through the lazy client-node fallback.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { createLogger } from '../../src/log.js';
import { loadKubeConnection, type KubeConnection } from '../../src/kube/connection.js';
import { createNamespaceInformer, type NamespaceInformer } from '../../src/tenancy/namespace-informer.js';
import { startTestApiServer, type RequestLogEntry, type TestApiServer } from '../support/api-server/index.js';

/** A hang guard, not a speed check. */
const DEADLINE_MS = 30_000;
const POLL_MS = 20;
/** Above the informer's page size (500), so the first list takes two pages. */
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

/** An informer with captured logs and a restart counter. */
function informerFor(connection: KubeConnection) {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  let restarts = 0;
  const informer = createNamespaceInformer({ connection, log, onRestart: () => restarts++ });
  return { informer, lines, restarts: () => restarts };
}

/** Waits until the cache shows `labels` for `name` (or its absence for `undefined`). */
async function sees(informer: NamespaceInformer, name: string, labels: Record<string, string> | undefined): Promise<void> {
  await until(`${name} → ${JSON.stringify(labels)}`, () => {
    const got = informer.labels(name);
    if (labels === undefined) return got === undefined;
    return isDeepStrictEqual(got, { 'kubernetes.io/metadata.name': name, ...labels });
  });
}

describe('namespace cache over plain HTTP', { timeout: DEADLINE_MS * 6 }, () => {
  let api: TestApiServer;
  let connection: KubeConnection;
  let subject: ReturnType<typeof informerFor>;
  let token: string;
  /** The store's resourceVersion when the first list ran. */
  let listedAt: string;

  before(async () => {
    api = await startTestApiServer({ controller: false });
    const kubeconfig = await api.kubeconfig(await mkdtemp(join(dir, 'http-')), { user: 'system:serviceaccount:tracegate:tracegate' });
    token = api.token('system:serviceaccount:tracegate:tracegate', []);
    for (let i = 0; i < MANY_NAMESPACES; i++) api.store.put(namespace(`ns-${String(i).padStart(3, '0')}`, i % 2 === 0 ? { [TENANT]: `t${i}` } : {}));
    connection = await loadKubeConnection({ kubeconfig, env: {}, cwd: dir });
    subject = informerFor(connection);
  });
  after(async () => {
    await subject?.informer.stop().catch(() => undefined);
    await api?.close();
  });

  it('is ready after the first complete, paginated list, and holds labels by name', async () => {
    const { informer } = subject;
    assert.equal(informer.ready(), false);
    listedAt = api.store.resourceVersion();
    await informer.start();
    assert.equal(informer.ready(), true);
    assert.deepEqual(informer.labels('ns-000'), { 'kubernetes.io/metadata.name': 'ns-000', [TENANT]: 't0' });
    assert.deepEqual(informer.labels(`ns-${MANY_NAMESPACES - 2}`), { 'kubernetes.io/metadata.name': `ns-${MANY_NAMESPACES - 2}`, [TENANT]: `t${MANY_NAMESPACES - 2}` });
    assert.deepEqual(informer.labels('ns-001'), { 'kubernetes.io/metadata.name': 'ns-001' });
    assert.ok(informer.labels('default'), 'the built-in namespaces are listed too');
    assert.equal(informer.labels('nope'), undefined);
    const lists = api.requests.filter(isList);
    assert.equal(lists.length, 2, 'two pages');
    assert.equal(lists[0]?.query['limit'], '500');
    assert.ok(lists[1]?.query['continue'], 'the second page continues the first');
    await until('an open watch', () => api.sendBookmarks() > 0);
  });

  it('watches from the list resourceVersion with bookmarks, and follows label changes, new and deleted namespaces', async () => {
    const { informer } = subject;
    api.store.put(namespace('ns-001', { [TENANT]: 'relabelled' }));
    await sees(informer, 'ns-001', { [TENANT]: 'relabelled' });
    api.store.put(namespace('brand-new', { [TENANT]: 'new' }));
    await sees(informer, 'brand-new', { [TENANT]: 'new' });
    assert.ok(api.store.delete('namespaces', '', 'brand-new'));
    await sees(informer, 'brand-new', undefined);
    assert.equal(api.requests.filter(isList).length, 2, 'changes arrive through the watch, not new lists');
    // The watch is still open, so it is not in the request log yet: its parameters show once it is dropped.
    api.faults.dropWatches();
    const watch = await until('the first watch in the log', () => api.requests.find(isWatch));
    assert.equal(watch.query['allowWatchBookmarks'], 'true');
    assert.equal(watch.query['resourceVersion'], listedAt, "the watch starts at the list's resourceVersion");
    assert.match(watch.query['timeoutSeconds'] ?? '', /^\d+$/);
  });

  it('re-watches from its resourceVersion when the server ends the watch, without a relist or a restart', async () => {
    const { informer } = subject;
    // An event on the current watch first, so its clean end is an ordinary one (not a "very short watch").
    await until('an open watch', () => api.sendBookmarks() > 0);
    api.store.put(namespace('before-end', { [TENANT]: 'a' }));
    await sees(informer, 'before-end', { [TENANT]: 'a' });
    const lists = api.requests.filter(isList).length;
    const restarts = subject.restarts();
    const watches = api.requests.filter(isWatch).length;
    const rv = api.store.resourceVersion();
    assert.equal(api.faults.dropWatches(), 1);
    api.store.put(namespace('after-end', { [TENANT]: 'b' }));
    await sees(informer, 'after-end', { [TENANT]: 'b' });
    assert.equal(api.requests.filter(isList).length, lists, 'no relist');
    assert.equal(subject.restarts(), restarts, 'a watch the server ends is no error');
    // The re-watch reaches the request log once it ends too.
    api.faults.dropWatches();
    const next = await until('the re-watch in the log', () => api.requests.filter(isWatch)[watches + 1]);
    assert.equal(next.query['resourceVersion'], rv, 'the re-watch starts from the last event seen');
  });

  it('keeps the resourceVersion of a bookmark', async () => {
    const { informer } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    api.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-a-namespace', namespace: 'default' } });
    const lists = api.requests.filter(isList).length;
    assert.equal(api.sendBookmarks(), 1);
    // Without the bookmark the informer would re-watch from before the ConfigMap: now too old, so 410 and a relist.
    api.faults.expireWatches();
    api.faults.dropWatches();
    api.store.put(namespace('after-bookmark', { [TENANT]: 'c' }));
    await sees(informer, 'after-bookmark', { [TENANT]: 'c' });
    assert.equal(api.requests.filter(isList).length, lists, 'the bookmark kept the watch resumable');
  });

  it('restarts with backoff after an abrupt drop and counts the restart', async () => {
    const { informer } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const restarts = subject.restarts();
    const lists = api.requests.filter(isList).length;
    assert.equal(api.faults.dropWatches({ abrupt: true }), 1);
    await until('the restart', () => subject.restarts() > restarts);
    api.store.put(namespace('after-drop', { [TENANT]: 'd' }));
    await sees(informer, 'after-drop', { [TENANT]: 'd' });
    assert.equal(api.requests.filter(isList).length, lists, 'the resourceVersion is still good: no relist');
    assert.equal(informer.ready(), true, 'readiness stays while the watch restarts');
    assert.ok(subject.lines.some((l) => l.includes('namespace watch failed; restarting') && l.includes('"retryInMs":1000')));
  });

  it('restarts after an error answer to the watch', async () => {
    const { informer } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const restarts = subject.restarts();
    api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?.*watch=true/, status: 500, message: 'etcd is sad' });
    api.faults.dropWatches({ abrupt: true });
    await until('two restarts (the drop and the 500)', () => subject.restarts() >= restarts + 2);
    api.store.put(namespace('after-500', { [TENANT]: 'e' }));
    await sees(informer, 'after-500', { [TENANT]: 'e' });
    assert.ok(subject.lines.some((l) => l.includes('watch namespaces: HTTP 500: etcd is sad')));
  });

  it('relists after a 410 ERROR event, keeping labels it had meanwhile', async () => {
    const { informer } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    const lists = api.requests.filter(isList).length;
    // Advance the resourceVersion past the informer's without a namespace event, then compact.
    api.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'compaction', namespace: 'default' } });
    api.faults.expireWatches();
    api.faults.dropWatches();
    await until('a relist (two pages)', () => api.requests.filter(isList).length >= lists + 2);
    assert.deepEqual(informer.labels('ns-000'), { 'kubernetes.io/metadata.name': 'ns-000', [TENANT]: 't0' });
    api.store.put(namespace('after-410', { [TENANT]: 'f' }));
    await sees(informer, 'after-410', { [TENANT]: 'f' });
    assert.ok(subject.lines.some((l) => l.includes('namespace watch expired (410 Gone); relisting')));
  });

  it('relists after a 410 answer to the watch request', async () => {
    const { informer } = subject;
    await until('an open watch', () => api.sendBookmarks() > 0);
    // Something must arrive on this watch first, else its end would be a "very short watch" error instead.
    api.store.put(namespace('before-410-answer', { [TENANT]: 'g' }));
    await sees(informer, 'before-410-answer', { [TENANT]: 'g' });
    const lists = api.requests.filter(isList).length;
    api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?.*watch=true/, status: 410, message: 'too old resource version' });
    api.faults.dropWatches();
    await until('a relist (two pages)', () => api.requests.filter(isList).length >= lists + 2);
    api.store.delete('namespaces', '', 'before-410-answer');
    await sees(informer, 'before-410-answer', undefined);
  });

  it('never logs the credentials', () => {
    const text = subject.lines.join('');
    assert.ok(text.length > 0);
    assert.equal(text.includes(token), false);
  });

  it('stops: the watch closes and start() of a stopped cache rejects', async () => {
    await until('an open watch', () => api.sendBookmarks() > 0);
    await subject.informer.stop();
    await until('the watch to close', () => api.sendBookmarks() === 0);
    const late = informerFor(connection);
    await late.informer.stop();
    await assert.rejects(late.informer.start(), /stopped before its first sync/);
  });
});

describe('first sync under errors', { timeout: DEADLINE_MS * 2 }, () => {
  it('retries a failing first list with backoff and becomes ready afterwards', async () => {
    const api = await startTestApiServer({ controller: false });
    const subject = informerFor(await loadKubeConnection({ kubeconfig: await api.kubeconfig(await mkdtemp(join(dir, 'retry-'))), env: {}, cwd: dir }));
    try {
      api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?limit=/, status: 503, count: 2 });
      await subject.informer.start();
      assert.equal(subject.restarts(), 2);
      assert.equal(subject.informer.ready(), true);
      const retries = subject.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'namespace watch failed; restarting');
      assert.deepEqual(retries.map((l) => l['retryInMs']), [1000, 2000], 'the delay doubles');
      assert.match(String(retries[0]?.['err']), /^list namespaces: HTTP 503/);
    } finally {
      await subject.informer.stop();
      await api.close();
    }
  });

  it('rejects start() when stopped before the first sync', async () => {
    const api = await startTestApiServer({ controller: false });
    const subject = informerFor(await loadKubeConnection({ kubeconfig: await api.kubeconfig(await mkdtemp(join(dir, 'early-stop-'))), env: {}, cwd: dir }));
    try {
      api.faults.inject({ method: 'GET', path: /^\/api\/v1\/namespaces\?limit=/, status: 503, count: Infinity });
      const started = subject.informer.start();
      await until('the first failure', () => subject.restarts() > 0);
      await subject.informer.stop();
      await assert.rejects(started, /stopped before its first sync/);
      assert.equal(subject.informer.ready(), false);
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

  it("uses the pod's ServiceAccount and picks up a rotated token on reconnect", async () => {
    const sa = await mkdtemp(join(dir, 'sa-'));
    await writeFile(join(sa, 'ca.crt'), api.caPem ?? '');
    await writeFile(join(sa, 'token'), api.token('system:serviceaccount:tracegate:old', []));
    const port = new URL(api.url).port;
    const connection = await loadKubeConnection({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, cwd: dir, serviceAccountDir: sa });
    const subject = informerFor(connection);
    try {
      await subject.informer.start();
      assert.deepEqual(subject.informer.labels('secure'), { 'kubernetes.io/metadata.name': 'secure', [TENANT]: 'tls' });
      assert.ok(api.requests.some((r) => isList(r) && r.user === 'system:serviceaccount:tracegate:old'));
      await writeFile(join(sa, 'token'), api.token('system:serviceaccount:tracegate:new', []));
      api.faults.dropWatches({ abrupt: true });
      // Seen after the drop, so through the re-watch, which read the token file again.
      api.store.put(namespace('secure', { [TENANT]: 'rotated' }));
      await sees(subject.informer, 'secure', { [TENANT]: 'rotated' });
      api.faults.dropWatches();
      await until('the re-watch as the new identity', () => api.requests.some((r) => isWatch(r) && r.user === 'system:serviceaccount:tracegate:new'));
    } finally {
      await subject.informer.stop();
    }
  });

  it('authenticates through an exec credential plugin via the lazy client-node fallback', async () => {
    const d = await mkdtemp(join(dir, 'exec-'));
    const plugin = join(d, 'credential-plugin.mjs');
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: api.token('exec-user', ['plugins']) } };
    await writeFile(plugin, `process.stdout.write(${JSON.stringify(JSON.stringify(credential))});\n`);
    const kubeconfig = join(d, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.caPem ?? '').toString('base64') } }],
        users: [{ name: 'plugin', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' } } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'plugin' } }],
        'current-context': 'test',
      }),
    );
    const connection = await loadKubeConnection({ kubeconfig, env: {}, cwd: dir });
    assert.match(connection.source, /through @kubernetes\/client-node/);
    const subject = informerFor(connection);
    try {
      await subject.informer.start();
      assert.ok(subject.informer.labels('secure'));
      assert.ok(api.requests.some((r) => isList(r) && r.user === 'exec-user'), 'the list ran as the plugin’s user');
      api.store.put(namespace('via-plugin', { [TENANT]: 'exec' }));
      await sees(subject.informer, 'via-plugin', { [TENANT]: 'exec' });
    } finally {
      await subject.informer.stop();
    }
  });
});
