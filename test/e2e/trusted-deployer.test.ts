/**
 * helm rollback without per-change provenance: the provenance policy with CI's deployer among
 * `trustedUsers`. A change is exempt only when its user is trusted AND its field manager is a trusted
 * tool (helm), so the same identity with kubectl, or anyone else with helm, still needs provenance.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { bundledPoliciesDir } from '../../src/paths.js';
import { startStoryCluster, type StoryCluster } from '../support/cluster.js';
import { ALICE, CHART, CI, annotationsOf, helmHistory, imageOf, ok, outcomes, runsBy, runsRevision, teamImage } from './helpers.js';

const NS = 'team-a';
const TRUSTED_CI_PROVENANCE = fileURLToPath(new URL('./fixtures/provenance-trusted-ci.yaml', import.meta.url));

let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({
    namespaces: [{ name: NS, tenant: 'team-a' }],
    // The bundled image and resource policies, and the provenance policy with CI trusted.
    policies: [`${bundledPoliciesDir}/image-hygiene.yaml`, `${bundledPoliciesDir}/resources.yaml`, TRUSTED_CI_PROVENANCE],
  });
});

after(async () => {
  await c?.close();
});

describe('CI as a trusted deployer', () => {
  it('installs and upgrades with helm without provenance annotations', async () => {
    ok(await c.helm(['upgrade', '--install', 'web', CHART, '-n', NS], CI), 'helm install');
    ok(await c.helm(['upgrade', 'web', CHART, '-n', NS, '--set', 'image.tag=1.4.3'], CI), 'helm upgrade');
    const a = annotationsOf(c.deployment(NS, 'web'));
    assert.equal(a['tracegate.io/changed-by'], CI.user);
    assert.equal(a['tracegate.io/commit'], undefined);
  });

  it('an engineer\'s kubectl change still needs provenance, and is recorded', async () => {
    assert.equal((await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.5.0')}`, '-n', NS], ALICE)).code, 1);
    // Provenance in the same request (annotating first works too: see the edge cases below).
    const patch = { metadata: { annotations: { 'ci/commit': '8f2c1e7', approvedBy: 'bob' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.5.0') }] } } } };
    ok(await c.kubectl(['patch', 'deployment/web', '-n', NS, '-p', JSON.stringify(patch)], ALICE), 'kubectl patch');
    await c.recorded(NS, 'web');
    assert.equal((await helmHistory(c, 'web', NS)).length, 3);
  });

  it('a plain helm rollback by CI passes the gate to any revision, recorded or Helm\'s', async () => {
    for (const [rev, helm3] of [[1, true], [3, false], [2, true]] as const) {
      const start = c.chain.history.length;
      // helm 4 client-side: revision 3 lost its apply_method when helm 3 superseded it, so --force-conflicts is refused.
      ok(await c.helm(['rollback', 'web', String(rev), '-n', NS, ...(helm3 ? [] : ['--server-side=false'])], { ...CI, helm3 }), `helm rollback web ${rev}`);
      assert.ok(await runsRevision(c, 'web', NS, rev), `runs revision ${rev}`);
      assert.ok(outcomes(runsBy(c, start, CI.user)).some(([w, o]) => w === 'validate.tracegate.io' && o === 'allowed'));
      await c.recorded(NS, 'web');
      assert.equal((await helmHistory(c, 'web', NS)).at(-1)?.description, `Rollback to ${rev}`);
    }
  });

  it('trust needs both: CI with kubectl, or an engineer with helm, still needs provenance', async () => {
    const kubectlByCi = await c.kubectl(['set', 'image', 'deployment/web', `web=${teamImage('1.6.0')}`, '-n', NS], CI);
    assert.equal(kubectlByCi.code, 1);
    assert.match(kubectlByCi.stderr, /script-driven edit by system:serviceaccount:ci:deployer via kubectl-set/);
    const helmByAlice = await c.helm(['rollback', 'web', '3', '-n', NS], { ...ALICE, helm3: true });
    assert.equal(helmByAlice.code, 1);
    assert.match(helmByAlice.stderr, /change by alice via helm .* lacks provenance/);
    assert.equal(imageOf(c.deployment(NS, 'web')), teamImage('1.4.3'));
  });
});

describe('provenance edge cases found by these stories', () => {
  it('annotate first, then `kubectl set image`, works after a change that carried no commit', async () => {
    ok(await c.helm(['upgrade', '--install', 'fresh', CHART, '-n', NS], CI), 'helm install (no commit)');
    ok(await c.kubectl(['annotate', 'deployment/fresh', 'ci/commit=7e6d5c4', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
    const res = await c.kubectl(['set', 'image', 'deployment/fresh', `web=${teamImage('1.7.1')}`, '-n', NS], ALICE);
    assert.equal(res.code, 0, res.stderr);
  });
});
