/**
 * `tracegate history`, `tracegate rollback` and `tracegate record`, run in-process through the CLI
 * against the test API server, with the gate stand-in stamping provenance and the real helm binary
 * reading what they write.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CHANGE_CAUSE } from '../../src/admission/annotations.js';
import {
  CHART_DIR,
  LEASE_NAMESPACE,
  PREFIX,
  createRecorderHarness,
  imageOf,
  runsManifest,
  type Any,
  type HarnessRecorder,
  type RecorderHarness,
} from '../support/recorder-harness.js';

let h: RecorderHarness;
const ns = 'cli';
let rec: HarnessRecorder;
let frank: string;

before(async () => {
  h = await createRecorderHarness();
  h.namespace(ns, 'shop');
  frank = await h.kubeconfig('frank', ['sre']);
  rec = await h.startRecorder({ namespaces: [ns] });
  await h.ok(h.tools.helm, ['install', 'web', CHART_DIR, '-n', ns]);
  await h.ok(h.tools.helm, ['install', 'api', CHART_DIR, '-n', ns]);
  // Two gated changes by different people with different provenance.
  Object.assign(h.gate, { commit: 'c0ffee1', approver: 'bob' });
  await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.26', '-n', ns], { kubeconfig: await h.kubeconfig('alice') });
  await rec.settled(ns, 'web');
  Object.assign(h.gate, { commit: 'deadbee', approver: 'erin' });
  await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.27', '-n', ns], { kubeconfig: await h.kubeconfig('dave') });
  await rec.settled(ns, 'web');
  await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/api', 'web=nginx:1.26', '-n', ns], { kubeconfig: await h.kubeconfig('dave') });
  await rec.settled(ns, 'api');
  // From here on the gate stamps what each request carries, as it does for commits and approvers it is given.
  Object.assign(h.gate, { commit: undefined, approver: undefined });
});

after(async () => {
  await h.close();
});

function table(release: string): string[] {
  return h.revisions(ns, release).map((r) => `${r.version} ${r.status}`);
}

describe('tracegate history', () => {
  it('prints a table with time, status, verdict, tenant, commit, approver, user, field manager and what changed', async () => {
    const res = await h.cli(['history', `${ns}/web`]);
    assert.equal(res.code, 0, res.stderr);
    const [title, release, header, ...rows] = res.stdout.trimEnd().split('\n');
    assert.equal(title, `deployment ${ns}/web`);
    assert.equal(release, `release ${ns}/web`);
    assert.deepEqual(header!.split(/\s{2,}/), ['REVISION', 'UPDATED', 'STATUS', 'VERDICT', 'TENANT', 'COMMIT', 'APPROVER', 'APPROVAL', 'USER', 'MANAGER', 'DESCRIPTION']);
    assert.equal(rows.length, 3);
    const cells = rows.map((r) => r.split(/\s{2,}/));
    // Helm's install, attributed to Helm's caller from the gate's stamps at the time.
    // APPROVAL: no signed approval verified any of these approvers (they are as typed).
    assert.deepEqual(cells[0]!.slice(2), ['superseded', 'verified', 'shop', '-', '-', 'unverified', 'admin', 'helm', 'Install complete']);
    assert.deepEqual(cells[1]!.slice(2, 10), ['superseded', 'verified', 'shop', 'c0ffee1', 'bob', 'unverified', 'alice', 'kubectl-set']);
    assert.match(cells[1]![10]!, /^image web: nginx:1\.25 → nginx:1\.26 by alice via kubectl-set \(commit c0ffee1, approved by bob, change \w+\) \(recorded; chart values unchanged\)$/);
    assert.deepEqual(cells[2]!.slice(2, 10), ['deployed', 'verified', 'shop', 'deadbee', 'erin', 'unverified', 'dave', 'kubectl-set']);
    for (const c of cells) assert.match(c[1]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'UTC time to the second');
  });

  it('-o json carries the same fields, per revision', async () => {
    const res = await h.cli(['history', `${ns}/web`, '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as Any;
    assert.deepEqual(out.workload, { namespace: ns, kind: 'Deployment', name: 'web', exists: true });
    assert.deepEqual(out.release, { namespace: ns, name: 'web', adopted: false });
    assert.equal(out.owner, null);
    const [install, first, second] = out.revisions as Any[];
    // `rollout` appears once the recorder has seen the rollout end (it amends the trail): racy by design here.
    for (const r of [install, first, second]) assert.ok(r?.rollout === undefined || r?.rollout === 'complete', String(r?.rollout));
    assert.deepEqual(Object.keys(install!).filter((k) => k !== 'rollout').sort(), ['approval', 'changeId', 'chart', 'description', 'fieldManager', 'images', 'revision', 'status', 'tenant', 'updated', 'user', 'verdict']);
    const stored = h.revisions(ns, 'web');
    assert.deepEqual({ ...second, updated: undefined, rollout: undefined }, {
      revision: 3,
      updated: undefined,
      rollout: undefined,
      status: 'deployed',
      verdict: 'verified',
      description: stored[2]!.description,
      chart: 'web-0.1.0',
      tenant: 'shop',
      commit: 'deadbee',
      approver: 'erin',
      approval: 'unverified',
      user: 'dave',
      fieldManager: 'kubectl-set',
      changeId: stored[2]!.labels[`${PREFIX}change-id`],
      images: ['web=nginx:1.27'],
    });
    assert.match(second!.updated, /^\d{4}-\d\d-\d\dT/);
    assert.equal(first!.user, 'alice');
  });

  it('a workload that does not exist and was never recorded is one line, exit 2', async () => {
    const res = await h.cli(['history', `${ns}/nope`]);
    assert.equal(res.code, 2);
    assert.equal(res.stderr, `tracegate history: no history for deployment ${ns}/nope: it does not exist and nothing was recorded for it\n`);
  });
});

describe('tracegate rollback', () => {
  it('replaces the Deployment with revision 1 as tracegate-rollback with provenance (a guarded update), writes "Rollback to 1" and supersedes the previous', async () => {
    const mark = h.server.requests.length;
    const calls = h.admissions.length;
    const res = await h.cli(['rollback', `${ns}/web`, '1', '--approver', 'carol'], { kubeconfig: frank });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `Rollback was a success: ${ns}/web is now revision 4 (rollback to 1).\n`);

    const put = h.server.requests.slice(mark).find((r) => r.method === 'PUT' && r.path === `/apis/apps/v1/namespaces/${ns}/deployments/web`);
    assert.equal(put?.status, 200);
    assert.equal(put?.query['fieldManager'], 'tracegate-rollback');
    const apply = put;
    assert.equal(apply?.user, 'frank');
    const review = h.admissions.slice(calls).find((c) => c.name === 'web' && !c.subResource);
    assert.equal(review?.operation, 'UPDATE');
    assert.equal(review?.options?.fieldManager, 'tracegate-rollback');
    assert.equal(review?.userInfo.username, 'frank');
    assert.equal(review?.object.metadata.annotations[`${PREFIX}approver`], 'carol');
    assert.equal(review?.object.metadata.annotations[CHANGE_CAUSE], 'Rollback to 1');
    assert.equal(review?.object.metadata.annotations['meta.helm.sh/release-name'], 'web');

    await rec.settled(ns, 'web');
    assert.deepEqual(table('web'), ['1 superseded', '2 superseded', '3 superseded', '4 deployed'], 'and the recorder records nothing more');
    const [rev1, , , rev4] = h.revisions(ns, 'web');
    assert.equal(rev4!.description, 'Rollback to 1');
    assert.equal(rev4!.manifest, rev1!.manifest);
    assert.equal(rev4!.labels[`${PREFIX}rollback-of`], '1');
    assert.equal(rev4!.labels[`${PREFIX}approver`], 'carol');
    assert.equal(rev4!.labels[`${PREFIX}changed-by`], 'frank');
    assert.equal(rev4!.labels[`${PREFIX}field-manager`], 'tracegate-rollback');
    assert.equal(rev4!.labels[`${PREFIX}verified`], undefined, 'the CLI has no key to check the stamps: the trail entry carries the verdict');
    const trail = JSON.parse((await h.cli(['history', `${ns}/web`, '-o', 'json'])).stdout) as Any;
    const entry = (trail.revisions as Any[]).find((r) => r.revision === 4);
    assert.deepEqual([entry?.verdict, entry?.user, entry?.approver], ['verified', 'frank', 'carol']);
    const live = h.deployment(ns, 'web');
    assert.equal(imageOf(live), 'nginx:1.25');
    assert.ok(runsManifest(live, rev1!.manifest));
    const history = (await h.ok(h.tools.helm, ['history', 'web', '-n', ns])).stdout;
    assert.match(history, /^4\s.*deployed.*Rollback to 1\s*$/m);
  });

  it('retries 429 (honouring Retry-After) and 5xx, and succeeds', async () => {
    const mark = h.server.requests.length;
    h.server.faults.inject({ method: 'PUT', path: new RegExp(`/namespaces/${ns}/deployments/web`), status: 429, retryAfterSeconds: 1, count: 2 });
    h.server.faults.inject({ method: 'POST', path: new RegExp(`/namespaces/${ns}/secrets`), status: 429, retryAfterSeconds: 1, count: 1 });
    h.server.faults.inject({ method: 'PUT', path: new RegExp(`/namespaces/${ns}/secrets`), status: 503, count: 1 });
    const res = await h.cli(['rollback', `${ns}/web`, '2', '--approver', 'carol'], { kubeconfig: frank });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(h.server.faults.pending(), 0);
    const statuses = h.server.requests
      .slice(mark)
      .filter((r) => r.user === 'frank' && r.method !== 'GET')
      .map((r) => `${r.method} ${r.path.includes('/secrets') ? 'secrets' : 'deployments'} ${r.status}`);
    assert.deepEqual(statuses, [
      'POST secrets 429',
      'POST secrets 201',
      'PUT deployments 429',
      'PUT deployments 429',
      'PUT deployments 200',
      'PUT secrets 503',
      'PUT secrets 200',
      'PUT secrets 200',
    ]);
    await rec.settled(ns, 'web');
    assert.deepEqual(table('web').slice(3), ['4 superseded', '5 deployed']);
    assert.equal(h.revisions(ns, 'web')[4]!.labels[`${PREFIX}commit`], 'c0ffee1', 'the commit of the revision rolled back to');
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.26');
  });

  it('runs several rollbacks one at a time, highest --priority first', async () => {
    const mark = h.server.requests.length;
    const res = await h.cli(['rollback', `${ns}/web`, '3', `${ns}/api`, '1', '--priority', `${ns}/api=5`, '--approver', 'carol'], { kubeconfig: frank });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(res.stdout.trimEnd().split('\n'), [
      `Rollback was a success: ${ns}/api is now revision 3 (rollback to 1).`,
      `Rollback was a success: ${ns}/web is now revision 6 (rollback to 3).`,
    ]);
    const applies = h.server.requests.slice(mark).filter((r) => r.method === 'PUT' && r.path.includes('/deployments/')).map((r) => r.path.split('/').at(-1));
    assert.deepEqual(applies, ['api', 'web']);
    assert.equal(imageOf(h.deployment(ns, 'api')), 'nginx:1.25');
    assert.equal(imageOf(h.deployment(ns, 'web')), 'nginx:1.27');
  });

  it('an unknown revision is exit 2 and lists the known ones', async () => {
    const res = await h.cli(['rollback', `${ns}/web`, '99'], { kubeconfig: frank });
    assert.equal(res.code, 2);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /rollback of cli\/web to 99 failed: release cli\/web has no revision 99 \(revisions: 1, 2, 3, 4, 5, 6\)/);
    assert.equal(table('web').length, 6, 'nothing written');
  });
});

describe('tracegate record', () => {
  it('records changes until SIGTERM, then releases its Lease and exits 0', async () => {
    const other = 'cli-record';
    h.namespace(other);
    await h.ok(h.tools.helm3, ['install', 'web', CHART_DIR, '-n', other]);
    const running = h.cli([
      'record', '-n', other, '--lease-namespace', LEASE_NAMESPACE, '--lease-name', 'cli-record', '--identity', 'cli-recorder',
      '--metrics-port', '0', '--history-max', '5', '--log-level', 'silent',
    ]);
    const holder = (): string | undefined => (h.server.store.get('leases', LEASE_NAMESPACE, 'cli-record')?.['spec'] as Any | undefined)?.['holderIdentity'];
    await h.waitFor('tracegate record to take the Lease', () => holder() === 'cli-recorder');
    await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'web=nginx:1.26', '-n', other]);
    await h.waitFor('the change to be recorded', () => h.revisions(other, 'web').length === 2);
    h.signals.emit('SIGTERM');
    const res = await running;
    assert.equal(res.code, 0, res.stderr);
    assert.equal(holder(), '', 'the Lease is released for the next replica');
    assert.deepEqual(h.revisions(other, 'web').map((r) => `${r.version} ${r.status}`), ['1 superseded', '2 deployed']);
  });
});
