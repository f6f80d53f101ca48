import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { familiarName, isDockerHub, parseImageRef, type ImageRef } from '../../src/images/index.js';

const SHA256 = 'b0ad43f7ee5edbc0effbc14645ae7055e21bc1973aee5150745632a24a752661';
const SHA512 =
  '4b8bea0e757264767b373ba4963f4e972c428f42bf5335c2abb2e7f15a1b07c8aeddd2e62cacd0f2d669f49d8d975d952031e3041371639ec84baab400ab4802';
const MULTIHASH = 'QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8';
const B64U = 'LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564';
const CONFORMANCE_DIR = fileURLToPath(new URL('../fixtures/conformance/', import.meta.url));

type Expected = Omit<ImageRef, 'raw'>;

/** Expected fields of a Docker Hub / other-registry ref, so the table stays readable. */
function ref(
  registry: string,
  path: string,
  familiarRepo: string,
  extra: { tag?: string; digest?: string; digestAlgorithm?: string } = {},
): Expected {
  const repository = `${registry}/${path}`;
  const suffix = (extra.tag ? `:${extra.tag}` : '') + (extra.digest ? `@${extra.digest}` : '');
  const forms = { normalized: repository + suffix, familiar: familiarRepo + suffix };
  return { registry, path, repository, ...extra, ...forms };
}

const valid: [string, Expected][] = [
  ['nginx', ref('docker.io', 'library/nginx', 'nginx')],
  ['nginx:1.27', ref('docker.io', 'library/nginx', 'nginx', { tag: '1.27' })],
  ['docker.io/library/nginx', ref('docker.io', 'library/nginx', 'nginx')],
  ['docker.io/nginx:latest', ref('docker.io', 'library/nginx', 'nginx', { tag: 'latest' })],
  ['index.docker.io/nginx', ref('docker.io', 'library/nginx', 'nginx')],
  ['index.docker.io/team/app:v1', ref('docker.io', 'team/app', 'team/app', { tag: 'v1' })],
  // Only docker.io and index.docker.io are Docker Hub aliases.
  [
    'registry-1.docker.io/library/nginx',
    ref('registry-1.docker.io', 'library/nginx', 'registry-1.docker.io/library/nginx'),
  ],
  ['team/app:1.0', ref('docker.io', 'team/app', 'team/app', { tag: '1.0' })],
  ['docker.io/library/team/app', ref('docker.io', 'library/team/app', 'library/team/app')],
  ['registry:5000/team/app:1.2', ref('registry:5000', 'team/app', 'registry:5000/team/app', { tag: '1.2' })],
  ['registry:5000/team/app', ref('registry:5000', 'team/app', 'registry:5000/team/app')],
  ['localhost/app', ref('localhost', 'app', 'localhost/app')],
  ['localhost:5000/app', ref('localhost:5000', 'app', 'localhost:5000/app')],
  // Single component: `localhost:5000` is Hub image `localhost` with tag 5000, as docker reads it.
  ['localhost:5000', ref('docker.io', 'library/localhost', 'localhost', { tag: '5000' })],
  ['[::1]:5000/app:1', ref('[::1]:5000', 'app', '[::1]:5000/app', { tag: '1' })],
  ['[fe80::1]/app', ref('[fe80::1]', 'app', '[fe80::1]/app')],
  ['10.0.0.1:5000/app', ref('10.0.0.1:5000', 'app', '10.0.0.1:5000/app')],
  ['ghcr.io/org/sub/app:v2', ref('ghcr.io', 'org/sub/app', 'ghcr.io/org/sub/app', { tag: 'v2' })],
  ['openpolicyagent:443/opa', ref('openpolicyagent:443', 'opa', 'openpolicyagent:443/opa')],
  ['nginx:443/nginx', ref('nginx:443', 'nginx', 'nginx:443/nginx')],
  // Registry hosts are case-insensitive: lowercased so deny-lists cannot be dodged by case.
  ['K8S.GCR.IO/kustomize:v1', ref('k8s.gcr.io', 'kustomize', 'k8s.gcr.io/kustomize', { tag: 'v1' })],
  ['Docker.IO/nginx', ref('docker.io', 'library/nginx', 'nginx')],
  ['a.b-c.d/x__y/z--w.v_u', ref('a.b-c.d', 'x__y/z--w.v_u', 'a.b-c.d/x__y/z--w.v_u')],
  ['nginx:_Tag-With.UPPER', ref('docker.io', 'library/nginx', 'nginx', { tag: '_Tag-With.UPPER' })],
  [
    `app@sha256:${SHA256}`,
    ref('docker.io', 'library/app', 'app', { digest: `sha256:${SHA256}`, digestAlgorithm: 'sha256' }),
  ],
  [
    `app:1.2@sha256:${SHA256}`,
    ref('docker.io', 'library/app', 'app', { tag: '1.2', digest: `sha256:${SHA256}`, digestAlgorithm: 'sha256' }),
  ],
  [
    `allowed/nginx@sha512:${SHA512}`,
    ref('docker.io', 'allowed/nginx', 'allowed/nginx', { digest: `sha512:${SHA512}`, digestAlgorithm: 'sha512' }),
  ],
  [
    `allowed/unreg@multihash+base58:${MULTIHASH}`,
    ref('docker.io', 'allowed/unreg', 'allowed/unreg', {
      digest: `multihash+base58:${MULTIHASH}`,
      digestAlgorithm: 'multihash+base58',
    }),
  ],
  [
    `allowed/unreg@sha256+b64u:${B64U}`,
    ref('docker.io', 'allowed/unreg', 'allowed/unreg', {
      digest: `sha256+b64u:${B64U}`,
      digestAlgorithm: 'sha256+b64u',
    }),
  ],
  [
    `registry:5000/team/app:1.2@sha256:${SHA256}`,
    ref('registry:5000', 'team/app', 'registry:5000/team/app', {
      tag: '1.2',
      digest: `sha256:${SHA256}`,
      digestAlgorithm: 'sha256',
    }),
  ],
];

const invalid: [string, RegExp][] = [
  ['', /empty/],
  [' nginx', /leading or trailing whitespace/],
  ['nginx ', /leading or trailing whitespace/],
  ['nginx\n', /leading or trailing whitespace/],
  ['ngi nx', /contains whitespace/],
  ['Nginx', /must be lowercase: "Nginx"/],
  ['team/App:1', /must be lowercase: "App"/],
  // docker would read `Foo` as a registry host; without '.'/':' it is a Hub namespace here, so an error.
  ['Foo/bar', /must be lowercase: "Foo"/],
  ['nginx:', /tag is empty/],
  [':tag', /repository name is empty/],
  ['@sha256:' + SHA256, /repository name is empty/],
  ['a//b', /empty path component/],
  ['/nginx', /must not start with '\/'/],
  ['nginx/', /must not end with '\/'/],
  ['https://registry.example.com/app', /URL scheme \("https:\/\/"\)/],
  ['app@sha256:abc', /sha256 digest must be exactly 64 lowercase hex characters \(got 3/],
  [`app@sha256:${SHA256.toUpperCase()}`, /64 lowercase hex characters \(got 64 characters, not all lowercase/],
  [`app@sha512:${SHA256}`, /sha512 digest must be exactly 128/],
  ['app@', /digest is empty/],
  ['app@sha256', /must be <algorithm>:<encoded>/],
  [`app@SHA256:${SHA256}`, /invalid digest algorithm "SHA256"/],
  ['app@foo:', /invalid foo digest ""/],
  ['app@foo:a/b', /invalid foo digest "a\/b"/],
  [`app@@sha256:${SHA256}`, /more than one '@'/],
  ['@@', /more than one '@'/],
  ['a:b:c', /invalid tag "b:c"/],
  ['nginx:-1', /invalid tag "-1"/],
  [`nginx:${'a'.repeat(129)}`, /tag is longer than 128 characters \(129\)/],
  ['nginx*', /invalid character "\*"/],
  ['nginx:1?', /invalid character "\?"/],
  ['ngïnx', /invalid character "ï"/],
  ['app-/x', /invalid repository path component "app-"/],
  ['foo..com/app', /invalid registry host "foo\.\.com"/],
  ['host:port/app', /invalid registry host "host:port"/],
  ['-bad.io/app', /invalid registry host "-bad\.io"/],
  [SHA256, /image ID, not a repository name/],
];

describe('parseImageRef', () => {
  for (const [input, expected] of valid) {
    test(`parses ${input}`, () => {
      const r = parseImageRef(input);
      assert.ok(r.ok, r.ok ? '' : r.error);
      assert.deepEqual(r.value, { raw: input, ...expected });
    });
  }

  for (const [input, reason] of invalid) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      const r = parseImageRef(input);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.error, reason);
    });
  }

  test('normalized and familiar forms parse back to the same reference', () => {
    for (const [input] of valid) {
      const r = parseImageRef(input);
      assert.ok(r.ok);
      for (const form of [r.value.normalized, r.value.familiar]) {
        const again = parseImageRef(form);
        assert.ok(again.ok, `${form}: ${again.ok ? '' : again.error}`);
        assert.equal(again.value.normalized, r.value.normalized, form);
      }
    }
  });

  test('a missing tag stays missing rather than defaulting to latest', () => {
    const r = parseImageRef('openpolicyagent/opa');
    assert.ok(r.ok);
    assert.equal(r.value.tag, undefined);
    assert.equal('tag' in r.value, false);
    assert.equal('digest' in r.value, false);
  });

  test('the repository name may be 255 characters, not 256', () => {
    // `docker.io/library/` (18) is counted, as docker counts the normalised name.
    const fits = 'a'.repeat(255 - 'docker.io/library/'.length);
    assert.equal(parseImageRef(fits).ok, true);
    const r = parseImageRef(`${fits}a:1`);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /longer than 255 characters \(256\)/);
    const huge = parseImageRef(`${'a'.repeat(100_000)}!`);
    assert.equal(huge.ok, false);
  });

  test('a 128-character tag is accepted', () => {
    assert.equal(parseImageRef(`nginx:${'a'.repeat(128)}`).ok, true);
  });

  test('non-string input is an error, not a throw', () => {
    for (const bad of [undefined, null, 42, {}] as unknown as string[]) {
      const r = parseImageRef(bad);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.error, /must be a string/);
    }
  });

  test('isDockerHub and familiarName', () => {
    const hub = parseImageRef('index.docker.io/library/nginx:1');
    const other = parseImageRef('ghcr.io/library/nginx:1');
    assert.ok(hub.ok && other.ok);
    assert.equal(isDockerHub(hub.value), true);
    assert.equal(isDockerHub(other.value), false);
    assert.equal(familiarName(hub.value), 'nginx:1');
    assert.equal(familiarName(other.value), 'ghcr.io/library/nginx:1');
  });
});

describe('parseImageRef on the conformance resources', () => {
  const images = new Set<string>();
  const index = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'index.json'), 'utf8')) as { resource_file: string }[];
  for (const c of index) {
    const doc = parseYaml(readFileSync(join(CONFORMANCE_DIR, c.resource_file), 'utf8')) as {
      spec?: Record<string, { image?: unknown }[] | undefined>;
    };
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
      for (const container of doc.spec?.[list] ?? []) {
        if (typeof container.image === 'string') images.add(container.image);
      }
    }
  }

  test('every image in the cases parses', () => {
    assert.ok(images.size >= 40, `expected the case images, found ${images.size}`);
    for (const image of images) {
      const r = parseImageRef(image);
      assert.ok(r.ok, `${image}: ${r.ok ? '' : r.error}`);
      assert.equal(r.value.raw, image);
    }
  });

  test('a registry port is never a tag', () => {
    for (const image of ['openpolicyagent:443/opa', 'nginx:443/nginx']) {
      assert.ok(images.has(image));
      const r = parseImageRef(image);
      assert.ok(r.ok);
      assert.equal(r.value.tag, undefined, image);
    }
  });

  test('images with a digest in the cases keep it, with their tag', () => {
    const withDigest = [...images].filter((i) => i.includes('@'));
    assert.ok(withDigest.length >= 5);
    for (const image of withDigest) {
      const r = parseImageRef(image);
      assert.ok(r.ok);
      assert.equal(`@${r.value.digest ?? ''}`, image.slice(image.indexOf('@')));
      assert.equal(r.value.tag, /:[^/@]*@/.exec(image)?.[0].slice(1, -1));
    }
  });
});
