/**
 * Whether a workload's current template finished rolling out, by `kubectl rollout status`'s rules
 * (kubectl pkg/polymorphichelpers/rollout_status.go: DeploymentStatusViewer, StatefulSetStatusViewer,
 * DaemonSetStatusViewer), and how the outcome lands on the trail entry of that state (`withRollout`).
 * `--to-last-good` trusts both: a state judged complete too early becomes a rollback target.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { withRollout, type TrailEntry, type TrailObject } from '../../src/recorder/trail.js';
import { rolloutState } from '../../src/workload/rollout.js';

function obj(kind: string, generation: number | undefined, spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject {
  return { apiVersion: 'apps/v1', kind, metadata: { name: 'w', ...(generation === undefined ? {} : { generation }) }, spec, ...(status ? { status } : {}) };
}

describe('rolloutState: Deployment', () => {
  const done = { observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3 };
  const dep = (status: Record<string, unknown> | undefined, spec: Record<string, unknown> = { replicas: 3 }, generation = 3) => rolloutState(obj('Deployment', generation, spec, status));

  it('is complete when the controller saw the spec and every replica is updated and available', () => {
    assert.equal(dep(done), 'complete');
  });

  it('is progressing while status.observedGeneration lags metadata.generation, whatever the counts say', () => {
    assert.equal(dep({ ...done, observedGeneration: 2 }), 'progressing');
    assert.equal(dep({ ...done, observedGeneration: undefined }), 'progressing');
  });

  it('is progressing with too few updated replicas, old replicas still terminating, or new ones not yet available', () => {
    assert.equal(dep({ ...done, updatedReplicas: 2 }), 'progressing');
    assert.equal(dep({ ...done, replicas: 4 }), 'progressing');
    assert.equal(dep({ ...done, availableReplicas: 2 }), 'progressing');
  });

  it('is failed on Progressing=False with reason ProgressDeadlineExceeded, and only for that reason', () => {
    const cond = (reason: string) => ({ ...done, updatedReplicas: 1, conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }, { type: 'Progressing', status: 'False', reason }] });
    assert.equal(dep(cond('ProgressDeadlineExceeded')), 'failed');
    assert.equal(dep(cond('ReplicaSetUpdated')), 'progressing');
  });

  it('does not judge a deadline the controller reported for an older generation', () => {
    const stale = { ...done, observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] };
    assert.equal(dep(stale), 'progressing');
  });

  it('defaults replicas to 1 and treats scaled-to-zero as complete', () => {
    assert.equal(dep({ observedGeneration: 3, replicas: 0, updatedReplicas: 0, availableReplicas: 0 }, {}), 'progressing');
    assert.equal(dep({ observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }, {}), 'complete');
    assert.equal(dep({ observedGeneration: 3 }, { replicas: 0 }), 'complete');
  });

  it('is progressing with no status at all, or a status that is not an object', () => {
    assert.equal(dep(undefined), 'progressing');
    assert.equal(rolloutState({ kind: 'Deployment', metadata: { generation: 1 }, spec: { replicas: 1 }, status: 'garbage' }), 'progressing');
    assert.equal(rolloutState({ kind: 'Deployment', status: { observedGeneration: 1, updatedReplicas: 'x', conditions: 'nope' } }), 'progressing');
  });
});

describe('rolloutState: StatefulSet', () => {
  const rolling = (partition: number) => ({ replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } } });
  const sts = (spec: Record<string, unknown>, status: Record<string, unknown> | undefined, generation = 2) => rolloutState(obj('StatefulSet', generation, spec, status));

  it('is progressing until the controller observed the spec (observedGeneration 0 or behind)', () => {
    assert.equal(sts({ replicas: 1 }, { observedGeneration: 0, readyReplicas: 1, currentRevision: 'a', updateRevision: 'a' }, 0), 'progressing');
    assert.equal(sts({ replicas: 1 }, { observedGeneration: 1, readyReplicas: 1, currentRevision: 'a', updateRevision: 'a' }), 'progressing');
    assert.equal(sts({ replicas: 1 }, undefined), 'progressing');
  });

  it('is progressing while fewer replicas are ready than wanted', () => {
    assert.equal(sts({ replicas: 3 }, { observedGeneration: 2, readyReplicas: 2, currentRevision: 'a', updateRevision: 'a' }), 'progressing');
  });

  it('without a partition: complete once the update revision is the current one', () => {
    assert.equal(sts({ replicas: 2 }, { observedGeneration: 2, readyReplicas: 2, currentRevision: 'web-1', updateRevision: 'web-2' }), 'progressing');
    assert.equal(sts({ replicas: 2 }, { observedGeneration: 2, readyReplicas: 2, currentRevision: 'web-2', updateRevision: 'web-2' }), 'complete');
  });

  it('with a partition: complete once the replicas at or above the partition are updated', () => {
    const base = { observedGeneration: 2, readyReplicas: 4, currentRevision: 'web-1', updateRevision: 'web-2' };
    assert.equal(sts(rolling(2), { ...base, updatedReplicas: 1 }), 'progressing');
    assert.equal(sts(rolling(2), { ...base, updatedReplicas: 2 }), 'complete');
    assert.equal(sts(rolling(0), { ...base, updatedReplicas: 3 }), 'progressing');
    assert.equal(sts(rolling(0), { ...base, updatedReplicas: 4 }), 'complete');
  });
});

describe('rolloutState: DaemonSet', () => {
  const ds = (status: Record<string, unknown> | undefined, generation = 4) => rolloutState(obj('DaemonSet', generation, {}, status));

  it('is complete when every scheduled node runs the updated pod and it is available', () => {
    assert.equal(ds({ observedGeneration: 4, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }), 'complete');
  });

  it('is progressing while observedGeneration lags, nodes are not updated, or updated pods are not available', () => {
    assert.equal(ds({ observedGeneration: 3, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }), 'progressing');
    assert.equal(ds({ observedGeneration: 4, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 }), 'progressing');
    assert.equal(ds({ observedGeneration: 4, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }), 'progressing');
    assert.equal(ds(undefined), 'progressing');
  });
});

describe('rolloutState: Job, CronJob, ReplicaSet, ReplicationController, others', () => {
  const job = (conditions: unknown) => rolloutState(obj('Job', 1, {}, { conditions }));

  it('a Job is failed on Failed=True, complete on Complete=True, progressing otherwise', () => {
    assert.equal(job([{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }]), 'failed');
    assert.equal(job([{ type: 'Complete', status: 'True' }]), 'complete');
    assert.equal(job([{ type: 'Complete', status: 'False' }, { type: 'Failed', status: 'False' }]), 'progressing');
    assert.equal(job([{ type: 'SuccessCriteriaMet', status: 'True' }]), 'progressing');
    assert.equal(rolloutState(obj('Job', 1, {}, undefined)), 'progressing');
    assert.equal(job([null, 'x', 3]), 'progressing');
  });

  it('a CronJob is complete as soon as it is written (its next Job runs the template)', () => {
    assert.equal(rolloutState(obj('CronJob', 5, { schedule: '* * * * *' }, undefined)), 'complete');
  });

  for (const kind of ['ReplicaSet', 'ReplicationController']) {
    it(`a ${kind} is complete once observed with every replica ready`, () => {
      assert.equal(rolloutState(obj(kind, 2, { replicas: 2 }, { observedGeneration: 2, readyReplicas: 2 })), 'complete');
      assert.equal(rolloutState(obj(kind, 2, { replicas: 2 }, { observedGeneration: 2, readyReplicas: 1 })), 'progressing');
      assert.equal(rolloutState(obj(kind, 2, { replicas: 2 }, { observedGeneration: 1, readyReplicas: 2 })), 'progressing');
      assert.equal(rolloutState(obj(kind, 2, { replicas: 2 }, undefined)), 'progressing');
    });
  }

  it('a kind without status rules (a Pod, an unknown kind, none) is never complete', () => {
    assert.equal(rolloutState({ kind: 'Pod', status: { phase: 'Running' } }), 'progressing');
    assert.equal(rolloutState({ kind: 'Widget' }), 'progressing');
    assert.equal(rolloutState({}), 'progressing');
  });
});

describe('withRollout', () => {
  const entry = (seq: number, uid: string, template: string, over: Partial<TrailEntry> = {}): TrailEntry => ({ seq, time: '2026-01-01T00:00:00Z', event: 'change', uid, template, verdict: 'verified', ...over });
  const head = (entries: TrailEntry[]): TrailObject => ({
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'ChangeTrail',
    metadata: { name: 'deployment.web', namespace: 'demo', labels: {}, resourceVersion: '9' },
    spec: { workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, entries },
  });

  it('sets the outcome on the newest entry of that object when it is for that template, leaving the input unchanged', () => {
    const h = head([entry(1, 'u-1', 'tA'), entry(2, 'u-1', 'tB'), entry(3, 'u-2', 'tB')]);
    const before = structuredClone(h);
    const out = withRollout(h, 'u-1', 'tB', 'complete');
    assert.ok(out);
    assert.deepEqual(out.spec.entries.map((e) => e.rollout), [undefined, 'complete', undefined]);
    assert.equal(out.metadata.resourceVersion, '9', 'the write stays guarded by the version read');
    assert.deepEqual(h, before);
  });

  it('does nothing when a newer template was recorded since, the outcome is already set, or the newest entry is a deletion', () => {
    assert.equal(withRollout(head([entry(1, 'u-1', 'tA'), entry(2, 'u-1', 'tB')]), 'u-1', 'tA', 'complete'), undefined);
    assert.equal(withRollout(head([entry(1, 'u-1', 'tA', { rollout: 'failed' })]), 'u-1', 'tA', 'complete'), undefined);
    assert.equal(withRollout(head([entry(1, 'u-1', 'tA'), { seq: 2, time: 't', event: 'delete', uid: 'u-1', verdict: 'verified' }]), 'u-1', 'tA', 'complete'), undefined);
  });

  it('does nothing for another object under the same name, or without a head', () => {
    assert.equal(withRollout(head([entry(1, 'u-1', 'tA')]), 'u-9', 'tA', 'failed'), undefined);
    assert.equal(withRollout(undefined, 'u-1', 'tA', 'failed'), undefined);
  });
});
