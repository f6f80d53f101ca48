/**
 * The users' stories, end to end: the real kubectl and helm binaries (and client-node for programs)
 * against the test API server, whose admission chain calls the real gate as the rendered `manifests/`
 * configure it, while the recorder turns every change into a Helm revision. One cluster for the file;
 * the stories run in order and build one shared history of team A's `web` Deployment.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { startStoryCluster, type StoryCluster } from '../support/cluster.js';
import {
  ALICE,
  BOT,
  CAROL,
  CHART,
  CI,
  HPA,
  TEAM_A_REGISTRY_POLICY,
  annotationsOf,
  appsApi,
  compliantDeployment,
  helmHistory,
  helmLabels,
  imageOf,
  ok,
  outcomes,
  refused,
  runsBy,
  runsRevision,
  teamImage,
} from './helpers.js';

const NS = 'team-a';
const DENIED = 'admission webhook "validate.tracegate.io" denied the request: ';
/** `<id>.<template hash>.<key id>.<MAC>`: the id names the change, the MAC proves the gate issued it. */
const CHANGE_ID = /^([0-9a-z]+)\.[0-9a-f]{16}\.[a-z0-9-]+\.[A-Za-z0-9_-]{22}$/;

let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({
    namespaces: [
      { name: NS, tenant: 'team-a' },
      { name: 'team-b', tenant: 'team-b' },
    ],
    extraPolicies: [TEAM_A_REGISTRY_POLICY],
    // The story makes more than Helm's default 10 revisions and rolls back to the first: keep them all.
    historyMax: 0,
  });
});

after(async () => {
  await c?.close();
});

/** `--set-string` flags carrying CI's provenance into the chart's Deployment annotations. */
function provenance(commit: string, approver: string): string[] {
  return ['--set-string', `annotations.ci/commit=${commit}`, '--set-string', `annotations.approvedBy=${approver}`];
}

describe('an orchestrator creates a Deployment through the API', () => {
  const jobs = () => compliantDeployment('jobs', NS, {}, teamImage('2.0.1', 'jobs'));

  it('without provenance it is refused, and the message says exactly which annotations to add', async () => {
    const apps = await appsApi(c, BOT);
    const { code, status } = await refused(() => apps.createNamespacedDeployment({ namespace: NS, body: jobs() }));
    assert.equal(code, 403);
    assert.equal(status['reason'], 'Forbidden');
    const message = String(status['message']);
    assert.ok(message.startsWith(`${DENIED}Deployment team-a/jobs violates 1 tracegate policy rule:`), message);
    assert.match(message, /create by system:serviceaccount:orchestrator:bot via \S+ \(image jobs: registry\.example\.com\/team-a\/jobs:2\.0\.1\) lacks provenance/);
    assert.ok(
      message.endsWith('Fix: set metadata.annotations tracegate.io/commit=<commit sha>, tracegate.io/approver=<approver other than system:serviceaccount:orchestrator:bot>'),
      message,
    );
    assert.equal(c.deployment(NS, 'jobs'), undefined);
  });

  it('with exactly those annotations it is admitted, stamped and recorded as an adopted release', async () => {
    const apps = await appsApi(c, BOT);
    const body = compliantDeployment('jobs', NS, { 'tracegate.io/commit': 'a41c9e0', 'tracegate.io/approver': 'bob' }, teamImage('2.0.1', 'jobs'));
    await apps.createNamespacedDeployment({ namespace: NS, body });
    const a = annotationsOf(c.deployment(NS, 'jobs'));
    assert.equal(a['tracegate.io/tenant'], 'team-a');
    assert.equal(a['tracegate.io/changed-by'], BOT.user);
    assert.match(a['tracegate.io/change-id'] ?? '', CHANGE_ID);
    await c.recorded(NS, 'jobs');
    const history = await helmHistory(c, 'jobs', NS);
    assert.equal(history.length, 1);
    assert.equal(history[0]?.status, 'deployed');
    assert.match(history[0]?.description ?? '', /^Adopted by tracegate: image jobs: registry\.example\.com\/team-a\/jobs:2\.0\.1 by system:serviceaccount:orchestrator:bot .*\(commit a41c9e0, approved by bob, change [0-9a-z]+\) \(recorded[;)]/);
  });
});

describe('CI deploys with helm upgrade --install', () => {
  it('commit and approver set through the chart: admitted, stamped with tenant/commit/approver/change-id, one Helm revision', async () => {
    const start = c.chain.history.length;
    const res = ok(await c.helm(['upgrade', '--install', 'web', CHART, '-n', NS, ...provenance('3f2a9c1', 'bob')], CI), 'helm upgrade --install');
    assert.match(res.stdout, /^Release "web" does not exist\. Installing it now\.\n/);
    assert.match(res.stdout, /\nSTATUS: deployed\nREVISION: 1\n/);
    const a = annotationsOf(c.deployment(NS, 'web'));
    assert.equal(a['tracegate.io/tenant'], 'team-a');
    assert.equal(a['tracegate.io/commit'], '3f2a9c1', 'ci/commit normalised to the canonical key');
    assert.equal(a['tracegate.io/approver'], 'bob', 'approvedBy normalised to the canonical key');
    assert.equal(a['tracegate.io/changed-by'], CI.user);
    assert.equal(a['tracegate.io/field-manager'], 'helm');
    assert.match(a['tracegate.io/change-id'] ?? '', CHANGE_ID);
    assert.deepEqual(outcomes(runsBy(c, start, CI.user)), [
      ['mutate.tracegate.io', 'patched'],
      ['validate.tracegate.io', 'allowed'],
    ]);

    await c.recorded(NS, 'web');
    const history = await helmHistory(c, 'web', NS);
    assert.deepEqual(history.map((h) => [h.revision, h.status, h.description]), [[1, 'deployed', 'Install complete']], 'Helm wrote its revision; the recorder added none');
  });

  it('a deploy that reuses the commit of the version it replaces is refused; a new commit upgrades', async () => {
    // Its own release, so that the failed upgrade does not become part of web's history.
    ok(await c.helm(['upgrade', '--install', 'checkout', CHART, '-n', NS, ...provenance('71c3d2a', 'bob')], CI), 'helm install checkout');
    const same = await c.helm(['upgrade', '--install', 'checkout', CHART, '-n', NS, '--set', 'image.tag=1.4.3', ...provenance('71c3d2a', 'bob')], CI);
    assert.equal(same.code, 1);
    assert.match(
      same.stderr,
      /\nError: UPGRADE FAILED: admission webhook "validate\.tracegate\.io" denied the request: Deployment team-a\/checkout violates 1 tracegate policy rule:\n {2}1\. change by system:serviceaccount:ci:deployer via helm \(image web: registry\.example\.com\/team-a\/web:1\.4\.2 → registry\.example\.com\/team-a\/web:1\.4\.3\) lacks provenance: commit 71c3d2a is not new/,
    );
    assert.equal(imageOf(c.deployment(NS, 'checkout')), teamImage('1.4.2'));

    const res = ok(await c.helm(['upgrade', '--install', 'web', CHART, '-n', NS, '--set', 'image.tag=1.4.3', ...provenance('5b7d0e4', 'bob')], CI), 'helm upgrade');
    assert.match(res.stdout, /^Release "web" has been upgraded\. Happy Helming!\n/);
    assert.equal(imageOf(c.deployment(NS, 'web')), teamImage('1.4.3'));
    assert.equal(annotationsOf(c.deployment(NS, 'web'))['tracegate.io/commit'], '5b7d0e4');
    await c.recorded(NS, 'web');
    assert.deepEqual((await helmHistory(c, 'web', NS)).map((h) => h.description), ['Install complete', 'Upgrade complete']);
  });
});

describe('an engineer edits with kubectl', () => {
  it('`kubectl set image` without provenance is refused, naming kubectl-set and the image change', async () => {
    const res = await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.5.0')}`, '-n', NS], ALICE);
    assert.equal(res.code, 1);
    assert.ok(res.stderr.startsWith(`error: failed to patch image update to pod template: ${DENIED}Deployment team-a/web violates 1 tracegate policy rule:\n`), res.stderr);
    assert.ok(res.stderr.includes(`1. script-driven edit by alice via kubectl-set (image web: ${teamImage('1.4.3')} → ${teamImage('1.5.0')}) lacks provenance: commit 5b7d0e4 is not new`), res.stderr);
    assert.ok(res.stderr.includes('kubectl set cannot change annotations: run kubectl annotate with them first'), res.stderr);
    assert.equal(imageOf(c.deployment(NS, 'web')), teamImage('1.4.3'));
  });

  it('after `kubectl annotate … ci/commit=<new> approvedBy=bob` the same edit is admitted and recorded', async () => {
    const annotated = ok(await c.kubectl(['annotate', 'deployment/web', 'ci/commit=8f2c1e7', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
    assert.equal(annotated.stdout, 'deployment.apps/web annotated\n');
    await c.recorded(NS, 'web');
    assert.equal((await helmHistory(c, 'web', NS)).length, 2, 'a metadata-only edit is not a revision');

    const res = ok(await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.5.0')}`, '-n', NS], ALICE), 'kubectl set image');
    assert.equal(res.stdout, 'deployment.apps/web image updated\n');
    const a = annotationsOf(c.deployment(NS, 'web'));
    assert.deepEqual([a['tracegate.io/commit'], a['tracegate.io/approver'], a['tracegate.io/changed-by'], a['tracegate.io/field-manager']], ['8f2c1e7', 'bob', 'alice', 'kubectl-set']);
    const changeId = CHANGE_ID.exec(a['tracegate.io/change-id'] ?? '')?.[1];
    assert.ok(changeId);

    await c.recorded(NS, 'web');
    const rev = (await helmHistory(c, 'web', NS))[2];
    assert.equal(rev?.status, 'deployed');
    // The recorder may add a note after "recorded" (e.g. that the chart's values were left as they were).
    assert.ok(rev?.description.startsWith(`image web: ${teamImage('1.4.3')} → ${teamImage('1.5.0')} by alice via kubectl-set (commit 8f2c1e7, approved by bob, change ${changeId}) (recorded`), rev?.description);
  });

  it('approving her own change is refused (separation of duties)', async () => {
    const patch = { metadata: { annotations: { 'ci/commit': 'c0ffee1', approvedBy: 'alice' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.5.1') }] } } } };
    const res = await c.kubectl(['patch', 'deployment/web', '-n', NS, '-p', JSON.stringify(patch)], ALICE);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^Error from server \(Forbidden\): admission webhook "validate\.tracegate\.io" denied the request: .*\n {2}1\. script-driven edit by alice via kubectl-patch .*approver alice is the requester \(separation of duties\)/);
  });

  it('`kubectl patch` carrying commit and approver in the same request is admitted and recorded', async () => {
    const patch = { metadata: { annotations: { 'ci/commit': 'c0ffee1', approvedBy: 'dave' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.5.1') }] } } } };
    const res = ok(await c.kubectl(['patch', 'deployment/web', '-n', NS, '-p', JSON.stringify(patch)], ALICE), 'kubectl patch');
    assert.equal(res.stdout, 'deployment.apps/web patched\n');
    await c.recorded(NS, 'web');
    const rev = (await helmHistory(c, 'web', NS))[3];
    assert.match(rev?.description ?? '', /^image web: \S+:1\.5\.0 → \S+:1\.5\.1 by alice via kubectl-patch \(commit c0ffee1, approved by dave, change [0-9a-z]+\) \(recorded[;)]/);
  });

  it('break-glass by an on-call group member: admitted with a warning kubectl prints, flagged in the history', async () => {
    const reason = 'INC-4711 checkout down';
    ok(await c.kubectl(['annotate', 'deployment/web', `tracegate.io/break-glass=${reason}`, '--overwrite', '-n', NS], CAROL), 'kubectl annotate');
    const res = ok(await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.5.2-hotfix')}`, '-n', NS], CAROL), 'kubectl set image');
    assert.equal(res.stdout, 'deployment.apps/web image updated\n');
    assert.equal(res.stderr, `Warning: break-glass by carol: ${reason} — provenance rules were waived and this change is flagged for review\n`);

    await c.recorded(NS, 'web');
    const rev = (await helmHistory(c, 'web', NS))[4];
    assert.ok(rev?.description.startsWith(`BREAK-GLASS: ${reason}. image web: ${teamImage('1.5.1')} → ${teamImage('1.5.2-hotfix')} by carol via kubectl-set`), rev?.description);
    const labels = await helmLabels(c, 'web', NS, 5);
    assert.equal(labels['tracegate.io/break-glass'], 'true');
    assert.equal(labels['tracegate.io/changed-by'], 'carol');
    assert.equal(labels['tracegate.io/verified'], 'true');
    // Tidy up: left in place it would only flag a later change that break-glass itself lets through.
    ok(await c.kubectl(['annotate', 'deployment/web', 'tracegate.io/break-glass-', '-n', NS], CAROL), 'kubectl annotate (remove)');
  });

  it('break-glass set by someone outside the on-call group is refused', async () => {
    const patch = { metadata: { annotations: { 'tracegate.io/break-glass': 'in a hurry' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.5.3') }] } } } };
    const res = await c.kubectl(['patch', 'deployment/web', '-n', NS, '-p', JSON.stringify(patch)], ALICE);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /break-glass annotation tracegate\.io\/break-glass was set by alice, who is not in tracegate:break-glass/);
    assert.equal(imageOf(c.deployment(NS, 'web')), teamImage('1.5.2-hotfix'));
  });
});

describe('restarts and scaling are never blocked', () => {
  it('`kubectl rollout restart`, `kubectl scale` and an HPA scale pass without provenance and add no revision', async () => {
    const revisions = (await helmHistory(c, 'web', NS)).length;
    const start = c.chain.history.length;
    assert.equal(ok(await c.kubectl(['rollout', 'restart', 'deployment/web', '-n', NS], ALICE), 'rollout restart').stdout, 'deployment.apps/web restarted\n');
    assert.deepEqual(outcomes(runsBy(c, start, ALICE.user)), [
      ['mutate.tracegate.io', 'allowed'],
      ['validate.tracegate.io', 'allowed'],
    ]);

    const scaleStart = c.chain.history.length;
    assert.equal(ok(await c.kubectl(['scale', 'deployment/web', '--replicas=4', '-n', NS], ALICE), 'kubectl scale').stdout, 'deployment.apps/web scaled\n');
    assert.deepEqual(outcomes(runsBy(c, scaleStart, ALICE.user)), [['scale.validate.tracegate.io', 'allowed']]);

    // What the horizontal-pod-autoscaler controller does: read the Scale, PUT it back with new replicas.
    const hpaStart = c.chain.history.length;
    const hpa = await appsApi(c, HPA);
    const scale = await hpa.readNamespacedDeploymentScale({ name: 'web', namespace: NS });
    const scaled = await hpa.replaceNamespacedDeploymentScale({ name: 'web', namespace: NS, body: { ...scale, spec: { replicas: 6 } } });
    assert.equal(scaled.spec?.replicas, 6);
    const hpaRuns = runsBy(c, hpaStart, HPA.user);
    assert.deepEqual(outcomes(hpaRuns), [['scale.validate.tracegate.io', 'allowed']]);
    assert.equal(hpaRuns[0]?.request.subResource, 'scale');
    assert.equal(c.deployment(NS, 'web')?.['spec']['replicas'], 6);

    await c.recorded(NS, 'web');
    assert.equal((await helmHistory(c, 'web', NS)).length, revisions, 'a restart or a scale is not a template change worth a revision');
  });
});

describe('image hygiene and resources: every problem of a deploy in one message', () => {
  it(':latest, untagged, a look-alike registry and missing limits are refused together', async () => {
    const images = [teamImage('latest'), 'registry.example.com/team-a/worker', 'registry.example.com.evil.io/team-a/cache:1.0'];
    const res = await c.kubectl(['create', 'deployment', 'shop', ...images.map((i) => `--image=${i}`), '-n', NS], ALICE);
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.equal(res.stderr.split('admission webhook').length - 1, 1, 'one message');
    assert.ok(res.stderr.startsWith(`error: failed to create deployment: ${DENIED}Deployment team-a/shop violates 10 tracegate policy rules:\n`), res.stderr);
    for (const expected of [
      'container web: image "registry.example.com/team-a/web:latest" uses the disallowed tag "latest"',
      'container worker: image "registry.example.com/team-a/worker" has no tag',
      'container cache: image "registry.example.com.evil.io/team-a/cache:1.0" is not from an allowed registry or repository (allowed: registry.example.com/team-a/)',
      'container web: has no resource requests (needs cpu and memory)',
      'container cache: has no resource limits (needs cpu and memory)',
      'create by alice via kubectl-create',
    ]) {
      assert.ok(res.stderr.includes(expected), `${expected}\n---\n${res.stderr}`);
    }
    assert.equal(c.deployment(NS, 'shop'), undefined);
  });

  it('the registry policy is team A\'s alone: team B may pull a pinned public image', async () => {
    const body = compliantDeployment('cache', 'team-b', { 'ci/commit': 'e1f2a3b', approvedBy: 'erin' }, 'redis:7.4.1');
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(body) }), 'kubectl apply');
    assert.equal(annotationsOf(c.deployment('team-b', 'cache'))['tracegate.io/tenant'], 'team-b');
  });
});

describe('tenancy', () => {
  it('a tenant annotation spoofing another tenant is refused by the mutating webhook', async () => {
    const body = compliantDeployment('spoof', NS, { 'tracegate.io/tenant': 'team-b', 'ci/commit': 'd00d1e5', approvedBy: 'bob' });
    const res = await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(body) });
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      'Error from server (Forbidden): error when creating "STDIN": admission webhook "mutate.tracegate.io" denied the request: annotation tracegate.io/tenant="team-b" does not match the tenant of namespace team-a ("team-a"). Fix: remove the tracegate.io/tenant annotation; tracegate sets it from the namespace\n',
    );
    assert.equal(c.deployment(NS, 'spoof'), undefined);
  });
});

describe('one history for every direction; helm rollback to any revision', () => {
  it('an orchestrator rolls out through the API with provenance: recorded like any other change', async () => {
    const apps = await appsApi(c, BOT);
    const body = { metadata: { annotations: { 'ci/commit': '9d1e2f3', approvedBy: 'bob' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.6.0') }] } } } };
    await apps.patchNamespacedDeployment({ name: 'web', namespace: NS, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    await c.recorded(NS, 'web');
    const rev = (await helmHistory(c, 'web', NS))[5];
    assert.match(rev?.description ?? '', /^image web: \S+:1\.5\.2-hotfix → \S+:1\.6\.0 by system:serviceaccount:orchestrator:bot via \S+ \(commit 9d1e2f3, approved by bob, change [0-9a-z]+\) \(recorded[;)]/);
  });

  it('helm history shows every change with its provenance; Helm\'s own revisions keep CI\'s in their values', async () => {
    const history = await helmHistory(c, 'web', NS);
    assert.deepEqual(history.map((h) => [h.revision, h.status]), [
      [1, 'superseded'],
      [2, 'superseded'],
      [3, 'superseded'],
      [4, 'superseded'],
      [5, 'superseded'],
      [6, 'deployed'],
    ]);
    const who = history.map((h) => /by (\S+) via (\S+) \(commit (\w+), approved by (\w+)/.exec(h.description)?.slice(1) ?? h.description);
    assert.deepEqual(who, [
      'Install complete',
      'Upgrade complete',
      ['alice', 'kubectl-set', '8f2c1e7', 'bob'],
      ['alice', 'kubectl-patch', 'c0ffee1', 'dave'],
      // Break-glass waived the provenance: no commit or approver is claimed for it.
      who[4] as string,
      [BOT.user, who[5]?.[1] ?? '', '9d1e2f3', 'bob'],
    ]);
    assert.match(who[4] as string, /^BREAK-GLASS: INC-4711 checkout down\. image web: \S+:1\.5\.1 → \S+:1\.5\.2-hotfix by carol via kubectl-set \(change [0-9a-z]+\) \(recorded/);
    for (const [rev, commit] of [[1, '3f2a9c1'], [2, '5b7d0e4']] as const) {
      const values = JSON.parse(ok(await c.helm(['get', 'values', 'web', '-n', NS, '--revision', String(rev), '-o', 'json'], CI), 'helm get values').stdout);
      assert.deepEqual(values['annotations'], { 'ci/commit': commit, approvedBy: 'bob' });
    }
    for (const rev of [3, 4, 6]) {
      const labels = await helmLabels(c, 'web', NS, rev);
      assert.equal(labels['tracegate.io/verified'], 'true', `revision ${rev}`);
      assert.equal(labels['tracegate.io/tenant'], 'team-a', `revision ${rev}`);
      assert.match(labels['tracegate.io/change-id'] ?? '', /^[0-9a-z]+$/, `revision ${rev}`);
    }
  });
});

describe('helm rollback, through the gate', () => {
  /** Each rollback in turn, by a different client: helm 3 (client-side), helm 4 client-side and helm 4 server-side. */
  const plan: [number, string, { helm3?: boolean; flags: string[] }][] = [
    [1, 'helm 3', { helm3: true, flags: [] }],
    [4, 'helm 4 --server-side=false', { flags: ['--server-side=false'] }],
    [2, 'helm 4 --force-conflicts', { flags: ['--force-conflicts'] }],
    [5, 'helm 3', { helm3: true, flags: [] }],
    [3, 'helm 4 --force-conflicts', { flags: ['--force-conflicts'] }],
    [6, 'helm 4 --server-side=false', { flags: ['--server-side=false'] }],
  ];

  it('to ANY earlier revision: annotate a fresh commit and approver for the rollback, then helm rollback restores it', async () => {
    for (const [i, [rev, client, how]] of plan.entries()) {
      const commit = `ab${i + 1}e5a7`;
      const before = (await helmHistory(c, 'web', NS)).length;
      ok(await c.kubectl(['annotate', 'deployment/web', `ci/commit=${commit}`, 'approvedBy=bob', '--overwrite', '-n', NS], CI), 'kubectl annotate');
      const start = c.chain.history.length;
      const res = ok(await c.helm(['rollback', 'web', String(rev), '-n', NS, '--history-max=0', ...how.flags], { ...CI, helm3: how.helm3 ?? false }), `${client} rollback web ${rev}`);
      assert.equal(res.stdout, 'Rollback was a success! Happy Helming!\n', client);
      assert.ok(await runsRevision(c, 'web', NS, rev), `${client}: the live Deployment runs revision ${rev}'s pod template`);
      assert.ok(outcomes(runsBy(c, start, CI.user)).some(([w, o]) => w === 'validate.tracegate.io' && o === 'allowed'), `${client}: the gate judged and admitted the rollback`);
      const a = annotationsOf(c.deployment(NS, 'web'));
      assert.deepEqual([a['tracegate.io/commit'], a['tracegate.io/approver'], a['tracegate.io/changed-by'], a['tracegate.io/field-manager']], [commit, 'bob', CI.user, 'helm'], client);

      await c.recorded(NS, 'web');
      const history = await helmHistory(c, 'web', NS);
      assert.equal(history.length, before + 1, `${client}: Helm's rollback revision only; the recorder adds nothing`);
      assert.deepEqual([history.at(-1)?.status, history.at(-1)?.description], ['deployed', `Rollback to ${rev}`], client);
    }
  });

  it('a plain helm rollback without new provenance is refused: every commit the object carries was used before', async () => {
    const current = annotationsOf(c.deployment(NS, 'web'))['tracegate.io/change-commit'];
    const res = await c.helm(['rollback', 'web', '2', '-n', NS, '--history-max=0'], { ...CI, helm3: true });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^Error: cannot patch "web" with kind Deployment: admission webhook "validate\.tracegate\.io" denied the request: .*\n {2}1\. change by system:serviceaccount:ci:deployer via helm \(image web: \S+ → \S+\) lacks provenance: commit \w+ is not new/);
    await c.recorded(NS, 'web');
    const failed = (await helmHistory(c, 'web', NS)).at(-1);
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.description ?? '', /^Rollback "web" failed: cannot patch "web" with kind Deployment: admission webhook "validate\.tracegate\.io" denied the request/);
    assert.ok(await runsRevision(c, 'web', NS, 6), 'nothing changed');
    assert.equal(annotationsOf(c.deployment(NS, 'web'))['tracegate.io/change-commit'], current);
  });

  it('`tracegate rollback` carries the recorded revision\'s own commit and approver, so the gate admits it', async () => {
    const res = await c.tracegate(['rollback', 'team-a/web', '3'], CI);
    assert.equal(res.stderr, '');
    assert.match(res.stdout, /^Rollback was a success: team-a\/web is now revision \d+ \(rollback to 3\)\.\n$/);
    assert.equal(res.code, 0);
    assert.ok(await runsRevision(c, 'web', NS, 3));
    const a = annotationsOf(c.deployment(NS, 'web'));
    assert.deepEqual([a['tracegate.io/commit'], a['tracegate.io/approver'], a['tracegate.io/field-manager']], ['8f2c1e7', 'bob', 'tracegate-rollback']);
    await c.recorded(NS, 'web');
    const last = (await helmHistory(c, 'web', NS)).at(-1);
    assert.deepEqual([last?.status, last?.description], ['deployed', 'Rollback to 3']);
  });
});

describe('provenance edge cases found by these stories', () => {
  it('one commit never covers two template changes, even when the object still carries an older commit under an alias', async () => {
    const body = compliantDeployment('ledger', NS, { 'ci/commit': 'aa11bb2', approvedBy: 'bob' });
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(body) }), 'kubectl apply');
    ok(await c.kubectl(['annotate', 'deployment/ledger', 'tracegate.io/commit=cc33dd4', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
    ok(await c.kubectl(['set', 'image', 'deployment/ledger', `ledger=${teamImage('1.0.1')}`, '-n', NS], ALICE), 'kubectl set image (commit cc33dd4)');
    // No new provenance: aa11bb2 already covered the create.
    const res = await c.kubectl(['set', 'image', 'deployment/ledger', `ledger=${teamImage('1.0.2')}`, '-n', NS], ALICE);
    assert.equal(res.code, 1, `admitted with the create's commit again:\n${res.stdout}${res.stderr}`);
  });

  it('break-glass flags only the change it waived, not later changes that had their own provenance', async () => {
    const body = compliantDeployment('ledger2', NS, { 'ci/commit': 'ee55ff6', approvedBy: 'bob' });
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(body) }), 'kubectl apply');
    ok(await c.kubectl(['annotate', 'deployment/ledger2', 'tracegate.io/break-glass=INC-4712', '--overwrite', '-n', NS], CAROL), 'kubectl annotate');
    ok(await c.kubectl(['set', 'image', 'deployment/ledger2', `ledger2=${teamImage('1.0.1')}`, '-n', NS], CAROL), 'break-glass set image');
    await c.recorded(NS, 'ledger2');
    ok(await c.kubectl(['annotate', 'deployment/ledger2', 'ci/commit=0a1b2c3', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
    ok(await c.kubectl(['set', 'image', 'deployment/ledger2', `ledger2=${teamImage('1.0.2')}`, '-n', NS], ALICE), 'alice set image with provenance');
    await c.recorded(NS, 'ledger2');
    const last = (await helmHistory(c, 'ledger2', NS)).at(-1);
    assert.doesNotMatch(last?.description ?? '', /BREAK-GLASS/, 'alice did not break glass');
  });

  it('a break-glass change does not claim the previous change\'s commit and approver', async () => {
    const labels = await helmLabels(c, 'web', NS, 5);
    assert.equal(labels['tracegate.io/approver'], undefined, `revision 5 (carol's break-glass) claims approver ${labels['tracegate.io/approver']}`);
  });
});
