/**
 * Every image a pod can run is judged, and judged as the registry and the runtime read it: image volumes
 * next to every container list, ephemeral containers added by `kubectl debug`, tags compared
 * case-sensitively yet case variants of a disallowed tag refused, and digests pinned only with an
 * algorithm a runtime can verify.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { KubeObject, PodSpec } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import type { PolicySet, RequestContext, Violation } from '../../src/policy/types.js';
import { isTracegateError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema });
const SHA256 = 'a'.repeat(64);
const SHA512 = 'b'.repeat(128);

function bundled(name: string): PolicySet {
  return loader.toSet(loader.parse(readFileSync(join(ROOT, 'policies', name), 'utf8'), `policies/${name}`));
}

/** A one-rule policy from the YAML of its images (or resources) check. */
function rulePolicy(check: string): PolicySet {
  const text = ['apiVersion: tracegate.io/v1alpha1', 'kind: Policy', 'metadata: {name: p}', 'spec:', '  rules:', '    - id: r', `      ${check}`].join('\n');
  return loader.toSet(loader.parse(text, 'p.yaml'));
}

function ctx(operation: RequestContext['operation'], over: Partial<RequestContext> = {}): RequestContext {
  return { operation, namespace: 'team-a', username: 'alice', groups: [], fieldManager: 'kubectl-create', ...over };
}

function deployment(spec: PodSpec): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a' }, spec: { template: { spec } } };
}

function pod(spec: PodSpec): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a' }, spec };
}

const WEB = { name: 'web', image: 'nginx:1.27' };
const volume = (name: string, reference: string) => ({ name, image: { reference, pullPolicy: 'IfNotPresent' } });
const brief = (vs: readonly Violation[]) => vs.map((v) => [v.path, v.volume ?? v.container, v.message]);

describe('image volumes (spec.volumes[].image.reference)', () => {
  it('busybox:latest and an untagged image in an image volume are refused by no-latest, named as volumes', () => {
    const obj = deployment({ containers: [WEB], volumes: [{ name: 'data', emptyDir: {} }, volume('tools', 'busybox:latest'), volume('bare', 'busybox')] });
    const result = evaluate(bundled('image-hygiene.yaml'), ctx('CREATE'), obj, null);
    assert.equal(result.verdict, 'deny');
    assert.deepEqual(
      result.violations.map((v) => [v.containerList, v.volume, v.container, v.path, v.value]),
      [
        ['imageVolumes', 'tools', undefined, 'spec.template.spec.volumes[1].image.reference', 'busybox:latest'],
        ['imageVolumes', 'bare', undefined, 'spec.template.spec.volumes[2].image.reference', 'busybox'],
      ],
    );
    assert.match(result.violations[0]!.message, /^volume tools: image "busybox:latest" uses the disallowed tag "latest"$/);
    assert.match(result.violations[1]!.message, /^volume bare: image "busybox" has no tag/);
  });

  it('an allow-list refuses an image volume from another registry (evil.io/tools:latest), on a Pod too', () => {
    const set = rulePolicy('images: {allowed: ["registry.example.com/"]}');
    const obj = pod({ containers: [{ name: 'web', image: 'registry.example.com/web:1.0' }], volumes: [volume('tools', 'evil.io/tools:latest')] });
    assert.deepEqual(brief(evaluate(set, ctx('CREATE'), obj, null).violations), [
      ['spec.volumes[0].image.reference', 'tools', 'volume tools: image "evil.io/tools:latest" is not from an allowed registry or repository (allowed: registry.example.com/)'],
    ]);
  });

  it('disallowed repositories and requireDigest judge image volumes as well', () => {
    const deny = rulePolicy('images: {disallowed: ["evil.io/"]}');
    const obj = deployment({ containers: [WEB], volumes: [volume('tools', 'evil.io/tools:1.0')] });
    assert.match(evaluate(deny, ctx('CREATE'), obj, null).violations[0]!.message, /^volume tools: .* is from a disallowed registry or repository \(evil\.io\/\)$/);
    const digest = rulePolicy('images: {requireDigest: true, containers: [imageVolumes]}');
    assert.deepEqual(brief(evaluate(digest, ctx('CREATE'), obj, null).violations).map((v) => v[0]), ['spec.template.spec.volumes[0].image.reference']);
    const pinned = deployment({ containers: [WEB], volumes: [volume('tools', `evil.io/tools@sha256:${SHA256}`)] });
    assert.deepEqual(evaluate(digest, ctx('CREATE'), pinned, null).violations, []);
  });

  it('a rule limited to imageVolumes judges only them; one limited to containers leaves them alone', () => {
    const obj = deployment({ containers: [{ name: 'web', image: 'nginx:latest' }], volumes: [volume('tools', 'busybox:latest')] });
    const volumesOnly = rulePolicy('images: {disallowedTags: [latest], containers: [imageVolumes]}');
    assert.deepEqual(brief(evaluate(volumesOnly, ctx('CREATE'), obj, null).violations).map((v) => v[1]), ['tools']);
    const containersOnly = rulePolicy('images: {disallowedTags: [latest], containers: [containers]}');
    assert.deepEqual(brief(evaluate(containersOnly, ctx('CREATE'), obj, null).violations).map((v) => v[1]), ['web']);
  });

  it('resources rules do not apply to image volumes, and cannot be pointed at them', () => {
    const obj = deployment({ containers: [{ ...WEB, resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } }], volumes: [volume('tools', 'busybox:1.36')] });
    assert.deepEqual(evaluate(bundled('resources.yaml'), ctx('CREATE'), obj, null).violations, []);
    assert.throws(() => rulePolicy('resources: {limits: [cpu], containers: [imageVolumes]}'), (err: unknown) => isTracegateError(err) && /resources\.containers\[0\]: must be one of "containers", "initContainers", "ephemeralContainers"/.test(err.message));
  });

  it('a volume without an image reference is left to the apiserver; a bad reference is a violation', () => {
    const obj = deployment({ containers: [WEB], volumes: [{ name: 'empty', image: {} }, volume('bad', 'Evil::x')] });
    assert.deepEqual(brief(evaluate(bundled('image-hygiene.yaml'), ctx('CREATE'), obj, null).violations).map((v) => [v[0], v[1]]), [['spec.template.spec.volumes[1].image.reference', 'bad']]);
  });

  it('on UPDATE a volume keeps its grandfathered violation by name when another volume is inserted before it', () => {
    const set = rulePolicy('images: {disallowedTags: [latest]}');
    const old = deployment({ containers: [WEB], volumes: [volume('tools', 'busybox:latest')] });
    const renamedOrder = deployment({ containers: [WEB], volumes: [volume('cfg', 'registry.example.com/cfg:1'), volume('tools', 'busybox:latest')] });
    assert.deepEqual(evaluate(set, ctx('UPDATE'), renamedOrder, old).violations, []);
    const added = deployment({ containers: [WEB], volumes: [volume('tools', 'busybox:latest'), volume('more', 'alpine:latest')] });
    assert.deepEqual(brief(evaluate(set, ctx('UPDATE'), added, old).violations).map((v) => v[1]), ['more']);
  });
});

describe('ephemeral containers (kubectl debug) on the ephemeralcontainers subresource', () => {
  const running = pod({ containers: [{ name: 'web', image: 'nginx:latest' }] });
  const debugged = pod({ containers: [{ name: 'web', image: 'nginx:latest' }], ephemeralContainers: [{ name: 'debugger', image: 'busybox:latest' }] });
  const debug = ctx('UPDATE', { subResource: 'ephemeralcontainers', fieldManager: 'kubectl-debug' });

  it('the new ephemeral container is judged, while the grandfathered container is not', () => {
    const result = evaluate(bundled('image-hygiene.yaml'), debug, debugged, running);
    assert.deepEqual(result.violations.map((v) => [v.containerList, v.container, v.path]), [['ephemeralContainers', 'debugger', 'spec.ephemeralContainers[0].image']]);
    assert.equal(result.verdict, 'deny');
  });

  it('a pinned debug image passes, and a second debug container is judged alone', () => {
    const pinned = pod({ containers: [{ name: 'web', image: 'nginx:latest' }], ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }] });
    assert.deepEqual(evaluate(bundled('image-hygiene.yaml'), debug, pinned, running).violations, []);
    const second = pod({ containers: [{ name: 'web', image: 'nginx:latest' }], ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36' }, { name: 'debugger-2', image: 'alpine' }] });
    assert.deepEqual(evaluate(bundled('image-hygiene.yaml'), debug, second, pinned).violations.map((v) => v.container), ['debugger-2']);
  });
});

describe('tags: case-sensitive to the registry, case variants of a disallowed tag refused', () => {
  const set = bundled('image-hygiene.yaml');
  const imageOf = (image: string) => deployment({ containers: [{ name: 'web', image }] });

  for (const tag of ['LATEST', 'Latest', 'lAtEsT']) {
    it(`nginx:${tag} is refused as a look-alike of latest, saying why`, () => {
      const [v, ...rest] = evaluate(set, ctx('CREATE'), imageOf(`nginx:${tag}`), null).violations;
      assert.deepEqual(rest, []);
      assert.equal(v?.value, `nginx:${tag}`);
      assert.equal(v?.message, `container web: image "nginx:${tag}" uses the tag "${tag}", a look-alike of the disallowed tag "latest": registries compare tags case-sensitively, so it is a distinct tag, just as mutable and not pinned`);
    });
  }

  it('version tags pass: v1.2.3, 1.27, latest-1.2 (not a case variant of latest)', () => {
    for (const image of ['nginx:v1.2.3', 'nginx:1.27', 'nginx:latest-1.2', `nginx@sha512:${SHA512}`]) {
      assert.deepEqual(evaluate(set, ctx('CREATE'), imageOf(image), null).violations, [], image);
    }
  });

  it('disallowedTagsCaseInsensitive: false compares exactly, as Gatekeeper does', () => {
    const exact = rulePolicy('images: {disallowedTags: [latest, Testing], disallowedTagsCaseInsensitive: false}');
    assert.deepEqual(evaluate(exact, ctx('CREATE'), imageOf('nginx:LATEST'), null).violations, []);
    assert.equal(evaluate(exact, ctx('CREATE'), imageOf('nginx:Testing'), null).violations.length, 1);
  });

  it('the default applies to every disallowed tag, written in any case', () => {
    const any = rulePolicy('images: {disallowedTags: [Testing]}');
    assert.match(evaluate(any, ctx('CREATE'), imageOf('nginx:TESTING'), null).violations[0]!.message, /a look-alike of the disallowed tag "Testing"/);
  });
});

describe('digests: only algorithms a runtime can verify pin an image', () => {
  const imageOf = (image: string) => deployment({ containers: [{ name: 'web', image }] });
  const digestRule = rulePolicy('images: {requireDigest: true}');

  for (const image of ['nginx@foo:bar', 'nginx:1.27@md5:0123456789abcdef0123456789abcdef', `nginx@sha384:${'c'.repeat(96)}`, 'nginx@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8']) {
    it(`${image.slice(0, 40)} is an invalid reference under requireDigest and under no-latest`, () => {
      for (const set of [digestRule, bundled('image-hygiene.yaml')]) {
        const violations = evaluate(set, ctx('CREATE'), imageOf(image), null).violations;
        assert.equal(violations.length, 1, JSON.stringify(violations));
        const algorithm = image.slice(image.indexOf('@') + 1, image.lastIndexOf(':'));
        assert.equal(violations[0]!.message, `container web: image "${image}" is not a valid image reference: digest algorithm "${algorithm}" is not one of the accepted sha256, sha512: a runtime refuses a digest it cannot verify, so it pins nothing`);
        assert.match(violations[0]!.fix, /^pin it as nginx@sha256:<64 hex digits>$/);
      }
    });
  }

  it('sha256 and sha512 digests pin', () => {
    for (const image of [`nginx@sha256:${SHA256}`, `nginx:1.27@sha512:${SHA512}`]) assert.deepEqual(evaluate(digestRule, ctx('CREATE'), imageOf(image), null).violations, [], image);
  });

  it('digestAlgorithms narrows or widens the accepted list', () => {
    const only256 = rulePolicy('images: {requireDigest: true, digestAlgorithms: [sha256]}');
    assert.match(evaluate(only256, ctx('CREATE'), imageOf(`nginx@sha512:${SHA512}`), null).violations[0]!.message, /digest algorithm "sha512" is not one of the accepted sha256:/);
    const wider = rulePolicy('images: {requireDigest: true, digestAlgorithms: [sha256, "multihash+base58"]}');
    assert.deepEqual(evaluate(wider, ctx('CREATE'), imageOf('nginx@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8'), null).violations, []);
  });

  it('an algorithm name outside the grammar is a schema error', () => {
    assert.throws(() => rulePolicy('images: {digestAlgorithms: ["SHA256"]}'), (err: unknown) => isTracegateError(err) && /digestAlgorithms\[0\]/.test(err.message));
  });
});
