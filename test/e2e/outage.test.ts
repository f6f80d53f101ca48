/**
 * When the gate is down or bypassed, and where it never looks: the webhook configurations' failure
 * policies and namespace selector as rendered from `manifests/`, with the real kubectl as the client,
 * and the recorder flagging every change that did not pass the gate. One cluster for the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WebhookConfigs } from '../support/admission-chain/index.js';
import { startStoryCluster, type StoryCluster } from '../support/cluster.js';
import { ALICE, annotationsOf, compliantDeployment, helmHistory, helmLabels, imageOf, ok, outcomes, runsBy, teamImage } from './helpers.js';

const NS = 'team-a';
/** A namespace an operator took out of the gate's scope (added to the webhooks' NotIn list). */
const LEGACY = 'legacy';

let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({ namespaces: [{ name: NS, tenant: 'team-a' }, { name: LEGACY, tenant: 'team-a' }] });
  ok(await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(compliantDeployment('api', NS, { 'ci/commit': '1a2b3c4', approvedBy: 'bob' })) }), 'kubectl apply');
  await c.recorded(NS, 'api');
});

after(async () => {
  await c?.close();
});

/** The overlay's configurations with every webhook changed by `change`. */
function editedConfigs(change: (w: WebhookConfigs['validating'][number]['webhooks'][number], stage: 'mutating' | 'validating') => void): WebhookConfigs {
  const copy = structuredClone(c.configs);
  for (const m of copy.mutating) for (const w of m.webhooks) change(w, 'mutating');
  for (const v of copy.validating) for (const w of v.webhooks) change(w, 'validating');
  return copy;
}

async function unverifiedMetric(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${c.recorder!.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tracegate_recorder_unverified_changes_total'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('the gate is down: failurePolicy as the manifests promise', () => {
  before(async () => {
    await c.stopGate();
  });

  it('validate.tracegate.io (Fail) refuses Deployment changes, even with provenance; mutate.tracegate.io (Ignore) fails open', async () => {
    const start = c.chain.history.length;
    const res = await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: JSON.stringify(compliantDeployment('new-api', NS, { 'ci/commit': '5d6e7f8', approvedBy: 'bob' })) });
    assert.equal(res.code, 1);
    assert.match(
      res.stderr,
      /^Error from server \(InternalError\): error when creating "STDIN": Internal error occurred: failed calling webhook "validate\.tracegate\.io": failed to call webhook: Post "https:\/\/tracegate\.tracegate\.svc:443\/validate\?timeout=5s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused\n$/,
    );
    assert.deepEqual(outcomes(runsBy(c, start, ALICE.user)), [
      ['mutate.tracegate.io', 'failed-open'],
      ['validate.tracegate.io', 'failed-closed'],
    ]);
    assert.equal(c.deployment(NS, 'new-api'), undefined);

    const edit = await c.kubectl(['set', 'image', 'deployment/api', `api=${teamImage('1.0.1')}`, '-n', NS], ALICE);
    assert.equal(edit.code, 1);
    assert.match(edit.stderr, /^error: failed to patch image update to pod template: Internal error occurred: failed calling webhook "validate\.tracegate\.io"/);
    // A restart is a Deployment UPDATE too: refused while the gate is down.
    assert.equal((await c.kubectl(['rollout', 'restart', 'deployment/api', '-n', NS], ALICE)).code, 1);
    assert.equal(imageOf(c.deployment(NS, 'api')), teamImage('1.0.0'));
  });

  it('scaling goes on: scale.validate.tracegate.io is observe-only (Ignore)', async () => {
    const start = c.chain.history.length;
    assert.equal(ok(await c.kubectl(['scale', 'deployment/api', '--replicas=3', '-n', NS], ALICE), 'kubectl scale').stdout, 'deployment.apps/api scaled\n');
    assert.deepEqual(outcomes(runsBy(c, start, ALICE.user)), [['scale.validate.tracegate.io', 'failed-open']]);
    assert.equal(c.chain.last?.auditAnnotations['failed-open.validating.webhook.admission.k8s.io/round_0_index_0'], 'scale.validate.tracegate.io');
    assert.equal(c.deployment(NS, 'api')?.['spec']['replicas'], 3);
  });

  it('the control plane never depends on the gate: kube-system accepts Deployments', async () => {
    ok(await c.kubectl(['create', 'deployment', 'recovery', '--image=registry.k8s.io/pause:3.10', '-n', 'kube-system']), 'kubectl create in kube-system');
    // Never past the gate, so recorded UNVERIFIED like any change outside its scope (counted before the next test's baseline).
    await c.recorded('kube-system', 'recovery');
    assert.equal((await helmLabels(c, 'recovery', 'kube-system', 1))['tracegate.io/verified'], 'false');
  });

  it('changes that slip through (validating webhook switched to Ignore) are recorded as UNVERIFIED', async () => {
    const before = await unverifiedMetric();
    c.useConfigs(editedConfigs((w) => (w.failurePolicy = 'Ignore')));
    const res = ok(await c.kubectl(['set', 'image', 'deployment/api', `api=${teamImage('1.0.1')}`, '-n', NS], ALICE), 'kubectl set image');
    assert.equal(res.stdout, 'deployment.apps/api image updated\n');
    assert.ok(c.chainLog.some((l) => l.startsWith('Failed calling webhook, failing open validate.tracegate.io: ')), c.chainLog.join('\n'));
    const a = annotationsOf(c.deployment(NS, 'api'));
    assert.equal(a['tracegate.io/changed-by'], 'alice', 'still the stamp of the change that passed the gate');

    await c.recorded(NS, 'api');
    const history = await helmHistory(c, 'api', NS);
    const last = history.at(-1);
    assert.equal(history.length, 2);
    assert.match(last?.description ?? '', /^UNVERIFIED: changed without passing the tracegate gate\. image api: \S+:1\.0\.0 → \S+:1\.0\.1 via kubectl-set \(per managedFields\) \(recorded/);
    assert.equal((await helmLabels(c, 'api', NS, 2))['tracegate.io/verified'], 'false');
    const rows = JSON.parse((await c.tracegate(['history', 'team-a/api', '-o', 'json'])).stdout).revisions;
    assert.deepEqual(rows.map((r: { verdict?: string }) => r.verdict), ['verified', 'unverified']);
    assert.equal(await unverifiedMetric(), before + 1);
  });

  after(async () => {
    c.useConfigs(c.configs);
    await c.startGate();
  });
});

describe('back to normal', () => {
  it('the gate is back: the same edit without provenance is refused again; with provenance it is verified', async () => {
    const res = await c.kubectl(['set', 'image', 'deployment/api', `api=${teamImage('1.0.2')}`, '-n', NS], ALICE);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /admission webhook "validate\.tracegate\.io" denied the request: .*\n {2}1\. script-driven edit by alice via kubectl-set/);
    ok(await c.kubectl(['annotate', 'deployment/api', 'ci/commit=9f8e7d6', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
    ok(await c.kubectl(['set', 'image', 'deployment/api', `api=${teamImage('1.0.2')}`, '-n', NS], ALICE), 'kubectl set image');
    await c.recorded(NS, 'api');
    assert.equal((await helmLabels(c, 'api', NS, 3))['tracegate.io/verified'], 'true');
  });
});

describe('namespaces the gate never intercepts', () => {
  it('kube-system and tracegate\'s own namespace: no webhook is called, the gate counts no decision', async () => {
    const decisions = async () => (await c.gate.metrics.decisions.get()).values.reduce((sum, v) => sum + v.value, 0);
    const counted = await decisions();
    for (const ns of ['kube-system', 'tracegate']) {
      const start = c.chain.history.length;
      ok(await c.kubectl(['create', 'deployment', 'unvetted', '--image=nginx', '-n', ns], ALICE), `kubectl create in ${ns}`);
      const runs = runsBy(c, start, ALICE.user);
      assert.deepEqual(outcomes(runs), [], `nothing called for ${ns}`);
      assert.deepEqual(new Set(runs.flatMap((r) => r.skipped.map((s) => s.reason))), new Set(['namespaceSelector']), ns);
      ok(await c.kubectl(['set', 'image', 'deployment/unvetted', 'nginx=nginx:latest', '-n', ns], ALICE), `kubectl set image in ${ns}`);
    }
    assert.equal(await decisions(), counted);
  });

  it('what the gate does not see, the recorder still records — flagged UNVERIFIED', async () => {
    await c.recorded('kube-system', 'unvetted');
    const history = await helmHistory(c, 'unvetted', 'kube-system');
    assert.equal(history.length, 2, 'the create (adopted) and the image change');
    for (const h of history) assert.ok(h.description.startsWith('UNVERIFIED: changed without passing the tracegate gate. '), h.description);
  });

  it('a namespace the operator excluded from the webhooks: changes pass unjudged and are recorded as UNVERIFIED', async () => {
    c.useConfigs(
      editedConfigs((w) => {
        const excluded = w.namespaceSelector.matchExpressions?.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn');
        assert.ok(excluded, `${w.name} excludes namespaces by name`);
        excluded.values = [...(excluded.values ?? []), LEGACY];
      }),
    );
    try {
      ok(await c.kubectl(['create', 'deployment', 'old-app', '--image=nginx', '-n', LEGACY], ALICE), 'kubectl create');
      await c.recorded(LEGACY, 'old-app');
      const [first] = await helmHistory(c, 'old-app', LEGACY);
      assert.match(first?.description ?? '', /^UNVERIFIED: changed without passing the tracegate gate\. Adopted by tracegate: image nginx: nginx via kubectl-create \(per managedFields\)/);
    } finally {
      c.useConfigs(c.configs);
    }
    // The same namespace under the gate again: nothing unpinned gets in.
    const res = await c.kubectl(['create', 'deployment', 'old-app-2', '--image=nginx', '-n', LEGACY], ALICE);
    assert.equal(res.code, 1);
  });
});
