/**
 * The field manager of a request that names none (kubectl scale, rollout undo, controllers): inferred
 * from managedFields as the newest entry the apiserver added or refreshed for this write.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldManagerOf, inferFieldManager, requestContext } from '../../src/admission/context.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import type { ManagedFieldsEntry } from '../../src/k8s/types.js';

function entry(manager: string, time: string, fieldsV1: unknown = { 'f:spec': {} }, subresource?: string): ManagedFieldsEntry {
  return { manager, operation: 'Update', apiVersion: 'apps/v1', time, fieldsType: 'FieldsV1', fieldsV1, ...(subresource ? { subresource } : {}) };
}

function request(operation: AdmissionRequest['operation'], now: ManagedFieldsEntry[], before?: ManagedFieldsEntry[], fieldManager?: string): AdmissionRequest {
  const obj = (mf: ManagedFieldsEntry[]) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', managedFields: mf } });
  return {
    uid: 'u1',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    namespace: 'shop',
    operation,
    userInfo: { username: 'alice', groups: ['devs'] },
    object: obj(now),
    oldObject: before ? obj(before) : null,
    options: fieldManager === undefined ? null : { fieldManager },
  };
}

const T1 = '2026-03-01T10:00:00Z';
const T2 = '2026-03-02T10:00:00Z';
const T3 = '2026-03-03T10:00:00Z';

describe('inferFieldManager', () => {
  it('names the entry the write refreshed, not the newer-looking ones it left alone', () => {
    const helm = entry('helm', T1);
    const controller = entry('kube-controller-manager', T3, { 'f:status': {} }, 'status');
    // kubectl-rollout's entry got a new time in this write; the controller's, though newer, did not change.
    const before = [helm, controller, entry('kubectl-rollout', T1)];
    const now = [helm, controller, entry('kubectl-rollout', T2)];
    assert.equal(inferFieldManager(request('UPDATE', now, before)), 'kubectl-rollout');
  });

  it('counts an entry whose fields changed at the same time as changed', () => {
    const before = [entry('kubectl-edit', T2, { 'f:spec': { 'f:replicas': {} } }), entry('helm', T1)];
    const now = [entry('kubectl-edit', T2, { 'f:spec': { 'f:template': {} } }), entry('helm', T1)];
    assert.equal(inferFieldManager(request('UPDATE', now, before)), 'kubectl-edit');
  });

  it('takes the newest of several changed entries, the later one on a tie', () => {
    assert.equal(inferFieldManager(request('UPDATE', [entry('a', T2), entry('b', T3), entry('c', T1)], [])), 'b');
    assert.equal(inferFieldManager(request('UPDATE', [entry('a', T3), entry('b', T3)], [])), 'b');
  });

  it('tells entries of one manager apart by operation and subresource', () => {
    const before = [entry('kube-controller-manager', T3, { 'f:status': {} }, 'status')];
    const now = [entry('kube-controller-manager', T3, { 'f:status': {} }, 'status'), entry('kube-controller-manager', T1)];
    assert.equal(inferFieldManager(request('UPDATE', now, before)), 'kube-controller-manager');
    assert.equal(inferFieldManager(request('UPDATE', now.slice(0, 1), before)), undefined);
  });

  it('on a CREATE whose entries all match the old object, takes the newest entry', () => {
    const entries = [entry('a', T2), entry('b', T1)];
    assert.equal(inferFieldManager(request('CREATE', entries, entries)), 'a');
    assert.equal(inferFieldManager(request('UPDATE', entries, entries)), undefined);
  });

  it('has nothing to say without managedFields', () => {
    assert.equal(inferFieldManager(request('UPDATE', [], [entry('a', T1)])), undefined);
  });
});

describe('fieldManagerOf and requestContext', () => {
  it('prefers the fieldManager the request reports', () => {
    const r = request('UPDATE', [entry('kubectl-edit', T2)], [], 'helm');
    assert.equal(fieldManagerOf(r), 'helm');
    assert.equal(fieldManagerOf({ ...r, options: { fieldManager: '' } }), 'kubectl-edit');
  });

  it('builds the engine view of the request', () => {
    const r = request('UPDATE', [entry('kubectl-edit', T2)], [], 'helm');
    assert.deepEqual(requestContext(r, 'shop'), { operation: 'UPDATE', namespace: 'shop', tenant: 'shop', username: 'alice', groups: ['devs'], fieldManager: 'helm', dryRun: false });
    assert.deepEqual(requestContext({ ...r, options: null, object: null, subResource: 'scale', dryRun: true }, undefined), { operation: 'UPDATE', namespace: 'shop', username: 'alice', groups: ['devs'], subResource: 'scale', dryRun: true });
  });
});
