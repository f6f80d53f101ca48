/**
 * A history that stays true, with the real helm 3 and 4 and kubectl: every revision attributed to the
 * change that made it (Helm's to Helm's caller, never inherited from copied labels); a deleted workload's
 * release shows it uninstalled, by whom, and its trail stays readable; revisions Helm prunes stay in the
 * trail; a workload Argo CD manages is recorded but never adopted; a workload that never existed is one
 * line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startStoryCluster, type Any, type As, type StoryCluster } from '../support/cluster.js';
import { ALICE, CHART, CI, compliantDeployment, helmHistory, ok, teamImage } from './helpers.js';

const NS = 'team-a';
const BOB: As = { user: 'bob', groups: ['team-a:developers'] };
/** Provenance keys as CI and people write them. */
const by = (commit: string, approver = 'carol') => ['--set-string', `annotations.ci/commit=${commit}`, '--set-string', `annotations.approvedBy=${approver}`];

let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({ namespaces: [{ name: NS, tenant: NS }, { name: 'team-b', tenant: 'team-b' }] });
});

after(async () => {
  await c?.close();
});

async function history(ref: string, as: As = CI): Promise<Any> {
  const res = await c.tracegate(['history', ref, '-o', 'json'], as);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as Any;
}

/** kubectl annotate with a new commit and an approver, then kubectl set image: the annotate-first flow. */
async function aliceSetsImage(name: string, tag: string, commit: string, container = 'web'): Promise<void> {
  ok(await c.kubectl(['annotate', `deployment/${name}`, `ci/commit=${commit}`, 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
  ok(await c.kubectl(['set', 'image', `deployment/${name}`, `${container}=${teamImage(tag)}`, '-n', NS], ALICE), 'kubectl set image');
  await c.recorded(NS, name);
}

for (const helm3 of [true, false]) {
  const name = helm3 ? 'attr3' : 'attr4';
  const helmArgs = (args: string[]) => c.helm(args, { ...CI, helm3 });
  describe(`attribution is the change's own (helm ${helm3 ? 3 : 4})`, () => {
    it('helm install → kubectl set image → helm upgrade → kubectl set image: each revision names who made it', async () => {
      ok(await helmArgs(['install', name, CHART, '-n', NS, ...by('1111111')]), 'helm install');
      await c.recorded(NS, name);
      await aliceSetsImage(name, '1.5.0', '2222222');
      // Helm 4 applies server-side: the image field kubectl-set now owns needs --force-conflicts (Helm's rule).
      ok(await helmArgs(['upgrade', name, CHART, '-n', NS, '--set', 'image.tag=1.6.0', ...by('3333333'), ...(helm3 ? [] : ['--force-conflicts'])]), 'helm upgrade');
      await c.recorded(NS, name);
      await aliceSetsImage(name, '1.7.0', '4444444');

      const rows = (await history(`${NS}/${name}`)).revisions as Any[];
      assert.deepEqual(
        rows.map((r) => [r.revision, r.user, r.fieldManager, r.commit, r.verdict]),
        [
          [1, CI.user, 'helm', '1111111', 'verified'],
          [2, 'alice', 'kubectl-set', '2222222', 'verified'],
          [3, CI.user, 'helm', '3333333', 'verified'],
          [4, 'alice', 'kubectl-set', '4444444', 'verified'],
        ],
      );
      // helm history agrees on the revisions; Helm copied revision 2's labels into 3, which tracegate ignores.
      assert.deepEqual((await helmHistory(c, name, NS)).map((r) => [r.revision, r.status]), [[1, 'superseded'], [2, 'superseded'], [3, 'superseded'], [4, 'deployed']]);
    });
  });
}

describe('deletion is a revision', () => {
  it('a recorded Helm release: uninstalled, by whom, and the trail of the deleted workload stays readable', async () => {
    ok(await c.kubectl(['delete', 'deployment/attr3', '-n', NS], BOB), 'kubectl delete');
    await c.waitFor('the deletion in the trail', async () => (await history(`${NS}/attr3`)).revisions.some((r: Any) => r.status === 'deleted'));
    const helmRows = await helmHistory(c, 'attr3', NS);
    assert.deepEqual(helmRows.at(-1) && [helmRows.at(-1)!.revision, helmRows.at(-1)!.status], [4, 'uninstalled']);
    assert.match(helmRows.at(-1)!.description, /^Deployment team-a\/attr3 deleted by bob \(recorded by tracegate\)$/);
    const out = await history(`${NS}/attr3`);
    assert.equal(out.workload.exists, false);
    const deleted = out.revisions.at(-1) as Any;
    assert.deepEqual([deleted.status, deleted.user, deleted.verdict, deleted.revision], ['deleted', 'bob', 'verified', 4]);
    const table = await c.tracegate(['history', `${NS}/attr3`], CI);
    assert.match(table.stdout, /^deployment team-a\/attr3 \(deleted\)$/m);
  });

  it('an adopted workload: its release is uninstalled; created again, it is recorded anew', async () => {
    ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(compliantDeployment('adopted', NS, { 'ci/commit': '5555555', approvedBy: 'bob' })) }), 'kubectl apply');
    await c.recorded(NS, 'adopted');
    ok(await c.kubectl(['delete', 'deployment/adopted', '-n', NS], BOB), 'kubectl delete');
    await c.waitFor('the adopted release uninstalled', async () => (await helmHistory(c, 'adopted', NS)).at(-1)?.status === 'uninstalled');
    ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(compliantDeployment('adopted', NS, { 'ci/commit': '6666666', approvedBy: 'bob' })) }), 'kubectl apply again');
    await c.recorded(NS, 'adopted');
    assert.deepEqual((await helmHistory(c, 'adopted', NS)).map((r) => r.status), ['uninstalled', 'deployed']);
    const rows = (await history(`${NS}/adopted`)).revisions as Any[];
    assert.deepEqual(rows.map((r) => [r.status, r.commit ?? r.user]), [['uninstalled', '5555555'], ['deleted', 'bob'], ['deployed', '6666666']]);
  });
});

describe('retention', () => {
  it('twelve changes later, the revisions Helm pruned are still in the trail, with who and what', async () => {
    ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(compliantDeployment('busy', NS, { 'ci/commit': '7000000', approvedBy: 'bob' })) }), 'kubectl apply');
    await c.recorded(NS, 'busy');
    for (let i = 1; i <= 12; i++) {
      const patch = { metadata: { annotations: { 'tracegate.io/commit': `70000${String(i).padStart(2, '0')}`, 'tracegate.io/approver': 'bob' } }, spec: { template: { spec: { containers: [{ name: 'busy', image: teamImage(`1.0.${i}`) }] } } } };
      ok(await c.kubectl(['patch', 'deployment/busy', '-n', NS, '--type', 'strategic', '-p', JSON.stringify(patch)], ALICE), `kubectl patch ${i}`);
      await c.recorded(NS, 'busy');
    }
    assert.equal((await helmHistory(c, 'busy', NS)).length, 10, 'Helm keeps --history-max revisions');
    const rows = (await history(`${NS}/busy`)).revisions as Any[];
    assert.equal(rows.length, 13, 'the trail keeps every change');
    assert.deepEqual(rows.slice(0, 3).map((r) => [r.revision, r.status, r.commit]), [[1, 'pruned', '7000000'], [2, 'pruned', '7000001'], [3, 'pruned', '7000002']]);
    assert.deepEqual(rows.at(-1) && [rows.at(-1)!.revision, rows.at(-1)!.status, rows.at(-1)!.user], [13, 'deployed', 'alice']);
  });
});

describe('one owner', () => {
  it('a Deployment Argo CD manages is recorded in its trail, never adopted, and history says who owns it', async () => {
    const argo = compliantDeployment('argo-web', NS, { 'argocd.argoproj.io/tracking-id': 'shop:apps/Deployment:team-a/argo-web', 'ci/commit': '8888888', approvedBy: 'bob' });
    ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(argo) }), 'kubectl apply');
    await c.recorded(NS, 'argo-web');
    await aliceSetsImage('argo-web', '2.0.0', '9999999', 'argo-web');
    const helm = await c.helm(['history', 'argo-web', '-n', NS], CI);
    assert.equal(helm.code, 1, 'no Helm release');
    assert.match(helm.stderr, /release: not found/);
    const out = await history(`${NS}/argo-web`);
    assert.equal(out.owner, 'Argo CD application shop');
    assert.equal(out.release, null);
    assert.deepEqual((out.revisions as Any[]).map((r) => [r.revision, r.user, r.commit]), [[undefined, CI.user, '8888888'], [undefined, 'alice', '9999999']]);
    const table = await c.tracegate(['history', `${NS}/argo-web`], CI);
    assert.match(table.stdout, /^managed by Argo CD application shop: recorded in tracegate's trail only, never adopted into a Helm release$/m);
  });
});

describe('a release in another namespace', () => {
  it('a team-a Deployment naming team-b\'s release in Helm\'s annotations never writes into it, nor reads it back', async () => {
    ok(await c.helm(['install', 'payments', CHART, '-n', 'team-b', ...by('5555555')], CI), 'helm install in team-b');
    await c.recorded('team-b', 'payments');
    const forged = compliantDeployment('forged', NS, { 'meta.helm.sh/release-name': 'payments', 'meta.helm.sh/release-namespace': 'team-b', 'ci/commit': '6666666', approvedBy: 'bob' });
    ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: stringify(forged) }), 'kubectl apply');
    await c.recorded(NS, 'forged');
    await aliceSetsImage('forged', '6.6.6', '7777777', 'forged');

    const teamB = await helmHistory(c, 'payments', 'team-b');
    assert.equal(teamB.length, 1, `team-b's release is untouched: ${JSON.stringify(teamB)}`);
    const out = await history(`${NS}/forged`);
    assert.equal(out.owner, 'Helm release team-b/payments (in another namespace)');
    assert.equal(out.release, null, 'no release read back into team-a\'s history');
    assert.deepEqual((out.revisions as Any[]).map((r) => [r.user, r.commit]), [['alice', '6666666'], ['alice', '7777777']]);
    const rollback = await c.tracegate(['rollback', `${NS}/forged`, '1'], ALICE);
    assert.equal(rollback.code, 2);
    assert.equal(rollback.stderr, `rollback of ${NS}/forged to 1 failed: deployment ${NS}/forged names Helm release team-b/payments in another namespace: tracegate records it in its trail only, never in that release\n`);
  });
});

describe('a workload that never existed', () => {
  it('is one line from the error table, exit 2, never a stack or an API body', async () => {
    const res = await c.tracegate(['history', `${NS}/statefulset/nope`], CI);
    assert.equal(res.code, 2);
    assert.equal(res.stderr, `tracegate history: no history for statefulset ${NS}/nope: it does not exist and nothing was recorded for it\n`);
  });
});
