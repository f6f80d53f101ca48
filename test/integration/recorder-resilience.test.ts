/**
 * Nothing lost, nothing doubled: the recorder across restarts, dropped and expired watches, a revision
 * written concurrently (409), API pressure (429 with Retry-After, 5xx), history pruning, an oversized
 * record, crashes between its writes, and two replicas behind one Lease.
 *
 * Semantics checked here: changes made while no recorder runs collapse into ONE revision of the final
 * state (the recorder compares the live template with the deployed revision; it cannot see states the
 * cluster no longer has). The collapsed revision is attributed to the last change's gate stamps.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { toSecret } from '../../src/recorder/codec.js';
import {
  CHART_DIR,
  LEASE_NAMESPACE,
  PREFIX,
  createRecorderHarness,
  imageOf,
  type Any,
  type HarnessRecorder,
  type RecorderHarness,
} from '../support/recorder-harness.js';
import type { RequestLogEntry } from '../support/api-server/index.js';

let h: RecorderHarness;

before(async () => {
  h = await createRecorderHarness();
  h.gate.commit = 'c0ffee1';
  h.gate.approver = 'bob';
});

after(async () => {
  await h.close();
});

function table(ns: string, release = 'web'): string[] {
  return h.revisions(ns, release).map((r) => `${r.version} ${r.status}`);
}

async function install(ns: string, release = 'web'): Promise<void> {
  h.namespace(ns);
  await h.ok(h.tools.helm3, ['install', release, CHART_DIR, '-n', ns]);
}

async function setImage(ns: string, image: string, name = 'web'): Promise<void> {
  await h.ok(h.tools.kubectl, ['set', 'image', `deployment/${name}`, `web=${image}`, '-n', ns]);
}

/** Waits until the controller stand-in has rolled the Deployment out and the recorder processed that state. */
async function quiet(rec: HarnessRecorder, ns: string, name = 'web'): Promise<void> {
  await h.waitFor(`${ns}/${name} to be rolled out`, () => {
    const d = h.deployment(ns, name);
    return d['status']?.['observedGeneration'] === d['metadata']['generation'];
  });
  await rec.settled(ns, name);
}

/** Exactly one deployed revision, versions 1..n without gaps or repeats. */
function assertConsistent(ns: string, release = 'web'): void {
  const revs = h.revisions(ns, release);
  assert.deepEqual(revs.map((r) => r.version), revs.map((_, i) => i + 1), 'revisions are contiguous, none doubled');
  assert.equal(revs.filter((r) => r.status === 'deployed').length, 1, 'exactly one deployed revision');
  for (const r of revs) assert.equal(r.labels['status'], r.status, `revision ${r.version}: label and JSON status agree`);
}

const isSecretWrite = (r: RequestLogEntry): boolean => ['POST', 'PUT', 'DELETE'].includes(r.method) && r.path.includes('/secrets');

describe('restarts: changes made while the recorder is down', () => {
  const ns = 'restart';

  it('collapse into one revision of the final state; a second restart records nothing', async () => {
    await install(ns);
    let rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    await rec.stop();
    for (const tag of ['1.26', '1.27', '1.28']) await setImage(ns, `nginx:${tag}`);

    rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
    const rev2 = h.revisions(ns, 'web')[1]!;
    assert.match(rev2.description, /^image web: nginx:1\.25 → nginx:1\.28 by admin via kubectl-set \(commit c0ffee1, approved by bob, change \w+\) \(recorded; chart values unchanged\)$/);
    assert.equal(rev2.labels[`${PREFIX}change-id`], String(h.deployment(ns, 'web')['metadata']['annotations'][`${PREFIX}change-id`]).split('.')[0], 'attributed to the last change');
    await rec.stop();

    rec = await h.startRecorder({ namespaces: [ns] });
    const event = await rec.settled(ns, 'web');
    assert.equal(event.plan?.action, 'none');
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
    await rec.stop();
  });
});

describe('watch drops and 410 Gone', () => {
  const ns = 'watches';
  let rec: HarnessRecorder;

  before(async () => {
    await install(ns);
    rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
  });

  after(() => rec.stop());

  it('a cleanly closed watch is resumed from its resourceVersion: the next change is recorded once', async () => {
    assert.ok(h.server.faults.dropWatches() >= 1);
    await setImage(ns, 'nginx:1.26');
    await quiet(rec, ns);
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
  });

  it('an abruptly dropped watch restarts with a fresh list: a change made meanwhile is recorded once', async () => {
    const restarts = await rec.metric('tracegate_recorder_watch_restarts_total');
    h.server.faults.dropWatches({ abrupt: true });
    await setImage(ns, 'nginx:1.27');
    await h.waitFor('the watch to restart', async () => (await rec.metric('tracegate_recorder_watch_restarts_total')) > restarts);
    await quiet(rec, ns);
    assert.deepEqual(table(ns).slice(1), ['2 superseded', '3 deployed']);
    assert.match(h.revisions(ns, 'web')[2]!.description, /^image web: nginx:1\.26 → nginx:1\.27 /);
  });

  it('a watch from an expired resourceVersion (410) relists: changes during and after are recorded once each', async () => {
    const lists = (): number =>
      h.server.requests.filter((r) => r.user === rec.user && r.method === 'GET' && r.path === `/apis/apps/v1/namespaces/${ns}/deployments` && r.query['watch'] === undefined).length;
    const listed = lists();
    // Other writes move the global resourceVersion past the last Deployment event the informer saw.
    h.namespace('unrelated-bump');
    h.server.faults.expireWatches();
    h.server.faults.dropWatches();
    await setImage(ns, 'nginx:1.28');
    await quiet(rec, ns);
    assert.ok(lists() > listed, 'the 410 made the informer list again');
    await setImage(ns, 'nginx:1.29');
    await quiet(rec, ns);
    assert.deepEqual(table(ns).slice(3), ['4 superseded', '5 deployed']);
    assert.deepEqual(h.revisions(ns, 'web').slice(3).map((r) => r.description.split(' by ')[0]), ['image web: nginx:1.27 → nginx:1.28', 'image web: nginx:1.28 → nginx:1.29']);
    assertConsistent(ns);
  });
});

describe('a Helm operation in progress (latest revision pending-upgrade)', () => {
  const ns = 'pending';

  it('waits while Helm is mid-operation, then records the final state once', async () => {
    await install(ns);
    const rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    const [rev1] = h.revisions(ns, 'web');
    const pending = { ...rev1!.release, version: 2, info: { ...rev1!.release.info, status: 'pending-upgrade', description: 'Preparing upgrade' } };
    h.server.store.put(toSecret(pending, { createdAt: new Date() }) as unknown as Any);
    for (const tag of ['1.26', '1.27']) {
      await setImage(ns, `nginx:${tag}`);
      const rv = Number(h.deployment(ns, 'web')['metadata']['resourceVersion']);
      await h.waitFor(`the recorder to wait at ${tag}`, () => rec.processed.some((e) => e.plan?.action === 'wait' && Number(e.resourceVersion) >= rv));
    }
    assert.deepEqual(table(ns), ['1 deployed', '2 pending-upgrade'], 'nothing written while Helm is mid-operation');
    // Helm finishes: its upgrade changed nothing in the Deployment.
    h.server.store.put(toSecret({ ...pending, info: { ...pending.info, status: 'deployed', description: 'Upgrade complete' } }, { createdAt: new Date() }) as unknown as Any);
    h.server.store.put(toSecret({ ...rev1!.release, info: { ...rev1!.release.info, status: 'superseded' } }) as unknown as Any);
    await quiet(rec, ns);
    await h.waitFor('the retries to settle', () => rec.processed.at(-1)?.plan?.action === 'none');
    assert.deepEqual(table(ns), ['1 superseded', '2 superseded', '3 deployed']);
    assert.match(h.revisions(ns, 'web')[2]!.description, /^image web: nginx:1\.25 → nginx:1\.27 by admin/, 'the newest state, not an older one a retry was scheduled for');
    await rec.stop();
  });
});

describe('a revision created concurrently (409 AlreadyExists)', () => {
  const ns = 'conflict';

  it('re-reads and records on top of the concurrent revision', async () => {
    await install(ns);
    const rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    await setImage(ns, 'nginx:1.26');
    await quiet(rec, ns);
    const [, rev2] = h.revisions(ns, 'web');

    // Hold the recorder's create back; meanwhile a concurrent `helm upgrade` writes revision 3 as Helm
    // would (the same manifest, "Upgrade complete", previous revision superseded).
    // A second is ample for the test to write revision 3 after the recorder's read; only this POST is held.
    h.server.faults.delay({ method: 'POST', path: new RegExp(`/namespaces/${ns}/secrets`), ms: 1_000, count: 1 });
    const mark = h.server.requests.length;
    await setImage(ns, 'nginx:1.27');
    await h.waitFor('the recorder to read the history', () =>
      h.server.requests.slice(mark).some((r) => r.user === rec.user && r.method === 'GET' && r.path === `/api/v1/namespaces/${ns}/secrets`),
    );
    const helmRev3 = { ...rev2!.release, version: 3, info: { ...rev2!.release.info, status: 'deployed', description: 'Upgrade complete' } };
    h.server.store.put(toSecret(helmRev3, { createdAt: new Date() }) as unknown as Any);
    h.server.store.put(toSecret({ ...rev2!.release, info: { ...rev2!.release.info, status: 'superseded' } }, { labels: rev2!.labels }) as unknown as Any);
    await quiet(rec, ns);

    assert.deepEqual(table(ns), ['1 superseded', '2 superseded', '3 superseded', '4 deployed']);
    const revs = h.revisions(ns, 'web');
    assert.equal(revs[2]!.description, 'Upgrade complete', 'the concurrent revision is kept');
    assert.match(revs[3]!.description, /^image web: nginx:1\.26 → nginx:1\.27 by admin/);
    const posts = h.server.requests.slice(mark).filter((r) => r.user === rec.user && r.method === 'POST' && r.path === `/api/v1/namespaces/${ns}/secrets`);
    assert.deepEqual(posts.map((r) => `${(r.body as Any)['metadata']['name']} ${r.status}`), ['sh.helm.release.v1.web.v3 409', 'sh.helm.release.v1.web.v4 201']);
    assert.equal(await rec.metric('tracegate_recorder_conflicts_total'), 1);
    assert.ok(rec.logs.records().some((r) => r['msg'] === 'revision written by someone else meanwhile; re-reading' && r['revision'] === 3));
    assertConsistent(ns);
    await rec.stop();
  });
});

describe('API pressure', () => {
  const ns = 'pressure';

  it('429 with Retry-After and 5xx on Secrets are retried until the change is recorded once', async () => {
    await install(ns);
    const rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    const secrets = new RegExp(`/namespaces/${ns}/secrets`);
    h.server.faults.inject({ method: 'GET', path: secrets, status: 429, retryAfterSeconds: 1, count: 2 });
    h.server.faults.inject({ method: 'POST', path: secrets, status: 500, count: 2 });
    h.server.faults.inject({ method: 'PUT', path: secrets, status: 503, count: 1 });
    await setImage(ns, 'nginx:1.26');
    await quiet(rec, ns);
    assert.equal(h.server.faults.pending(), 0, 'every injected failure was served');
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
    const retries = rec.logs.records().filter((r) => r['msg'] === 'Kubernetes API busy; retrying');
    assert.deepEqual(retries.map((r) => r['status']).sort(), [429, 429, 500, 500, 503]);
    // The delay the recorder chose (logged), not a measured time: at least the server's Retry-After of 1 s.
    for (const r of retries.filter((x) => x['status'] === 429)) assert.ok((r['delayMs'] as number) >= 1_000, 'Retry-After is honoured');
    assert.equal(await rec.metric('tracegate_recorder_errors_total'), 0, 'no attempt gave up');
    await rec.stop();
  });
});

describe('history max', () => {
  const ns = 'prune';

  it('prunes like helm --history-max when it writes: the oldest go, the deployed revision stays', async () => {
    await install(ns);
    const rec = await h.startRecorder({ namespaces: [ns], historyMax: 3 });
    await quiet(rec, ns);
    for (const tag of ['1.26', '1.27', '1.28', '1.29']) {
      await setImage(ns, `nginx:${tag}`);
      await quiet(rec, ns);
    }
    assert.deepEqual(table(ns), ['3 superseded', '4 superseded', '5 deployed']);
    const pruned = rec.logs.records().filter((r) => String(r['msg']).startsWith('pruned old revision (history max)')).map((r) => r['revision']);
    assert.deepEqual(pruned, [1, 2]);
    // Pruned from Helm, never from the trail: tracegate history still shows who made revisions 1 and 2.
    const trail = JSON.parse((await h.cli(['history', `${ns}/web`, '-o', 'json'])).stdout) as Any;
    assert.deepEqual((trail.revisions as Any[]).slice(0, 2).map((r) => [r.revision, r.status]), [[1, 'pruned'], [2, 'pruned']]);
    assert.equal((trail.revisions as Any[])[1]!.approver, 'bob');
    const history = (await h.ok(h.tools.helm, ['history', 'web', '-n', ns])).stdout.trim().split('\n');
    assert.equal(history.length, 4, 'a header and three revisions');
    assert.match(history[3]!, /^5\s.*deployed.*nginx:1\.28 → nginx:1\.29/);
    // Helm reads the pruned history and rolls back within it.
    await h.ok(h.tools.helm3, ['rollback', 'web', '3', '-n', ns]);
    await quiet(rec, ns);
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.27');
    // Like Helm, the recorder prunes when it writes: Helm's rollback (its own --history-max is 10) kept four.
    assert.deepEqual(table(ns), ['3 superseded', '4 superseded', '5 superseded', '6 deployed']);
    await setImage(ns, 'nginx:1.30');
    await quiet(rec, ns);
    assert.deepEqual(table(ns), ['5 superseded', '6 superseded', '7 deployed']);
    await rec.stop();
  });
});

describe('a release record over the 1 MiB Secret limit', () => {
  const ns = 'huge';

  it('is a clear error in the log; the recorder keeps recording other changes', async () => {
    await install(ns);
    await h.ok(h.tools.helm3, ['install', 'other', CHART_DIR, '-n', ns]);
    const rec = await h.startRecorder({ namespaces: [ns] });
    await quiet(rec, ns);
    await quiet(rec, ns, 'other');
    // Random bytes do not compress: about 1.2 MB of environment value is over the limit even gzipped.
    const big = randomBytes(900 * 1024).toString('base64');
    const patchFile = join(h.dir, 'big-env.json');
    await writeFile(patchFile, JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'BLOB', value: big }] }] } } } }));
    await h.ok(h.tools.kubectl, ['patch', 'deployment/web', '-n', ns, '--patch-file', patchFile]);
    const event = await rec.settled(ns, 'web');
    assert.ok(event.error, 'recording failed');
    const error = rec.logs.records().find((r) => r['level'] === 'error' && r['code'] === 'RELEASE_TOO_LARGE');
    assert.ok(error, 'an error log line with the code');
    assert.equal(error['msg'], 'cannot record this change');
    assert.equal(error['workload'], `Deployment/${ns}/web`);
    assert.match(String(error['err']), /release record sh\.helm\.release\.v1\.web\.v2 is \d+ bytes after compression, over the 1048576-byte Secret limit/);
    assert.ok((await rec.metric('tracegate_recorder_errors_total')) >= 1);
    assert.deepEqual(table(ns), ['1 deployed'], 'nothing half-written');

    await setImage(ns, 'nginx:1.26', 'other');
    await quiet(rec, ns, 'other');
    assert.deepEqual(table(ns, 'other'), ['1 superseded', '2 deployed'], 'the recorder is still running');
    await rec.stop();
  });
});

describe('crashes between reading and writing', () => {
  // A crashed replica keeps its Lease: the replacement waits this long before it may write.
  const crashLease = { leaseDurationMs: 1_000 };
  it('a create that fails hard records nothing; after a restart the change is recorded once', async () => {
    const ns = 'crash-create';
    await install(ns);
    let rec = await h.startRecorder({ namespaces: [ns], identity: 'crash-a', leaseName: 'crash-create', ...crashLease });
    await quiet(rec, ns);
    h.server.faults.inject({ method: 'POST', path: new RegExp(`/namespaces/${ns}/secrets`), status: 500, count: Infinity });
    await setImage(ns, 'nginx:1.26');
    const event = await rec.settled(ns, 'web');
    assert.ok(event.error);
    await rec.stop({ crash: true });
    h.server.faults.clear();
    assert.deepEqual(table(ns), ['1 deployed']);

    rec = await h.startRecorder({ namespaces: [ns], identity: 'crash-b', leaseName: 'crash-create', ...crashLease });
    await quiet(rec, ns);
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
    assertConsistent(ns);
    await rec.stop();
  });

  it('killed after creating the revision but before superseding: the restart repairs, nothing is doubled', async () => {
    const ns = 'crash-supersede';
    await install(ns);
    let rec = await h.startRecorder({ namespaces: [ns], identity: 'crash-c', leaseName: 'crash-supersede', ...crashLease });
    await quiet(rec, ns);
    h.server.faults.inject({ method: 'PUT', path: new RegExp(`/namespaces/${ns}/secrets`), status: 500, count: Infinity });
    await setImage(ns, 'nginx:1.26');
    const event = await rec.settled(ns, 'web');
    assert.ok(event.error, 'the supersede failed');
    await rec.stop({ crash: true });
    h.server.faults.clear();
    assert.deepEqual(table(ns), ['1 deployed', '2 deployed'], 'the crash window: two deployed revisions');

    rec = await h.startRecorder({ namespaces: [ns], identity: 'crash-d', leaseName: 'crash-supersede', ...crashLease });
    const repaired = await rec.settled(ns, 'web');
    assert.equal(repaired.plan?.action, 'none');
    assert.deepEqual(table(ns), ['1 superseded', '2 deployed']);
    assertConsistent(ns);
    assert.ok(rec.logs.records().some((r) => r['msg'] === 'repaired: more than one deployed revision'));
    const history = (await h.ok(h.tools.helm, ['history', 'web', '-n', ns])).stdout;
    assert.match(history, /^2\s.*deployed.*nginx:1\.25 → nginx:1\.26/m);
    await rec.stop();
  });
});

describe('two recorder replicas behind one Lease', () => {
  const ns = 'replicas';
  const leaseName = 'replicas';
  let coordination: CoordinationV1Api;

  before(async () => {
    await install(ns);
    const kc = new KubeConfig();
    kc.loadFromFile(h.admin);
    coordination = kc.makeApiClient(CoordinationV1Api);
  });

  const holder = async (): Promise<string> => (await coordination.readNamespacedLease({ name: leaseName, namespace: LEASE_NAMESPACE })).spec?.holderIdentity ?? '';
  const writers = (from: number): string[] => h.server.requests.slice(from).filter(isSecretWrite).map((r) => r.user);

  it('exactly one leads, every change is recorded once, and the follower takes over when the leader stops or crashes', async () => {
    // Renewals ten times per lease: a crashed leader is noticed after one lease duration (2 s).
    const timing = { leaseName, leaseDurationMs: 2_000, renewIntervalMs: 200 };
    const mark = h.server.requests.length;
    const a = await h.startRecorder({ namespaces: [ns], identity: 'replica-a', user: 'recorder-a', ...timing });
    const b = await h.startReplica({ namespaces: [ns], identity: 'replica-b', user: 'recorder-b', ...timing });
    await h.waitFor('replica-b to try the Lease', () => h.server.requests.some((r) => r.user === 'recorder-b' && r.path.includes('/leases/')));
    assert.equal(await holder(), 'replica-a');
    assert.equal(b.running.isLeader(), false);
    await quiet(a, ns);

    for (const tag of ['1.26', '1.27']) {
      await setImage(ns, `nginx:${tag}`);
      await quiet(a, ns);
    }
    assert.deepEqual(table(ns), ['1 superseded', '2 superseded', '3 deployed']);
    assert.deepEqual(b.processed, [], 'the follower processed nothing');

    // A graceful stop releases the Lease: the follower takes over at its next try and records the next change.
    await a.stop();
    await h.waitFor('replica-b to lead', () => b.running.isLeader());
    assert.equal(await holder(), 'replica-b');
    await setImage(ns, 'nginx:1.28');
    await quiet(b, ns);
    assert.deepEqual(table(ns).slice(2), ['3 superseded', '4 deployed']);

    // A crash keeps the Lease until it expires; only then does the new replica take it.
    const c = await h.startReplica({ namespaces: [ns], identity: 'replica-c', user: 'recorder-c', ...timing });
    const before = (await coordination.readNamespacedLease({ name: leaseName, namespace: LEASE_NAMESPACE })).spec?.leaseTransitions ?? 0;
    await b.stop({ crash: true });
    assert.equal(await holder(), 'replica-b', 'the crashed replica still holds the Lease');
    await h.waitFor('replica-c to lead', () => c.running.isLeader());
    const lease = await coordination.readNamespacedLease({ name: leaseName, namespace: LEASE_NAMESPACE });
    assert.equal(lease.spec?.holderIdentity, 'replica-c');
    assert.equal(lease.spec?.leaseTransitions, before + 1);
    await setImage(ns, 'nginx:1.29');
    await quiet(c, ns);
    assert.deepEqual(table(ns).slice(3), ['4 superseded', '5 deployed']);
    assertConsistent(ns);

    // Never both: the Secret writes come from one replica at a time, in leadership order.
    const sequence = writers(mark).filter((u, i, all) => i === 0 || all[i - 1] !== u);
    assert.deepEqual(sequence, ['recorder-a', 'recorder-b', 'recorder-c']);
    await c.stop();
  });
});
