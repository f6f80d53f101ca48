/**
 * What "become revision N" means for a live workload (`restoreBody`) and how a rollback checks that it
 * happened (`templateDiff`). The body of the guarded update must carry the revision's pod template
 * verbatim — whatever other managers added since is gone — while keeping what the apiserver and the
 * controllers own, and it must never carry stale tracegate stamps. Objects are untrusted JSON.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { restoreBody, templateDiff, type RestoreExtras } from '../../src/rollback/restore.js';

const P = 'tracegate.io/';
const NO_EXTRAS: RestoreExtras = { labels: {}, annotations: {} };

/** Revision N's Deployment as the chart rendered it. */
function revisionDoc(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      labels: { app: 'web', tier: 'front' },
      annotations: { team: 'shop', [`${P}commit`]: 'stale-commit', [`${P}change-id`]: 'stale-id', 'kubernetes.io/change-cause': 'helm upgrade long ago' },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', version: '1' }, annotations: { 'prometheus.io/scrape': 'true' } },
        spec: {
          initContainers: [{ name: 'migrate', image: 'migrate:1' }],
          containers: [{ name: 'web', image: 'nginx:1.25', env: [{ name: 'MODE', value: 'prod' }], resources: { limits: { cpu: '500m', memory: '256Mi' } } }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
}

/** The live Deployment after `kubectl set image`, `kubectl patch` (a sidecar) and other edits since revision N. */
function liveDoc(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'demo',
      uid: 'uid-1',
      resourceVersion: '812',
      generation: 7,
      creationTimestamp: '2026-01-01T00:00:00Z',
      ownerReferences: [{ apiVersion: 'example.io/v1', kind: 'App', name: 'web', uid: 'owner-1' }],
      finalizers: ['example.io/cleanup'],
      labels: { app: 'web', 'live-only': 'kept', [`${P}tenant`]: 'shop' },
      annotations: {
        'meta.helm.sh/release-name': 'web',
        'deployment.kubernetes.io/revision': '9',
        [`${P}change-id`]: 'live-id',
        [`${P}commit`]: 'live-commit',
        [`${P}changed-by`]: 'mallory',
        'kubernetes.io/change-cause': 'kubectl set image',
        'ops.example.io/note': 'live note',
      },
      managedFields: [{ manager: 'kubectl-patch', operation: 'Update', time: '2026-02-01T00:00:00Z' }],
    },
    spec: {
      replicas: 5,
      paused: false,
      revisionHistoryLimit: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', version: '2', canary: 'true' }, annotations: { 'prometheus.io/scrape': 'false', 'extra.io/x': 'y' } },
        spec: {
          initContainers: [{ name: 'migrate', image: 'migrate:2' }, { name: 'wait', image: 'busybox' }],
          containers: [
            { name: 'web', image: 'nginx:1.27', env: [{ name: 'MODE', value: 'debug' }, { name: 'EXTRA', value: '1' }], resources: { limits: { cpu: '2' } } },
            { name: 'sidecar', image: 'envoy:1' },
          ],
          volumes: [{ name: 'data', emptyDir: {} }, { name: 'scratch', emptyDir: {} }],
          hostNetwork: true,
        },
      },
    },
    status: { replicas: 5 },
  };
}

function meta(body: KubeObject): Record<string, unknown> {
  return body.metadata as Record<string, unknown>;
}

describe('restoreBody', () => {
  it('replaces the pod template exactly with the revision\'s: live-only containers, init containers, volumes, env, resources and template metadata are gone', () => {
    const body = restoreBody(liveDoc(), revisionDoc(), P, NO_EXTRAS);
    assert.deepEqual(body.spec?.template, revisionDoc().spec!.template);
    const names = ((body.spec!.template as { spec: { containers: { name: string }[] } }).spec.containers).map((c) => c.name);
    assert.deepEqual(names, ['web']);
    assert.equal((body.spec!.template as { spec: Record<string, unknown> }).spec.hostNetwork, undefined);
  });

  it('does not alias the revision: editing the body leaves the revision object as it was', () => {
    const target = revisionDoc();
    const body = restoreBody(liveDoc(), target, P, NO_EXTRAS);
    (body.spec as Record<string, unknown>).replicas = 99;
    assert.equal(target.spec!.replicas, 2);
  });

  it('takes the revision\'s other spec fields over the live ones and keeps live-only ones (replicas left to an HPA)', () => {
    const body = restoreBody(liveDoc(), revisionDoc(), P, NO_EXTRAS);
    assert.equal(body.spec!.replicas, 2);
    assert.equal(body.spec!.revisionHistoryLimit, 3);
    assert.equal(body.spec!.paused, false);
    const withoutReplicas = revisionDoc();
    delete withoutReplicas.spec!.replicas;
    assert.equal(restoreBody(liveDoc(), withoutReplicas, P, NO_EXTRAS).spec!.replicas, 5);
  });

  it('keeps the server\'s metadata: identity, resourceVersion (the guard), owner references and finalizers', () => {
    const body = restoreBody(liveDoc(), revisionDoc(), P, NO_EXTRAS);
    const m = meta(body);
    assert.equal(body.apiVersion, 'apps/v1');
    assert.equal(body.kind, 'Deployment');
    assert.equal(m.name, 'web');
    assert.equal(m.namespace, 'demo');
    assert.equal(m.uid, 'uid-1');
    assert.equal(m.resourceVersion, '812');
    assert.equal(m.generation, 7);
    assert.equal(m.creationTimestamp, '2026-01-01T00:00:00Z');
    assert.deepEqual(m.ownerReferences, [{ apiVersion: 'example.io/v1', kind: 'App', name: 'web', uid: 'owner-1' }]);
    assert.deepEqual(m.finalizers, ['example.io/cleanup']);
  });

  it('never carries tracegate\'s keys or change-cause from the live object or the revision; sets the extras\'', () => {
    const plain = meta(restoreBody(liveDoc(), revisionDoc(), P, NO_EXTRAS));
    const annotations = plain.annotations as Record<string, string>;
    const labels = plain.labels as Record<string, string>;
    assert.deepEqual(Object.keys(annotations).filter((k) => k.startsWith(P)), []);
    assert.deepEqual(Object.keys(labels).filter((k) => k.startsWith(P)), []);
    assert.equal(annotations['kubernetes.io/change-cause'], undefined);

    const extras: RestoreExtras = { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { [`${P}commit`]: 'abc123', 'kubernetes.io/change-cause': 'Rollback to 1' } };
    const withExtras = meta(restoreBody(liveDoc(), revisionDoc(), P, extras));
    const a = withExtras.annotations as Record<string, string>;
    assert.equal(a[`${P}commit`], 'abc123');
    assert.equal(a['kubernetes.io/change-cause'], 'Rollback to 1');
    assert.equal(a[`${P}change-id`], undefined);
    assert.equal(a[`${P}changed-by`], undefined);
    assert.equal((withExtras.labels as Record<string, string>)['app.kubernetes.io/managed-by'], 'Helm');
  });

  it('honours another prefix: only that prefix\'s keys are tracegate\'s', () => {
    const live = liveDoc();
    live.metadata!.annotations = { 'acme.io/change-id': 'x', [`${P}commit`]: 'not-ours-here' };
    const a = meta(restoreBody(live, revisionDoc(), 'acme.io/', NO_EXTRAS)).annotations as Record<string, string>;
    assert.equal(a['acme.io/change-id'], undefined);
    assert.equal(a[`${P}commit`], 'stale-commit', 'the revision\'s value of a key outside the prefix wins over the live one');
  });

  it('keeps the Deployment controller\'s annotations, the revision\'s labels and annotations over live ones, and live-only ones', () => {
    const m = meta(restoreBody(liveDoc(), revisionDoc(), P, NO_EXTRAS));
    const a = m.annotations as Record<string, string>;
    const l = m.labels as Record<string, string>;
    assert.equal(a['deployment.kubernetes.io/revision'], '9');
    assert.equal(a.team, 'shop');
    assert.equal(a['ops.example.io/note'], 'live note');
    assert.deepEqual(l, { app: 'web', 'live-only': 'kept', tier: 'front' });
  });

  it('keeps the live controller annotation even when the revision carries another value', () => {
    const target = revisionDoc();
    target.metadata!.annotations = { 'deployment.kubernetes.io/revision': '1' };
    const a = meta(restoreBody(liveDoc(), target, P, NO_EXTRAS)).annotations as Record<string, string>;
    assert.equal(a['deployment.kubernetes.io/revision'], '9');
  });

  it('restores a CronJob through spec.jobTemplate.spec.template, taking the revision\'s schedule', () => {
    const jobTemplate = (image: string, extra: Record<string, unknown>[] = []) => ({
      spec: { backoffLimit: 2, template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'job', image }, ...extra] } } },
    });
    const live: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly', namespace: 'demo', uid: 'cj-1', resourceVersion: '5' },
      spec: { schedule: '*/5 * * * *', suspend: true, jobTemplate: jobTemplate('tool:2', [{ name: 'debug', image: 'busybox' }]) },
    };
    const target: KubeObject = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '0 3 * * *', jobTemplate: jobTemplate('tool:1') } };
    const body = restoreBody(live, target, P, NO_EXTRAS);
    const spec = body.spec as { schedule: string; suspend: boolean; jobTemplate: { spec: { template: unknown; backoffLimit: number } } };
    assert.deepEqual(spec.jobTemplate.spec.template, jobTemplate('tool:1').spec.template);
    assert.equal(spec.jobTemplate.spec.backoffLimit, 2);
    assert.equal(spec.schedule, '0 3 * * *');
    assert.equal(spec.suspend, true, 'a live-only spec field is kept');
    assert.equal(body.spec!.template, undefined, 'no spec.template invented for a CronJob');
    assert.deepEqual(templateDiff(target, body, P), []);
  });

  it('builds a whole object from the revision when there is no live one (created again)', () => {
    const empty: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'demo' } };
    const body = restoreBody(empty, revisionDoc(), P, { labels: {}, annotations: { 'kubernetes.io/change-cause': 'Rollback to 1' } });
    assert.deepEqual(body.spec!.template, revisionDoc().spec!.template);
    assert.equal(body.spec!.replicas, 2);
    assert.deepEqual(body.spec!.selector, { matchLabels: { app: 'web' } });
    assert.equal(meta(body).resourceVersion, undefined);
    assert.equal(meta(body).namespace, 'demo');
  });
});

describe('restoreBody with hostile input', () => {
  const hostileShapes: [string, KubeObject, KubeObject][] = [
    ['non-object metadata and spec on both', { kind: 'Deployment', metadata: 'x', spec: [1, 2] } as unknown as KubeObject, { kind: 'Deployment', metadata: [], spec: 'str' } as unknown as KubeObject],
    ['null metadata, labels and annotations as arrays', { kind: 'Deployment', metadata: null, spec: null } as unknown as KubeObject, { kind: 'Deployment', metadata: { labels: ['a'], annotations: [['k', 'v']] }, spec: { template: [] } } as unknown as KubeObject],
    ['a CronJob whose jobTemplate is a string', { kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: 'nope' } } as unknown as KubeObject, { kind: 'CronJob', spec: { jobTemplate: 7 } } as unknown as KubeObject],
    ['label and annotation values that are not strings', { kind: 'Deployment', metadata: { labels: { a: 1, b: null, c: { d: 'e' } }, annotations: { x: ['y'] } } } as unknown as KubeObject, { kind: 'Deployment', metadata: { annotations: 5 } } as unknown as KubeObject],
    ['no kind at all', {} as KubeObject, {} as KubeObject],
  ];
  for (const [name, live, target] of hostileShapes) {
    it(`never throws: ${name}`, () => {
      const body = restoreBody(live, target, P, { labels: { l: 'v' }, annotations: { a: 'v' } });
      const m = meta(body);
      assert.deepEqual(m.labels, { l: 'v' });
      assert.equal((m.annotations as Record<string, string>).a, 'v');
      for (const v of Object.values(m.annotations as Record<string, unknown>)) assert.equal(typeof v, 'string');
    });
  }

  it('prototype keys in labels, annotations and spec neither pollute Object.prototype nor change the body\'s prototype', () => {
    const live = JSON.parse(
      '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"__proto__":"x","constructor":"y","prototype":"z","ok":"1"},' +
        '"annotations":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"hasOwnProperty":"h"}},' +
        '"spec":{"__proto__":{"polluted":"yes"},"replicas":1,"template":{"spec":{"containers":[{"name":"web","image":"a"}]}}}}',
    ) as KubeObject;
    const target = JSON.parse(
      '{"kind":"Deployment","metadata":{"labels":{"__proto__":{"polluted":"yes"},"constructor":"t"},"annotations":{"__proto__":"p"}},' +
        '"spec":{"constructor":{"prototype":{"polluted":"yes"}},"template":{"spec":{"containers":[{"name":"web","image":"b"}]}}}}',
    ) as KubeObject;
    const body = restoreBody(live, target, P, NO_EXTRAS);
    const m = meta(body);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    for (const obj of [body, m, m.labels, m.annotations, body.spec]) assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.equal((m.labels as Record<string, unknown>).ok, '1');
    // String-valued prototype keys are data, carried as own properties; object-valued ones are dropped.
    assert.equal(Object.getOwnPropertyDescriptor(m.labels, 'constructor')?.value, 't');
    assert.equal((m.annotations as Record<string, unknown>).hasOwnProperty, 'h');
    assert.equal(typeof (m.annotations as Record<string, unknown>).constructor, 'function', 'an object-valued constructor annotation is not carried');
    assert.deepEqual(((body.spec!.template as { spec: { containers: unknown[] } }).spec.containers), [{ name: 'web', image: 'b' }]);
  });
});

/** A live copy of the revision as the apiserver returns it: defaults filled in, gate stamps on the template. */
function asStored(doc: KubeObject): KubeObject {
  const copy = structuredClone(doc);
  const t = copy.spec!.template as { metadata: { annotations?: Record<string, string>; creationTimestamp?: unknown }; spec: Record<string, unknown> };
  t.metadata.creationTimestamp = null;
  t.metadata.annotations = { ...t.metadata.annotations, [`${P}change-id`]: 'abc.def', 'kubectl.kubernetes.io/restartedAt': '2026-03-01T00:00:00Z' };
  Object.assign(t.spec, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30, securityContext: {} });
  for (const list of ['containers', 'initContainers'] as const) {
    for (const c of t.spec[list] as Record<string, unknown>[]) Object.assign(c, { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' });
  }
  for (const v of t.spec.volumes as Record<string, Record<string, unknown>>[]) if (v.configMap) v.configMap.defaultMode = 420;
  return copy;
}

describe('templateDiff', () => {
  it('is empty when the live template differs from the revision only by apiserver defaults and stamps', () => {
    const target = revisionDoc();
    (target.spec!.template as { spec: { volumes: unknown[] } }).spec.volumes.push({ name: 'cfg', configMap: { name: 'cfg' } });
    assert.deepEqual(templateDiff(target, asStored(target), P), []);
  });

  it('ignores the order of keyed lists (containers, env, volumes) but not of args', () => {
    const target = revisionDoc();
    const tspec = (target.spec!.template as { spec: Record<string, unknown[]> }).spec;
    tspec.containers!.push({ name: 'log', image: 'fluent:1', args: ['-a', '-b'], env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] });
    tspec.volumes!.push({ name: 'logs', emptyDir: {} });
    const live = structuredClone(target);
    const lspec = (live.spec!.template as { spec: Record<string, Record<string, unknown>[]> }).spec;
    lspec.containers!.reverse();
    lspec.volumes!.reverse();
    const log = lspec.containers!.find((c) => c.name === 'log')!;
    (log.env as unknown[]).reverse();
    assert.deepEqual(templateDiff(target, live, P), []);
    (log.args as unknown[]).reverse();
    assert.deepEqual(templateDiff(target, live, P), ['set spec.template.spec.containers[name=log].args']);
  });

  it('names every field that differs, revision → live', () => {
    const diff = templateDiff(revisionDoc(), liveDoc(), P);
    for (const field of [
      'set spec.template.spec.containers[name=sidecar]',
      'set spec.template.spec.containers[name=web].image',
      'set spec.template.spec.initContainers[name=wait]',
      'set spec.template.spec.volumes[name=scratch]',
      'set spec.template.spec.containers[name=web].env[name=EXTRA]',
      'set spec.template.spec.hostNetwork',
      'set spec.template.metadata.labels.canary',
    ]) {
      assert.ok(diff.includes(field), `${field} in ${diff.join(', ')}`);
    }
    assert.ok(templateDiff(liveDoc(), revisionDoc(), P).includes('remove spec.template.spec.containers[name=sidecar]'));
  });

  it('reports a template annotation that is not a stamp, and ignores only the stamps of the configured prefix', () => {
    const live = structuredClone(revisionDoc());
    const t = live.spec!.template as { metadata: { annotations: Record<string, string> } };
    t.metadata.annotations['sidecar.istio.io/inject'] = 'true';
    assert.deepEqual(templateDiff(revisionDoc(), live, P), ['set spec.template.metadata.annotations["sidecar.istio.io/inject"]']);
    const stamped = structuredClone(revisionDoc());
    (stamped.spec!.template as { metadata: { annotations: Record<string, string> } }).metadata.annotations[`${P}change-id`] = 'x';
    assert.deepEqual(templateDiff(revisionDoc(), stamped, P), []);
    assert.equal(templateDiff(revisionDoc(), stamped, 'acme.io/').length, 1, 'tracegate.io/ keys are ordinary annotations under another prefix');
  });

  it('takes the kind from the live side when the revision document has none', () => {
    const target = revisionDoc();
    delete target.kind;
    assert.deepEqual(templateDiff(target, asStored(revisionDoc()), P), []);
    assert.ok(templateDiff(target, liveDoc(), P).length > 0);
  });
});
