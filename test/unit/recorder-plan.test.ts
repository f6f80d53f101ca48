/**
 * The recorder's planner: what a workload's live state calls for, given its release history. Live
 * objects carry apiserver defaults; manifests are what Helm rendered. Recording must patch only what
 * changed, never the defaults, and must plan nothing for a state already recorded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { KubeObject, PodTemplate } from '../../src/k8s/types.js';
import { planRecording, type PlanInput } from '../../src/recorder/plan.js';
import { readProvenance } from '../../src/recorder/provenance.js';
import { stampAsGate, TEST_KEYRING } from '../support/stamps.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import type { StoredRelease } from '../../src/recorder/storage.js';

const NOW = new Date('2026-11-22T10:00:00.000Z');
const MANIFEST =
  '---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n' +
  '  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n' +
  '      containers:\n        - name: web\n          image: "nginx:1.25"\n          ports:\n            - containerPort: 80\n';

function rev(version: number, status: string, manifest = MANIFEST, labels: Record<string, string> = {}): StoredRelease {
  const release: HelmRelease = {
    name: 'web',
    info: { first_deployed: '2025-11-20T10:00:00.123456789Z', last_deployed: '2025-11-20T10:00:00.123456789Z', description: 'Install complete', status, notes: 'hi' },
    chart: { metadata: { name: 'web', version: '0.1.0', appVersion: '1.25' }, templates: [], values: { image: { tag: '1.25' } }, files: [] },
    config: { replicaCount: 1 },
    manifest,
    version,
    namespace: 'demo',
    apply_method: 'csa',
    futureField: { kept: true },
  };
  return { release, labels };
}

/** The Deployment as the apiserver stores it: rendered manifest + Helm ownership + defaults + status. */
function live(image: string, extra: { annotations?: Record<string, string>; templateAnnotations?: Record<string, string> } = {}): KubeObject {
  const doc = parseYaml(MANIFEST.split('\n').slice(2).join('\n')) as KubeObject;
  const template = doc.spec!.template as PodTemplate;
  template.spec!.containers![0]!.image = image;
  Object.assign(template.spec!.containers![0]!, { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', resources: {} });
  Object.assign(template.spec!, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', securityContext: {}, terminationGracePeriodSeconds: 30 });
  if (extra.templateAnnotations) template.metadata!.annotations = extra.templateAnnotations;
  return {
    ...doc,
    metadata: {
      ...doc.metadata,
      namespace: 'demo',
      uid: 'u-1',
      resourceVersion: '42',
      annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'demo', 'deployment.kubernetes.io/revision': '2', ...extra.annotations },
      managedFields: [
        { manager: 'helm', operation: 'Update', time: '2025-11-20T10:00:00Z' },
        { manager: 'kubectl-set', operation: 'Update', time: '2026-11-22T09:59:00Z' },
      ],
    },
    spec: { ...doc.spec, revisionHistoryLimit: 10, progressDeadlineSeconds: 600, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } },
    status: { replicas: 1 },
  };
}

/** Stamps the gate writes on an admitted change of `obj`'s current template (signed with the test key). */
function gateStamp(obj: KubeObject, over: { tenant?: string; changedBy?: string; fieldManager?: string; commit?: string; approver?: string } = {}): KubeObject {
  return stampAsGate(obj, { tenant: 'shop', changedBy: 'alice', fieldManager: 'kubectl-set', commit: 'c0ffee1', approver: 'bob', id: 'mgx3k2q1a7f3c9e2', ...over });
}

/** planRecording with the provenance read as the recorder reads it. */
function planFor(input: Omit<PlanInput, 'provenance'>) {
  return planRecording({ ...input, provenance: readProvenance(input.workload, 'tracegate.io/', TEST_KEYRING) });
}

const helmRelease = { name: 'web', namespace: 'demo', adopted: false };

describe('planRecording', () => {
  it('appends a revision with only the image changed in the manifest, provenance in description and labels', () => {
    const obj = gateStamp(live('nginx:1.26'));
    const plan = planFor({ workload: obj, release: helmRelease, history: [rev(1, 'deployed', MANIFEST, { team: 'shop' })], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'record');
    if (plan.action !== 'record') return;
    assert.equal(plan.release.version, 2);
    assert.equal(plan.release.info.status, 'deployed');
    assert.equal(plan.release.info.first_deployed, '2025-11-20T10:00:00.123456789Z', 'first_deployed kept verbatim');
    assert.equal(plan.release.info.last_deployed, NOW.toISOString());
    assert.equal(plan.release.manifest, MANIFEST.replace('"nginx:1.25"', '"nginx:1.26"'), 'only the image line changes');
    assert.deepEqual(plan.release.chart, rev(1, 'deployed').release.chart, 'chart carried over');
    assert.deepEqual(plan.release.config, { replicaCount: 1 });
    assert.equal(plan.release.apply_method, 'csa');
    assert.deepEqual(plan.release.futureField, { kept: true }, 'unknown keys preserved');
    assert.match(plan.release.info.description!, /image web: nginx:1\.25 → nginx:1\.26/);
    assert.match(plan.release.info.description!, /by alice via kubectl-set/);
    assert.match(plan.release.info.description!, /commit c0ffee1, approved by bob, change mgx3k2q1a7f3c9e2/);
    assert.doesNotMatch(plan.release.info.description!, /UNVERIFIED/);
    assert.equal(plan.labels.team, 'shop', 'custom labels carried over');
    assert.equal(plan.labels['tracegate.io/verified'], 'true');
    assert.equal(plan.labels['tracegate.io/commit'], 'c0ffee1');
    assert.equal(plan.labels['tracegate.io/change-id'], 'mgx3k2q1a7f3c9e2');
    assert.deepEqual(plan.supersede.map((s) => s.release.version), [1]);
    assert.doesNotMatch(plan.release.manifest!, /terminationMessagePath|imagePullPolicy|dnsPolicy|status/, 'no defaults leak');
  });

  it('plans nothing when the current revision already matches the live template (idempotent)', () => {
    const obj = gateStamp(live('nginx:1.26'));
    const recorded = rev(2, 'deployed', MANIFEST.replace('"nginx:1.25"', '"nginx:1.26"'));
    const plan = planFor({ workload: obj, release: helmRelease, history: [rev(1, 'superseded'), recorded], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'none');
  });

  it('plans nothing for a Helm upgrade (Helm already wrote the matching revision)', () => {
    const plan = planFor({ workload: live('nginx:1.25'), release: helmRelease, history: [rev(1, 'deployed')], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'none');
  });

  it('ignores kubectl rollout restart (restartedAt only)', () => {
    const obj = live('nginx:1.25', { templateAnnotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T09:00:00Z' } });
    assert.equal(planFor({ workload: obj, release: helmRelease, history: [rev(1, 'deployed')], prefix: 'tracegate.io/', now: NOW }).action, 'none');
  });

  it('waits while the latest revision is pending (Helm mid-operation)', () => {
    const plan = planFor({ workload: live('nginx:1.26'), release: helmRelease, history: [rev(1, 'deployed'), rev(2, 'pending-upgrade')], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'wait');
  });

  it('records a change without a matching gate change-id as UNVERIFIED, without stale provenance', () => {
    // The gate stamped 1.26; then someone changed the image to 1.27 while the webhook was down.
    const obj = gateStamp(live('nginx:1.26'));
    (obj.spec!.template as PodTemplate).spec!.containers![0]!.image = 'nginx:1.27';
    const plan = planFor({ workload: obj, release: helmRelease, history: [rev(1, 'deployed')], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'record');
    if (plan.action !== 'record') return;
    assert.equal(plan.provenance.verified, false);
    assert.match(plan.release.info.description!, /^UNVERIFIED: changed without passing the tracegate gate\. image web: nginx:1\.25 → nginx:1\.27 via kubectl-set \(per managedFields\)/);
    assert.doesNotMatch(plan.release.info.description!, /alice|c0ffee1/, 'annotations of the earlier change are not attributed to this one');
    assert.equal(plan.labels['tracegate.io/verified'], 'false');
    assert.equal(plan.labels['tracegate.io/commit'], undefined);
  });

  it('after a crash between create and supersede, repairs the second deployed revision instead of recording again', () => {
    const obj = gateStamp(live('nginx:1.26'));
    const plan = planFor({
      workload: obj,
      release: helmRelease,
      history: [rev(1, 'deployed'), rev(2, 'deployed', MANIFEST.replace('"nginx:1.25"', '"nginx:1.26"'))],
      prefix: 'tracegate.io/',
      now: NOW,
    });
    assert.equal(plan.action, 'none');
    assert.deepEqual(plan.action === 'none' && plan.repair?.map((r) => r.release.version), [1]);
  });

  it('adopts a workload of no release into revision 1 with a clean manifest and a minimal chart', () => {
    const obj = gateStamp(live('nginx:1.26'));
    delete obj.metadata!.annotations!['meta.helm.sh/release-name'];
    delete obj.metadata!.annotations!['meta.helm.sh/release-namespace'];
    const plan = planFor({ workload: obj, release: { name: 'web', namespace: 'demo', adopted: true }, history: [], prefix: 'tracegate.io/', now: NOW });
    assert.equal(plan.action, 'record');
    if (plan.action !== 'record') return;
    assert.equal(plan.release.version, 1);
    assert.equal(plan.release.chart?.metadata?.annotations?.['tracegate.io/adopted'], 'true');
    assert.match(plan.release.manifest!, /^---\n# Source: web\/templates\/deployment\.yaml\n/);
    const doc = parseYaml(plan.release.manifest!.split('\n').slice(2).join('\n')) as KubeObject;
    assert.equal(doc.status, undefined);
    assert.equal(doc.metadata?.uid, undefined);
    assert.equal(doc.metadata?.managedFields, undefined);
    assert.doesNotMatch(plan.release.manifest!, /tracegate\.io\/|terminationMessagePath|revisionHistoryLimit/);
    assert.match(plan.release.info.description!, /^Adopted by tracegate: image web: nginx:1\.26 by alice/);
  });
});
