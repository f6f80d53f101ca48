/** What an approval binds: the pod template digest and the image list, equal for a manifest and the admitted object. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { approvalExpectationOf, approvalImages, approvalTemplateDigest, approvalTemplateView } from '../../src/approval/template-digest.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { canonicalJson } from '../../src/policy/digest.js';
import { applyDefaults } from '../support/api-server/defaults.js';
import type { JsonObject } from '../support/api-server/types.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const manifestText = readFileSync(new URL('deployment.yaml', dir), 'utf8');
const manifest = (): KubeObject => parse(manifestText) as KubeObject;
/** The canonical template text, written by hand and hashed with sha256sum (see SOURCE.md). */
const canonicalText = readFileSync(new URL('deployment.template.json', dir), 'utf8');
const KNOWN_DIGEST = '046c1c31876b8ff974c7bb2efa2765f0e85dee740f4835cd9def8da49894b741';

/** The manifest as the apiserver admits it: defaulted, stamped by the gate, restarted by kubectl. */
function admitted(): KubeObject {
  const obj = manifest() as JsonObject;
  applyDefaults('Deployment', obj);
  const template = (obj.spec as { template: { metadata: Record<string, unknown> } }).template;
  template.metadata.creationTimestamp = null;
  template.metadata.annotations = {
    'tracegate.io/change-id': 'mxbdtzz46d4e9be3e0',
    'tracegate.io/commit': '3f2a9c1',
    'kubectl.kubernetes.io/restartedAt': '2026-12-01T09:10:00Z',
  };
  return obj as KubeObject;
}

describe('approvalTemplateDigest', () => {
  it('is sha256 of the documented canonical JSON (known answer from sha256sum)', () => {
    assert.equal(canonicalJson(approvalTemplateView(manifest())), canonicalText);
    assert.equal(createHash('sha256').update(canonicalText).digest('hex'), KNOWN_DIGEST);
    assert.equal(approvalTemplateDigest(manifest()), KNOWN_DIGEST);
  });

  it('is the same for the manifest and the object after apiserver defaults, gate stamps and restartedAt', () => {
    const live = admitted();
    const spec = (live.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec;
    assert.equal(spec.containers[0]!.terminationMessagePath, '/dev/termination-log', 'the test server defaulted the container');
    assert.equal(approvalTemplateDigest(live), KNOWN_DIGEST);
  });

  it('ignores annotations under the configured prefix only', () => {
    const obj = manifest() as JsonObject;
    (obj.spec as { template: { metadata: Record<string, unknown> } }).template.metadata.annotations = { 'gate.example/x': '1' };
    assert.equal(approvalTemplateDigest(obj as KubeObject, 'gate.example/'), KNOWN_DIGEST);
    assert.notEqual(approvalTemplateDigest(obj as KubeObject), KNOWN_DIGEST, 'under the default prefix, gate.example/x is part of the template');
  });

  it('takes quantities by value and empty lists and maps as absent, as Kubernetes stores them', () => {
    const edit = (f: (c: Record<string, any>, spec: Record<string, any>) => void) => {
      const obj = manifest() as any;
      f(obj.spec.template.spec.containers[0], obj.spec.template.spec);
      return approvalTemplateDigest(obj);
    };
    assert.equal(edit((c) => (c.resources.requests.cpu = '250m')), KNOWN_DIGEST);
    assert.equal(edit((c) => (c.resources.requests.memory = '131072Ki')), KNOWN_DIGEST);
    assert.equal(edit((c) => delete c.env), KNOWN_DIGEST);
    assert.equal(edit((c, s) => ((c.args = []), (s.nodeSelector = {}), (s.tolerations = []))), KNOWN_DIGEST);
    assert.notEqual(edit((c) => (c.resources.requests.cpu = '251m')), KNOWN_DIGEST);
  });

  it('takes out the volume defaults: a source-less volume is an emptyDir, a projected token lives an hour', () => {
    const volumes = (list: unknown[]) => {
      const obj = manifest() as any;
      obj.spec.template.spec.volumes.push(...list);
      return approvalTemplateDigest(obj);
    };
    const token = (extra: Record<string, unknown>) => ({ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token', ...extra } }] } });
    assert.equal(volumes([{ name: 'scratch' }, token({})]), volumes([{ name: 'scratch', emptyDir: {} }, token({ expirationSeconds: 3600 })]));
    assert.notEqual(volumes([token({})]), volumes([token({ expirationSeconds: 7200 })]));
    assert.notEqual(volumes([{ name: 'scratch' }]), volumes([{ name: 'scratch', emptyDir: { medium: 'Memory' } }]));
  });

  it('changes with anything that changes what runs', () => {
    const variants: ((c: Record<string, any>, spec: Record<string, any>) => void)[] = [
      (c) => (c.image = 'registry.example.com/team-a/web:1.5.1'),
      (c) => (c.env = [{ name: 'DEBUG', value: '1' }]),
      (c) => (c.imagePullPolicy = 'Always'),
      (_c, s) => (s.serviceAccountName = 'admin'),
      (_c, s) => (s.volumes[0].emptyDir = { medium: 'Memory' }),
      (_c, s) => (s.hostNetwork = true),
    ];
    for (const f of variants) {
      const obj = manifest() as any;
      f(obj.spec.template.spec.containers[0], obj.spec.template.spec);
      assert.notEqual(approvalTemplateDigest(obj), KNOWN_DIGEST, f.toString());
    }
  });

  it('covers the pod template only: replicas, labels of the object and its annotations do not count', () => {
    const obj = manifest() as any;
    obj.spec.replicas = 7;
    obj.metadata.annotations = { 'tracegate.io/approval': 'x', note: 'y' };
    assert.equal(approvalTemplateDigest(obj), KNOWN_DIGEST);
  });
});

describe('approvalImages and approvalExpectationOf', () => {
  it('lists containers and init containers as container=image, sorted; ephemeral containers do not count', () => {
    const pod: KubeObject = {
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'team-a' },
      spec: { containers: [{ name: 'b', image: 'b:1' }, { name: 'a', image: 'a:1' }], initContainers: [{ name: 'init', image: 'i:1' }], ephemeralContainers: [{ name: 'debug', image: 'busybox' }] },
    };
    assert.deepEqual(approvalImages(pod), ['a=a:1', 'b=b:1', 'init=i:1']);
    assert.deepEqual(approvalImages(manifest()), [
      'migrate=registry.example.com/team-a/web:1.5.0',
      'proxy=registry.example.com/envoy@sha256:4f3b8a1c2d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8',
      'web=registry.example.com/team-a/web:1.5.0',
    ]);
  });

  it('describes what the gate expects of an approval for the object', () => {
    assert.deepEqual(approvalExpectationOf(admitted(), 'team-a'), {
      tenant: 'team-a',
      namespace: 'team-a',
      kind: 'Deployment',
      name: 'web',
      template: KNOWN_DIGEST,
      images: approvalImages(manifest()),
    });
  });

  it('digests a Job without the selector labels the apiserver generates', () => {
    const job = (labels: Record<string, string>): KubeObject => ({
      kind: 'Job',
      metadata: { name: 'j', namespace: 'team-a' },
      spec: { template: { metadata: { labels }, spec: { restartPolicy: 'Never', containers: [{ name: 'j', image: 'j:1' }] } } },
    });
    assert.equal(approvalTemplateDigest(job({ app: 'j' })), approvalTemplateDigest(job({ app: 'j', 'batch.kubernetes.io/controller-uid': 'u', 'controller-uid': 'u', 'job-name': 'j', 'batch.kubernetes.io/job-name': 'j' })));
  });
});
