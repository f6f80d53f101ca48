/**
 * The guards src/kube/informer.ts puts around client-node's informer, against a scripted API server
 * that misbehaves in ways the test API server (faithful to kube-apiserver) never does: a watch that
 * ends at once without an event (a broken proxy), `410 Gone` straight after a fresh list, and an ERROR
 * event other than 410. Each must be an error retried with a doubling delay — never a tight loop.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';
import { createLogger } from '../../src/log.js';
import { createNamespaceCache } from '../../src/tenancy/namespace-cache.js';

/** A hang guard, not a speed check. */
const DEADLINE_MS = 30_000;
const POLL_MS = 20;

type WatchAnswer = 'end-at-once' | 'gone-at-once' | 'error-event';

/** Status objects as kube-apiserver puts them in ERROR events. */
const GONE_EVENT = { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } };
const INTERNAL_EVENT = { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'InternalError', code: 500, message: 'etcd is sad' } };

let dir: string;
let server: Server;
let answer: WatchAnswer = 'end-at-once';
const counts = { lists: 0, watches: 0 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-watch-guards-'));
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/namespaces') return void res.writeHead(404).end('{}');
    if (url.searchParams.get('watch') !== 'true') {
      counts.lists++;
      const item = { metadata: { name: 'team-a', resourceVersion: '5', labels: { 'tracegate.io/tenant': 'a' } } };
      return void res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(10 + counts.lists) }, items: [item] }));
    }
    counts.watches++;
    res.writeHead(200);
    if (answer === 'end-at-once') res.end();
    else res.end(`${JSON.stringify(answer === 'gone-at-once' ? GONE_EVENT : INTERNAL_EVENT)}\n`);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
  await rm(dir, { recursive: true, force: true });
});

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Starts a cache against the scripted server, waits for three restarts, and returns what it logged. */
async function threeRestarts(mode: WatchAnswer): Promise<{ retries: Record<string, unknown>[]; lists: number; watches: number }> {
  answer = mode;
  counts.lists = 0;
  counts.watches = 0;
  const file = join(dir, `kubeconfig-${mode}`);
  const port = (server.address() as AddressInfo).port;
  await writeFile(file, JSON.stringify({ clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}` } }], contexts: [{ name: 'x', context: { cluster: 'c' } }], 'current-context': 'x' }));
  const kubeConfig = loadKubeconfig({ file, env: {}, cwd: dir, home: dir });
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  let restarts = 0;
  const cache = createNamespaceCache({ kubeConfig, core: kubeConfig.makeApiClient(CoreV1Api), log, onRestart: () => restarts++ });
  try {
    await cache.start();
    assert.deepEqual(cache.labels('team-a'), { 'tracegate.io/tenant': 'a' });
    await until('three restarts', () => restarts >= 3);
    const retries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'namespaces watch failed; restarting');
    return { retries, lists: counts.lists, watches: counts.watches };
  } finally {
    await cache.stop();
  }
}

describe('watch guards', { timeout: DEADLINE_MS * 4 }, () => {
  it('a watch the server ends at once, without an event, is retried with backoff', async () => {
    const r = await threeRestarts('end-at-once');
    assert.deepEqual(r.retries.slice(0, 3).map((l) => l['retryInMs']), [1000, 2000, 4000], 'the delay doubles');
    assert.match(String(r.retries[0]?.['err']), /the server ended the watch at once, without events/);
    assert.equal(r.lists, 1, 'the resourceVersion is still good: re-watched without relisting');
  });

  it('410 Gone straight after a list relists only after a backoff', async () => {
    const r = await threeRestarts('gone-at-once');
    assert.deepEqual(r.retries.slice(0, 3).map((l) => l['retryInMs']), [1000, 2000, 4000]);
    assert.match(String(r.retries[0]?.['err']), /410 Gone right after a list/);
    assert.ok(r.lists >= 3, 'every retry lists afresh');
    assert.ok(r.lists <= r.watches, 'one list per watch, no list storm');
  });

  it('an ERROR event other than 410 is an error', async () => {
    const r = await threeRestarts('error-event');
    assert.deepEqual(r.retries.slice(0, 3).map((l) => l['retryInMs']), [1000, 2000, 4000]);
    assert.match(String(r.retries[0]?.['err']), /ERROR event 500: etcd is sad/);
  });
});
