/**
 * Rollback restores exactly the recorded revision, with the real helm 3 and 4 and kubectl: after
 * `kubectl set image` and a `kubectl patch` that adds a sidecar (each owned by its own field manager), a
 * rollback leaves the revision's pod template field for field — as `helm get manifest --revision N`
 * shows it — whoever changed it in between. Also: `--dry-run` writes nothing, `--to-last-good` skips
 * UNVERIFIED and unfinished states, a concurrent writer is re-read rather than overwritten, and a
 * StatefulSet rolls back like a Deployment.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { templateDiff } from '../../src/rollback/restore.js';
import { findWorkloadDoc } from '../../src/recorder/workload-patch.js';
import { splitManifest } from '../../src/yaml/manifest-doc.js';
import { startStoryCluster, type Any, type As, type StoryCluster } from '../support/cluster.js';
import { ALICE, CAROL, CHART, CI, helmHistory, ok, teamImage } from './helpers.js';

const NS = 'team-a';
const PREFIX = 'tracegate.io/';
let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({ namespaces: [{ name: NS, tenant: NS }], historyMax: 0 });
});

after(async () => {
  await c?.close();
});

/** Provenance for Helm as CI passes it. */
const by = (commit: string) => ['--set-string', `annotations.ci/commit=${commit}`, '--set-string', 'annotations.approvedBy=carol'];

async function annotate(kind: string, name: string, commit: string, as: As = ALICE): Promise<void> {
  ok(await c.kubectl(['annotate', `${kind}/${name}`, `ci/commit=${commit}`, 'approvedBy=bob', '--overwrite', '-n', NS], as), 'kubectl annotate');
}

/** A sidecar every bundled policy accepts. */
function sidecarPatch(): string {
  const resources = { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } };
  return JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', image: teamImage('2.0.0', 'proxy'), resources, env: [{ name: 'MODE', value: 'tap' }] }] } } } });
}

/** The revision's workload document, as `helm get manifest --revision N` prints it. */
async function revisionDoc(release: string, revision: number, kind = 'Deployment', name = release): Promise<KubeObject> {
  const manifest = ok(await c.helm(['get', 'manifest', release, '-n', NS, '--revision', String(revision)], CI), 'helm get manifest').stdout;
  const part = findWorkloadDoc(splitManifest(manifest), kind, name);
  assert.ok(part, `revision ${revision} holds ${kind} ${name}`);
  return { ...(part.doc.toJS() as KubeObject), kind };
}

/** Asserts the live workload's pod template is the revision's, field for field (apiserver defaults aside). */
async function assertRunsExactly(release: string, revision: number, resource = 'deployments', kind = 'Deployment', name = release): Promise<void> {
  const target = await revisionDoc(release, revision, kind, name);
  const live = c.object(resource, NS, name) as KubeObject | undefined;
  assert.ok(live, `${kind} ${name} exists`);
  assert.deepEqual(templateDiff(target, { ...live, kind }, PREFIX), [], `the live ${kind} differs from revision ${revision}`);
  const names = (t: Any) => (t['spec']['template']['spec']['containers'] as Any[]).map((x) => `${x['name']}=${x['image']}`);
  assert.deepEqual(names(live as Any), names(target as Any));
}

async function history(ref: string): Promise<Any[]> {
  const res = await c.tracegate(['history', ref, '-o', 'json'], CI);
  assert.equal(res.code, 0, res.stderr);
  return (JSON.parse(res.stdout) as Any)['revisions'] as Any[];
}

describe('tracegate rollback restores exactly the revision', () => {
  it('helm install → kubectl set image → kubectl patch (a sidecar) → rollback to 1 leaves exactly revision 1', async () => {
    ok(await c.helm(['install', 'web', CHART, '-n', NS, ...by('1111111')], CI), 'helm install');
    await c.recorded(NS, 'web');
    await annotate('deployment', 'web', '2222222');
    ok(await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.5.0')}`, '-n', NS], ALICE), 'kubectl set image');
    await c.recorded(NS, 'web');
    await annotate('deployment', 'web', '3333333');
    ok(await c.kubectl(['patch', 'deployment/web', '-n', NS, '--type', 'strategic', '-p', sidecarPatch()], ALICE), 'kubectl patch (sidecar)');
    await c.recorded(NS, 'web');
    const managers = (c.deployment(NS, 'web')!['metadata']['managedFields'] as Any[]).map((m) => m['manager']);
    assert.ok(managers.includes('kubectl-patch') && managers.includes('kubectl-set'), `foreign managers own fields: ${managers.join(', ')}`);

    const res = await c.tracegate(['rollback', 'team-a/web', '1'], CI);
    assert.equal(res.stderr, '');
    assert.equal(res.stdout, 'Rollback was a success: team-a/web is now revision 4 (rollback to 1).\n');
    await assertRunsExactly('web', 1);
    await c.recorded(NS, 'web');
    const rows = await helmHistory(c, 'web', NS);
    assert.deepEqual(rows.map((r) => [r.revision, r.status, r.revision === 4 ? r.description : '']), [
      [1, 'superseded', ''],
      [2, 'superseded', ''],
      [3, 'superseded', ''],
      [4, 'deployed', 'Rollback to 1'],
    ]);
    const last = (await history('team-a/web')).at(-1)!;
    assert.deepEqual([last['revision'], last['verdict'], last['fieldManager'], last['commit']], [4, 'verified', 'tracegate-rollback', '1111111']);
  });

  it('--dry-run prints the object and every field it would change, asks the gate, and writes nothing', async () => {
    await annotate('deployment', 'web', '4444444');
    ok(await c.kubectl(['patch', 'deployment/web', '-n', NS, '--type', 'strategic', '-p', sidecarPatch()], ALICE), 'kubectl patch (sidecar again)');
    await c.recorded(NS, 'web');
    const before = { revisions: (await helmHistory(c, 'web', NS)).length, rv: c.deployment(NS, 'web')!['metadata']['resourceVersion'] };

    const res = await c.tracegate(['rollback', 'team-a/web', '2', '--dry-run'], CI);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^# deployment team-a\/web: release team-a\/web revision 5 → rollback to 2 \(dry run: nothing written\)\n/);
    assert.match(res.stdout, /^# {3}remove spec\.template\.spec\.containers\[name=sidecar\]$/m);
    assert.match(res.stdout, /^# {3}set spec\.template\.spec\.containers\[name=web\]\.image$/m);
    assert.match(res.stdout, /^# the API server and its webhooks would admit it$/m);
    assert.match(res.stdout, /^kind: Deployment$/m);
    assert.match(res.stdout, new RegExp(`image: ${teamImage('1.5.0').replace(/[.]/g, '\\.')}$`, 'm'));
    assert.doesNotMatch(res.stdout, /name: sidecar/);
    assert.equal((await helmHistory(c, 'web', NS)).length, before.revisions, 'no revision written');
    assert.equal(c.deployment(NS, 'web')!['metadata']['resourceVersion'], before.rv, 'the Deployment untouched');
  });

  it('a concurrent write between read and replace is a 409: re-read and redone, never a silent merge', async () => {
    c.server.faults.inject({ method: 'PUT', path: /\/namespaces\/team-a\/deployments\/web(\?|$)/, status: 409, message: 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again' });
    const res = await c.tracegate(['rollback', 'team-a/web', '2'], CI);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(c.server.faults.pending(), 0, 'the conflict was served');
    await assertRunsExactly('web', 2);
    await c.recorded(NS, 'web');
  });

  it('--to-last-good passes over an UNVERIFIED state and picks the newest verified one that rolled out', async () => {
    // A change past the gate (its webhooks out of the way): recorded UNVERIFIED.
    const configs = c.configs;
    c.useConfigs({ mutating: [], validating: [] });
    try {
      ok(await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('6.6.6')}`, '-n', NS], ALICE), 'kubectl set image past the gate');
    } finally {
      c.useConfigs(configs);
    }
    await c.recorded(NS, 'web');
    const rows = await history('team-a/web');
    const current = rows.at(-1)!;
    assert.equal(current['verdict'], 'unverified');
    const previous = rows.at(-2)!;
    await c.waitFor('the previous rollout marked complete', async () => (await history('team-a/web')).find((r) => r['revision'] === previous['revision'])?.['rollout'] === 'complete');

    const res = await c.tracegate(['rollback', 'team-a/web', '--to-last-good'], CI);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `Rollback was a success: team-a/web is now revision ${current['revision'] + 1} (rollback to ${previous['revision']}).\n`);
    await assertRunsExactly('web', previous['revision']);
    await c.recorded(NS, 'web');
  });

  it('--to-last-good with nothing good to return to is one line, exit 2', async () => {
    const body = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'lonely', namespace: NS, annotations: { 'ci/commit': '5555555', approvedBy: 'bob' } }, spec: { selector: { matchLabels: { app: 'lonely' } }, template: { metadata: { labels: { app: 'lonely' } }, spec: { containers: [{ name: 'lonely', image: teamImage('1.0.0'), resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '20m', memory: '32Mi' } } }] } } } };
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(body) }), 'kubectl apply');
    await c.recorded(NS, 'lonely');
    const res = await c.tracegate(['rollback', 'team-a/lonely', '--to-last-good'], CI);
    assert.equal(res.code, 2);
    assert.equal(res.stderr, 'rollback of team-a/lonely to the last good revision failed: no revision before 1 is verified and rolled out completely\n');
  });
});

describe('every recorded kind rolls back the same way', () => {
  it('a StatefulSet changed by kubectl set image and kubectl patch rolls back to its first recorded revision', async () => {
    const resources = { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '20m', memory: '32Mi' } };
    const sts = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NS, annotations: { 'ci/commit': '6666661', approvedBy: 'bob' } }, spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: teamImage('15.0', 'db'), resources }] } } } };
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(sts) }), 'kubectl apply');
    await c.recorded(NS, 'db', 'StatefulSet');
    await annotate('statefulset', 'db', '6666662');
    ok(await c.kubectl(['set', 'image', 'statefulset/db', `db=${teamImage('16.0', 'db')}`, '-n', NS], ALICE), 'kubectl set image');
    await c.recorded(NS, 'db', 'StatefulSet');
    await annotate('statefulset', 'db', '6666663');
    ok(await c.kubectl(['patch', 'statefulset/db', '-n', NS, '--type', 'strategic', '-p', sidecarPatch()], ALICE), 'kubectl patch (sidecar)');
    await c.recorded(NS, 'db', 'StatefulSet');

    const res = await c.tracegate(['rollback', 'team-a/sts/db', '1'], CI);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'Rollback was a success: team-a/db is now revision 4 (rollback to 1).\n');
    await assertRunsExactly('db', 1, 'statefulsets', 'StatefulSet');
  });
});

/** A fresh release changed twice outside Helm: kubectl set image, then a sidecar through kubectl patch. */
async function installAndDrift(name: string, helm3: boolean, commits: [string, string, string]): Promise<void> {
  ok(await c.helm(['install', name, CHART, '-n', NS, ...by(commits[0])], { ...CI, helm3 }), 'helm install');
  await c.recorded(NS, name);
  await annotate('deployment', name, commits[1]);
  ok(await c.kubectl(['set', 'image', `deployment/${name}`, `web=${teamImage('1.5.0')}`, '-n', NS], ALICE), 'kubectl set image');
  await c.recorded(NS, name);
  await annotate('deployment', name, commits[2]);
  ok(await c.kubectl(['patch', `deployment/${name}`, '-n', NS, '--type', 'strategic', '-p', sidecarPatch()], ALICE), 'kubectl patch (sidecar)');
  await c.recorded(NS, name);
}

/** Waits until the live Deployment is exactly the revision (the recorder finishes an inexact helm rollback). */
async function waitExactly(name: string, revision: number): Promise<void> {
  const target = await revisionDoc(name, revision);
  await c.waitFor(`${name} to run exactly revision ${revision}`, () => templateDiff(target, { ...(c.deployment(NS, name) as KubeObject), kind: 'Deployment' }, PREFIX).length === 0);
  await assertRunsExactly(name, revision);
}

describe('helm rollback lands on exactly revision N', () => {
  for (const helm3 of [true, false]) {
    const name = helm3 ? 'hr3' : 'hr4';
    const v = helm3 ? 'helm 3' : 'helm 4';
    // Helm 4 applies the revision server-side: the image kubectl-set owns conflicts without --force-conflicts (Helm's rule).
    const flags = helm3 ? [] : ['--force-conflicts'];
    it(`${v}: after kubectl set image and a kubectl patch sidecar, a first rollback refused by the gate and retried leaves exactly revision 1`, async () => {
      await installAndDrift(name, helm3, helm3 ? ['a000001', 'a000002', 'a000003'] : ['b000001', 'b000002', 'b000003']);
      // Carol approved revision 1 herself: the gate refuses her rollback to it (separation of duties), and
      // Helm records the attempt failed — with revision 1's manifest, which Helm 3 diffs against next time.
      const refused = await c.helm(['rollback', name, '1', '-n', NS, ...flags], { ...CAROL, helm3 });
      assert.equal(refused.code, 1, `the first rollback was admitted:\n${refused.stdout}${refused.stderr}`);
      assert.match(refused.stderr, /admission webhook "validate\.tracegate\.io" denied the request/);
      await c.recorded(NS, name);
      assert.equal((await helmHistory(c, name, NS)).at(-1)?.status, 'failed');

      ok(await c.helm(['rollback', name, '1', '-n', NS, ...flags], { ...CI, helm3 }), `${v} rollback (retried by CI)`);
      await waitExactly(name, 1);
      await c.recorded(NS, name);
      const rows = await helmHistory(c, name, NS);
      assert.deepEqual([rows.at(-1)?.status, rows.at(-1)?.description], ['deployed', 'Rollback to 1'], 'Helm\'s rollback revision is the deployed one; the recorder adds no revision');
      const trail = await history(`team-a/${name}`);
      assert.ok(trail.some((r) => /helm rollback left .*containers\[name=sidecar\].*tracegate restores revision 1 exactly/.test(String(r['description'])) || (r['fieldManager'] === 'tracegate-recorder' && r['revision'] === rows.at(-1)!.revision)), 'the trail shows the repair');
    });
  }

  for (const helm3 of [true, false]) {
    const name = helm3 ? 'side3' : 'side4';
    it(`${helm3 ? 'helm 3' : 'helm 4'}: after only a sidecar was added (no field of revision 1 changed), helm rollback leaves exactly revision 1`, async () => {
      ok(await c.helm(['install', name, CHART, '-n', NS, ...by(helm3 ? 'd000001' : 'e000001')], { ...CI, helm3 }), 'helm install');
      await c.recorded(NS, name);
      await annotate('deployment', name, helm3 ? 'd000002' : 'e000002');
      ok(await c.kubectl(['patch', `deployment/${name}`, '-n', NS, '--type', 'strategic', '-p', sidecarPatch()], ALICE), 'kubectl patch (sidecar)');
      await c.recorded(NS, name);
      // Helm 4's apply changes no template field here (the gate's stamps keep naming kubectl-patch): the
      // recorder recognises the template Helm's rollback superseded and finishes the rollback.
      ok(await c.helm(['rollback', name, '1', '-n', NS, ...(helm3 ? [] : ['--force-conflicts'])], { ...CI, helm3 }), 'helm rollback');
      await waitExactly(name, 1);
      await c.recorded(NS, name);
      const rows = await helmHistory(c, name, NS);
      assert.deepEqual([rows.at(-1)?.status, rows.at(-1)?.description], ['deployed', 'Rollback to 1']);
    });
  }

  it('helm 4 server-side rollback without drift needs no repair: the recorder writes nothing', async () => {
    ok(await c.helm(['install', 'calm', CHART, '-n', NS, ...by('c000001')], CI), 'helm install');
    await c.recorded(NS, 'calm');
    ok(await c.helm(['upgrade', 'calm', CHART, '-n', NS, '--set', 'image.tag=1.6.0', ...by('c000002')], CI), 'helm upgrade');
    await c.recorded(NS, 'calm');
    const writes = () => c.server.requests.filter((r) => r.user === 'system:serviceaccount:tracegate:tracegate-recorder' && r.method === 'PUT' && r.path.includes('/deployments/')).length;
    const before = writes();
    ok(await c.helm(['rollback', 'calm', '1', '-n', NS], CI), 'helm rollback');
    await c.recorded(NS, 'calm');
    await assertRunsExactly('calm', 1);
    assert.equal(writes(), before);
  });
});
