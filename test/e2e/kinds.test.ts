/**
 * Nothing slips past: every pod-bearing kind through the gate, with the real kubectl against the cluster
 * the sandbox runs (controllers create their Pods through admission, as kube-system identities). A bad
 * StatefulSet, Job, CronJob or bare Pod is refused with every problem listed and a fix naming its kind;
 * good ones are admitted, stamped and (all but the Pod) recorded; controller-made Pods never reach the
 * gate while a forged ownerReference does not keep a tenant's Pod away from it; `kubectl debug` with a
 * `:latest` image is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { stampHash, stampsVerify } from '../../src/admission/stamps.js';
import { loadKeyring } from '../../src/provenance/keys.js';
import type { MacKeyring } from '../../src/provenance/mac.js';
import { startStoryCluster, type Any, type StoryCluster } from '../support/cluster.js';
import { ALICE, CI, helmHistory, ok } from './helpers.js';

const NS = 'team-a';
const k = tracegateKeys('tracegate.io/');
/** Provenance a CI pipeline gives (commits are hex, the approver is not the requester). */
const PROVENANCE = { 'tracegate.io/commit': 'a1b2c3d', 'tracegate.io/approver': 'bob' };
const RESOURCES = { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } };

let c: StoryCluster;
let keyring: MacKeyring;

before(async () => {
  c = await startStoryCluster({ namespaces: [{ name: NS, tenant: NS }], pods: true });
  keyring = await loadKeyring(c.keyDir);
});

after(async () => {
  await c?.close();
});

function podSpec(image: string, good: boolean, restartPolicy?: string): Any {
  return { ...(restartPolicy ? { restartPolicy } : {}), containers: [{ name: 'app', image, ...(good ? { resources: RESOURCES } : {}) }] };
}

/** A workload of each kind, compliant (`good`) or with `:latest`, no resources and no provenance. */
function workload(kind: string, name: string, good: boolean): Any {
  const image = good ? 'registry.example.com/team-a/app:1.2.3' : 'registry.example.com/team-a/app:latest';
  const metadata = { name, namespace: NS, ...(good ? { annotations: PROVENANCE } : {}) };
  const template = (restartPolicy?: string) => ({ metadata: { labels: { app: name } }, spec: podSpec(image, good, restartPolicy) });
  switch (kind) {
    case 'StatefulSet':
      return { apiVersion: 'apps/v1', kind, metadata, spec: { serviceName: name, selector: { matchLabels: { app: name } }, template: template() } };
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata, spec: { template: template('Never') } };
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: template('OnFailure') } } } };
    case 'Pod':
      return { apiVersion: 'v1', kind, metadata: { ...metadata, labels: { app: name } }, spec: podSpec(image, good) };
    default:
      throw new Error(kind);
  }
}

const RESOURCE = { StatefulSet: 'statefulsets', Job: 'jobs', CronJob: 'cronjobs', Pod: 'pods' } as const;

describe('a bad workload of any kind is refused, every problem in one message', () => {
  for (const kind of ['StatefulSet', 'Job', 'CronJob', 'Pod'] as const) {
    it(`${kind}: :latest, no requests or limits, no provenance — all listed, fixes naming ${kind.toLowerCase()}/`, async () => {
      const res = await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: stringify(workload(kind, `bad-${kind.toLowerCase()}`, false)) });
      assert.equal(res.code, 1, res.stdout);
      assert.match(res.stderr, /admission webhook "validate\.tracegate\.io" denied the request/);
      for (const rule of ['image-hygiene rule no-latest', 'resources rule requests-and-limits', 'provenance rule change-provenance']) assert.match(res.stderr, new RegExp(rule), rule);
      if (kind !== 'Pod') assert.match(res.stderr, new RegExp(`kubectl set resources ${kind.toLowerCase()}/bad-${kind.toLowerCase()}`), 'the fix names the kind');
      assert.equal(c.object(RESOURCE[kind], NS, `bad-${kind.toLowerCase()}`), undefined, 'nothing stored');
    });
  }
});

describe('a good workload of any kind is admitted, stamped and recorded', () => {
  for (const kind of ['StatefulSet', 'Job', 'CronJob', 'Pod'] as const) {
    it(`${kind}: stamped by the gate with a MAC that checks${kind === 'Pod' ? '' : ', and adopted into a Helm release'}`, async () => {
      const name = `good-${kind.toLowerCase()}`;
      ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(workload(kind, name, true)) }), `kubectl apply ${kind}`);
      const stored = c.object(RESOURCE[kind], NS, name)!;
      const a = stored['metadata']['annotations'] as Record<string, string>;
      assert.equal(a[k.changedBy], CI.user);
      assert.equal(a[k.changeCommit], 'a1b2c3d');
      assert.equal(a[k.tenant], NS);
      assert.ok(stampsVerify(keyring, k, stored, stampHash(stored)), 'the stamps are the gate\'s, for this object and template');
      if (kind === 'Pod') return;
      await c.recorded(NS, name, kind);
      const history = await helmHistory(c, name, NS);
      assert.equal(history.length, 1);
      assert.match(history[0]!.description, new RegExp(`^Adopted by tracegate: image app: registry\\.example\\.com/team-a/app:1\\.2\\.3 by ${CI.user} via kubectl-client-side-apply \\(commit a1b2c3d, approved by bob`));
      const trail = JSON.parse((await c.tracegate(['history', `${NS}/${kind.toLowerCase()}/${name}`, '-o', 'json'], CI)).stdout) as Any;
      assert.deepEqual(trail.revisions.map((r: Any) => [r.revision, r.verdict, r.user, r.commit]), [[1, 'verified', CI.user, 'a1b2c3d']]);
    });
  }
});

describe('Pods a controller creates never reach the gate', () => {
  it('a Deployment\'s ReplicaSet creates its Pods as the replicaset-controller: skipped by the matchCondition', async () => {
    const start = c.chain.history.length;
    const deploy = workload('StatefulSet', 'x', true);
    deploy.kind = 'Deployment';
    deploy.metadata.name = 'replicated';
    deploy.spec = { replicas: 2, selector: { matchLabels: { app: 'replicated' } }, template: { metadata: { labels: { app: 'replicated' } }, spec: podSpec('registry.example.com/team-a/app:1.2.3', true) } };
    ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: stringify(deploy) }), 'kubectl apply deployment');
    await c.waitFor('two Pods of the ReplicaSet', () => c.server.store.list('pods', NS).filter((p) => (p as Any)['metadata']['labels']?.app === 'replicated').length === 2);
    const podRuns = c.chain.history.slice(start).filter((r) => r.request.kind.kind === 'Pod' && r.request.operation === 'CREATE');
    assert.ok(podRuns.length >= 2, 'the Pods went through admission');
    for (const run of podRuns) {
      assert.equal(run.request.userInfo.username, 'system:serviceaccount:kube-system:replicaset-controller');
      assert.deepEqual(run.calls, [], 'no webhook called');
      const byCondition = run.skipped.filter((s) => s.reason === 'matchConditions' && s.condition === 'not-a-controller-replica').map((s) => s.webhook);
      assert.deepEqual(byCondition.sort(), ['mutate.tracegate.io', 'validate.tracegate.io'], JSON.stringify(run.skipped));
    }
  });

  it('a tenant\'s Pod with a forged controller ownerReference is still judged', async () => {
    const pod = workload('Pod', 'orphan', false);
    pod.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'replicated-x', uid: '00000000-0000-0000-0000-000000000001', controller: true }];
    const res = await c.kubectl(['apply', '-f', '-'], { ...ALICE, input: stringify(pod) });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /validate\.tracegate\.io" denied the request/);
  });
});

describe('kubectl debug', () => {
  it('a debug container with a :latest image is refused; a pinned one is admitted', async () => {
    const res = await c.kubectl(['debug', 'good-pod', '-n', NS, '--image=busybox:latest', '--container=dbg'], ALICE);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /ephemeralContainer dbg: image "busybox:latest" uses the disallowed tag "latest"/);
    ok(await c.kubectl(['debug', 'good-pod', '-n', NS, '--image=busybox:1.36', '--container=dbg2'], ALICE), 'kubectl debug');
    const pod = c.object('pods', NS, 'good-pod')!;
    assert.deepEqual((pod['spec']['ephemeralContainers'] as Any[]).map((e) => e.name), ['dbg2']);
  });
});
