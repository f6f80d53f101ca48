/** The change trail: names that never collide, idempotent appends, archives when full, ownership. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { ownershipOf } from '../../src/recorder/ownership.js';
import { releaseOf } from '../../src/recorder/record-context.js';
import { isTracegateError } from '../../src/errors.js';
import { appendEntry, archiveName, describeImageChanges, imagesOf, MAX_ENTRIES_PER_OBJECT, nextEntry, trailName, type TrailEntry, type TrailObject } from '../../src/recorder/trail.js';

const REF = { namespace: 'team-a', kind: 'Deployment', name: 'web' };
const OPTS = { ref: REF, apiVersion: 'apps/v1', prefix: 'tracegate.io/' };
const draft = (template: string, uid = 'u1'): Omit<TrailEntry, 'seq' | 'first'> => ({ time: '2026-12-01T00:00:00Z', event: 'change', uid, template, verdict: 'verified' });

describe('trail names', () => {
  it('names heads by kind and name, archives so that no head can collide with them', () => {
    assert.equal(trailName(REF), 'deployment.web');
    assert.equal(trailName({ ...REF, kind: 'StatefulSet' }), 'statefulset.web');
    assert.match(archiveName(REF, 2), /^deployment-archive\.[0-9a-f]{20}\.2$/);
    assert.notEqual(trailName({ ...REF, name: 'web.2' }), archiveName(REF, 2));
  });

  it('keeps a name within 253 characters, distinct per workload', () => {
    const long = 'a'.repeat(250);
    const a = trailName({ ...REF, kind: 'ReplicationController', name: long });
    const b = trailName({ ...REF, kind: 'ReplicationController', name: `${long.slice(0, 249)}b` });
    assert.ok(a.length <= 253 && b.length <= 253);
    assert.notEqual(a, b);
  });
});

describe('appending', () => {
  it('appends the first entry of an object as first, and nothing when the state is already recorded', () => {
    const first = nextEntry(undefined, draft('h1'))!;
    assert.deepEqual([first.seq, first.first], [1, true]);
    const { head } = appendEntry(undefined, first, OPTS);
    assert.equal(nextEntry(head.spec, draft('h1')), undefined, 'the same template again records nothing');
    const second = nextEntry(head.spec, draft('h2'))!;
    assert.deepEqual([second.seq, second.first], [2, undefined]);
    const third = nextEntry(appendEntry(head, second, OPTS).head.spec, draft('h1'));
    assert.equal(third?.seq, 3, 'going back to an earlier template is a change of its own');
  });

  it('treats a new object under the same name as new, and records a deletion once', () => {
    const { head } = appendEntry(undefined, nextEntry(undefined, draft('h1'))!, OPTS);
    const recreated = nextEntry(head.spec, draft('h1', 'u2'));
    assert.equal(recreated?.first, true);
    const del = nextEntry(head.spec, { ...draft('h1'), event: 'delete' })!;
    const after = appendEntry(head, del, OPTS).head;
    assert.equal(nextEntry(after.spec, { ...draft('h1'), event: 'delete' }), undefined);
  });

  it('moves a full head into an archive and keeps counting', () => {
    let head: TrailObject | undefined;
    for (let i = 1; i <= MAX_ENTRIES_PER_OBJECT; i++) head = appendEntry(head, nextEntry(head?.spec, draft(`h${i}`))!, OPTS).head;
    assert.equal(head!.spec.entries.length, MAX_ENTRIES_PER_OBJECT);
    const next = nextEntry(head!.spec, draft('hx'))!;
    const { head: rolled, archive } = appendEntry(head, next, OPTS);
    assert.ok(archive);
    assert.equal(archive.spec.sealed, true);
    assert.equal(archive.spec.entries.length, MAX_ENTRIES_PER_OBJECT);
    assert.deepEqual(rolled.spec.archives, [archive.metadata.name]);
    assert.deepEqual(rolled.spec.entries.map((e) => e.seq), [MAX_ENTRIES_PER_OBJECT + 1]);
    assert.equal(nextEntry(rolled.spec, draft('hy'))!.seq, MAX_ENTRIES_PER_OBJECT + 2);
    assert.equal(archive.metadata.labels['tracegate.io/trail-key'], rolled.metadata.labels['tracegate.io/trail-key']);
  });

  it('describes image changes between entries', () => {
    assert.deepEqual(describeImageChanges(['web=a:1', 'side=s:1'], ['web=a:2', 'new=n:1']), ['image web: a:1 → a:2', 'container new added (n:1)', 'container side removed']);
    assert.deepEqual(describeImageChanges(['web=a:1'], ['web=a:1']), ['pod template changed']);
    assert.deepEqual(imagesOf({ spec: { initContainers: [{ name: 'init', image: 'i:1' }], containers: [{ name: 'web', image: 'a:1' }], ephemeralContainers: [{ name: 'dbg', image: 'busybox' }] } }), ['web=a:1', 'init=i:1']);
  });
});

describe('ownership', () => {
  const obj = (kind: string, meta: Record<string, unknown>): KubeObject => ({ apiVersion: 'apps/v1', kind, metadata: { name: 'x', namespace: 'team-a', ...meta } });
  const ctrl = (apiVersion: string, kind: string) => ({ ownerReferences: [{ apiVersion, kind, name: 'owner', uid: 'u', controller: true }] });

  it('leaves only what Kubernetes itself creates to its owner', () => {
    assert.deepEqual(ownershipOf(obj('ReplicaSet', ctrl('apps/v1', 'Deployment'))), { type: 'child', owner: 'Deployment/owner' });
    assert.deepEqual(ownershipOf(obj('Job', ctrl('batch/v1', 'CronJob'))), { type: 'child', owner: 'CronJob/owner' });
    assert.equal(ownershipOf(obj('Deployment', ctrl('apps/v1', 'Deployment'))).type, 'managed', 'a Deployment "owned" by a Deployment is no controller pair');
    assert.equal(ownershipOf(obj('ReplicaSet', ctrl('argoproj.io/v1alpha1', 'Rollout'))).type, 'managed');
    assert.equal(ownershipOf(obj('ReplicaSet', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'o', uid: 'u' }] })).type, 'adoptable', 'not a controller reference');
  });

  it('recognises Argo CD and Flux as declarative owners, and Helm releases', () => {
    assert.deepEqual(ownershipOf(obj('Deployment', { annotations: { 'argocd.argoproj.io/tracking-id': 'shop:apps/Deployment:team-a/x' } })), { type: 'managed', by: 'Argo CD application shop' });
    assert.equal(ownershipOf(obj('Deployment', { labels: { 'app.kubernetes.io/instance': 'shop' } })).type, 'adoptable', 'the instance label alone is every Helm chart\'s');
    assert.equal(ownershipOf(obj('Deployment', { labels: { 'app.kubernetes.io/instance': 'shop' }, managedFields: [{ manager: 'argocd-controller' }] })).type, 'managed');
    assert.deepEqual(ownershipOf(obj('Deployment', { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } })), { type: 'managed', by: 'Flux Kustomization flux-system/apps' });
    assert.equal(ownershipOf(obj('Deployment', { labels: { 'helm.toolkit.fluxcd.io/name': 'web' }, annotations: { 'meta.helm.sh/release-name': 'web' } })).type, 'managed', 'a Flux HelmRelease owns its Helm release');
    assert.deepEqual(ownershipOf(obj('Deployment', { annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'team-a' } })), { type: 'helm', release: 'web', namespace: 'team-a' });
    assert.deepEqual(ownershipOf(obj('Deployment', { annotations: { 'meta.helm.sh/release-name': 'web' } })), { type: 'helm', release: 'web', namespace: 'team-a' });
    assert.deepEqual(ownershipOf(obj('Deployment', {})), { type: 'adoptable' });
  });

  it('never takes a Helm release in another namespace as the workload\'s (a tenant could name another tenant\'s)', () => {
    const forged = obj('Deployment', { annotations: { 'meta.helm.sh/release-name': 'payments', 'meta.helm.sh/release-namespace': 'team-b' } });
    assert.deepEqual(ownershipOf(forged), { type: 'managed', by: 'Helm release team-b/payments (in another namespace)' });
    assert.throws(
      () => releaseOf(forged, () => 'x'),
      (e: unknown) => isTracegateError(e, 'RELEASE_NOT_FOUND') && /deployment team-a\/x names Helm release team-b\/payments in another namespace/.test(e.message),
    );
    assert.deepEqual(releaseOf(obj('Deployment', { annotations: { 'meta.helm.sh/release-name': 'web' } }), () => 'x'), { name: 'web', namespace: 'team-a', adopted: false });
  });
});
