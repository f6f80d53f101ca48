/**
 * What counts as a pod-template change and how it is summarised, on templates the real kubectl
 * produced and on hand-made edge cases (null vs absent, empty maps, key order, secrets in env).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { KubeObject, PodTemplate } from '../../src/k8s/types.js';
import { changeViewOf, podTemplateOf } from '../../src/workload/pod-template.js';
import { describeTemplateChange, jsonEqual, RESTARTED_AT, templateChanged } from '../../src/workload/template-diff.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const SECRET = 'hunter2-S3cr3t-db-password';

function templateOf(obj: KubeObject): PodTemplate {
  const t = podTemplateOf(obj);
  assert.ok(t, `${obj.kind} has a pod template`);
  return t;
}

function tpl(spec: PodTemplate['spec'], metadata: PodTemplate['metadata'] = { labels: { app: 'web' } }): PodTemplate {
  return { metadata, spec };
}

describe('template changes on real kubectl edits', () => {
  let k: KubectlLocal;
  let dep: KubeObject;

  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
    dep = await k.createDeployment('web', { image: ['nginx:1.26', 'redis:7'], namespace: 'team-a' });
  });

  it('set image changes the template and says which container went from which image to which', async () => {
    const after = await k.setImage(dep, { redis: 'redis:7.2' });
    assert.equal(templateChanged(templateOf(dep), templateOf(after)), true);
    assert.deepEqual(describeTemplateChange(templateOf(dep), templateOf(after)), ['image redis: redis:7 → redis:7.2']);
  });

  it('set image on every container reports each one', async () => {
    const after = await k.setImage(dep, { '*': 'busybox:1.36' });
    assert.deepEqual(describeTemplateChange(templateOf(dep), templateOf(after)), [
      'image nginx: nginx:1.26 → busybox:1.36',
      'image redis: redis:7 → busybox:1.36',
    ]);
  });

  it('set resources reports each quantity that changed, old and new', async () => {
    const first = await k.setResources(dep, { container: 'nginx', requests: 'cpu=100m,memory=64Mi', limits: 'cpu=200m' });
    const second = await k.setResources(first, { container: 'nginx', requests: 'cpu=150m', limits: 'cpu=200m,memory=128Mi' });
    assert.equal(templateChanged(templateOf(first), templateOf(second)), true);
    assert.deepEqual(describeTemplateChange(templateOf(first), templateOf(second)), [
      'resources nginx: requests.cpu 100m → 150m',
      'resources nginx: limits.memory (none) → 128Mi',
    ]);
  });

  it('annotate and label of the Deployment leave the template alone', async () => {
    const annotated = await k.annotate(dep, { note: 'x' });
    const labelled = await k.label(dep, { tier: 'web' });
    assert.equal(templateChanged(templateOf(dep), templateOf(annotated)), false);
    assert.equal(templateChanged(templateOf(dep), templateOf(labelled)), false);
  });

  it('the rollout-restart patch is not a change, whatever restartedAt was before', async () => {
    const first = await k.rolloutRestartPatch(dep, '2025-03-01T08:00:00Z');
    const second = await k.rolloutRestartPatch(first, '2025-03-02T08:00:00Z');
    assert.equal(templateChanged(templateOf(dep), templateOf(first)), false);
    assert.equal(templateChanged(templateOf(first), templateOf(second)), false);
    assert.deepEqual(describeTemplateChange(templateOf(dep), templateOf(first)), []);
  });

  it('a restart does not hide a real template annotation change made with it', async () => {
    const restarted = await k.rolloutRestartPatch(dep, '2025-03-01T08:00:00Z');
    const annotated = await k.patch(restarted, { spec: { template: { metadata: { annotations: { 'prometheus.io/scrape': 'true' } } } } });
    assert.equal(templateChanged(templateOf(restarted), templateOf(annotated)), true);
    assert.deepEqual(describeTemplateChange(templateOf(dep), templateOf(annotated)), ['template annotations changed']);
  });

  it('kubectl reorders keys in its output; order never makes a change', async () => {
    const restarted = await k.rolloutRestartPatch(dep, '2025-03-01T08:00:00Z');
    const keysBefore = Object.keys((templateOf(dep).spec?.containers ?? [])[0] ?? {});
    const keysAfter = Object.keys((templateOf(restarted).spec?.containers ?? [])[0] ?? {});
    assert.notDeepEqual(keysAfter, keysBefore, 'the patch really did reorder the container keys');
    assert.equal(templateChanged(templateOf(dep), templateOf(restarted)), false);
  });

  it('adding and removing containers, ports and volumes are named without their contents', async () => {
    const added = await k.patch(dep, {
      spec: {
        template: {
          spec: {
            containers: [{ name: 'nginx', ports: [{ containerPort: 8080 }] }, { name: 'sidecar', image: 'envoyproxy/envoy:v1.31.0' }],
            volumes: [{ name: 'cache', emptyDir: {} }],
          },
        },
      },
    });
    assert.deepEqual(describeTemplateChange(templateOf(dep), templateOf(added)), [
      'nginx: ports changed',
      'container sidecar added (envoyproxy/envoy:v1.31.0)',
      'pod spec: volumes changed',
    ]);
    const removed = await k.patch(added, { spec: { template: { spec: { containers: [{ name: 'redis', $patch: 'delete' }] } } } });
    assert.deepEqual(describeTemplateChange(templateOf(added), templateOf(removed)), ['container redis removed']);
  });

  it('env changes are reported by container name only, never with their values', async () => {
    const withEnv = await k.patch(dep, {
      spec: { template: { spec: { containers: [{ name: 'nginx', env: [{ name: 'DB_PASSWORD', value: SECRET }] }] } } },
    });
    const rotated = await k.patch(withEnv, {
      spec: { template: { spec: { containers: [{ name: 'nginx', env: [{ name: 'DB_PASSWORD', value: `${SECRET}-2` }] }] } } },
    });
    for (const [a, b] of [[dep, withEnv], [withEnv, rotated]] as const) {
      const changes = describeTemplateChange(templateOf(a), templateOf(b));
      assert.deepEqual(changes, ['env nginx changed']);
      assert.ok(!JSON.stringify(changes).includes(SECRET));
    }
    const created = describeTemplateChange(undefined, templateOf(rotated));
    assert.deepEqual(created, ['image nginx: nginx:1.26', 'image redis: redis:7']);
  });
});

describe('templateChanged: edge cases', () => {
  const base = tpl({ containers: [{ name: 'web', image: 'nginx:1.26' }] });

  it('an empty annotations map equals none, with or without restartedAt', () => {
    const empty = tpl(base.spec, { labels: { app: 'web' }, annotations: {} });
    const restartOnly = tpl(base.spec, { labels: { app: 'web' }, annotations: { [RESTARTED_AT]: '2025-01-01T00:00:00Z' } });
    assert.equal(templateChanged(base, empty), false);
    assert.equal(templateChanged(empty, restartOnly), false);
    assert.equal(templateChanged(restartOnly, base), false, 'restartedAt removed (rollout undo) is no change either');
  });

  it('null and absent fields are equal (older clients send creationTimestamp: null)', () => {
    const withNull = tpl(base.spec, { labels: { app: 'web' }, creationTimestamp: null });
    assert.equal(templateChanged(base, withNull), false);
    assert.equal(jsonEqual({ a: null }, {}), true);
    assert.equal(jsonEqual([null], []), false, 'array elements are kept');
  });

  it('template label changes are changes', () => {
    const relabelled = tpl(base.spec, { labels: { app: 'web', version: 'v2' } });
    assert.equal(templateChanged(base, relabelled), true);
    assert.deepEqual(describeTemplateChange(base, relabelled), ['template labels changed']);
  });

  it('init and ephemeral containers are named by their list', () => {
    const before = tpl({ containers: [{ name: 'web', image: 'nginx:1.26' }], initContainers: [{ name: 'migrate', image: 'flyway:10' }] });
    const after = tpl({
      containers: [{ name: 'web', image: 'nginx:1.26' }],
      initContainers: [{ name: 'migrate', image: 'flyway:11' }],
      ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }],
    });
    assert.deepEqual(describeTemplateChange(before, after), [
      'image initContainer migrate: flyway:10 → flyway:11',
      'ephemeralContainer debugger added (busybox:1.36)',
    ]);
  });

  it('containers without an image or a name do not crash the summary', () => {
    const noImage = tpl({ containers: [{ name: 'web' }, { image: 'redis:7' }] });
    assert.deepEqual(describeTemplateChange(undefined, noImage), ['image web: (none)', 'image #1: redis:7']);
    assert.deepEqual(describeTemplateChange(base, noImage), ['image web: nginx:1.26 → (none)', 'container #1 added (redis:7)']);
  });

  it('no template on either side is no change; a template appearing is one', () => {
    assert.equal(templateChanged(undefined, undefined), false);
    assert.equal(templateChanged(undefined, base), true);
  });
});

describe('changeViewOf: a Pod changes only through its spec', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web' }, resourceVersion: '100' },
    spec: { containers: [{ name: 'web', image: 'nginx:1.26' }] },
    status: { phase: 'Running' },
  };

  it('labels, annotations, resourceVersion and status of a Pod are not changes of what runs', () => {
    const relabelled: KubeObject = {
      ...pod,
      metadata: { ...pod.metadata, labels: { app: 'web', debug: 'true' }, annotations: { note: 'x' }, resourceVersion: '101' },
      status: { phase: 'Running', podIP: '10.0.0.7' },
    };
    assert.equal(templateChanged(changeViewOf(pod), changeViewOf(relabelled)), false);
  });

  it('a Pod image change is one', () => {
    const changed: KubeObject = { ...pod, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } };
    assert.deepEqual(describeTemplateChange(changeViewOf(pod), changeViewOf(changed)), ['image web: nginx:1.26 → nginx:1.27']);
  });

  it('for other kinds the view is the pod template itself', () => {
    const dep: KubeObject = { kind: 'Deployment', spec: { template: base() } };
    assert.equal(changeViewOf(dep), podTemplateOf(dep));
    assert.equal(changeViewOf({ kind: 'Service', spec: {} }), undefined);
    assert.equal(changeViewOf(null), undefined);
  });

  function base(): PodTemplate {
    return tpl({ containers: [{ name: 'web', image: 'nginx:1.26' }] });
  }
});
