import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import {
  compileImagePattern,
  compileImagePatterns,
  matchesAny,
  parseImageRef,
  type ImagePattern,
  type ImagePatternKind,
  type ImageRef,
} from '../../src/images/index.js';

const SHA256 = 'b0ad43f7ee5edbc0effbc14645ae7055e21bc1973aee5150745632a24a752661';
const ECR = '123456789123.dkr.ecr.eu-west-1.amazonaws.com';
const CONFORMANCE_DIR = fileURLToPath(new URL('../fixtures/conformance/', import.meta.url));

function pattern(entry: string): ImagePattern {
  const p = compileImagePattern(entry);
  assert.ok(p.ok, `${entry}: ${p.ok ? '' : p.error}`);
  return p.value;
}

function image(raw: string): ImageRef {
  const r = parseImageRef(raw);
  assert.ok(r.ok, `${raw}: ${r.ok ? '' : r.error}`);
  return r.value;
}

const compiled: [string, ImagePatternKind, string][] = [
  ['nginx', 'repository', 'docker.io/library/nginx'],
  ['team/app', 'repository', 'docker.io/team/app'],
  [`${ECR}/postgres`, 'repository', `${ECR}/postgres`],
  ['ubuntu:20.14', 'reference', 'docker.io/library/ubuntu:20.14'],
  ['exempt:latest', 'reference', 'docker.io/library/exempt:latest'],
  [`app@sha256:${SHA256}`, 'reference', `docker.io/library/app@sha256:${SHA256}`],
  ['openpolicyagent/', 'prefix', 'docker.io/openpolicyagent/'],
  ['k8s.gcr.io/', 'prefix', 'k8s.gcr.io/'],
  ['registry.example.com/team-a/', 'prefix', 'registry.example.com/team-a/'],
  ['Registry.Example.com/', 'prefix', 'registry.example.com/'],
  ['docker.io/', 'prefix', 'docker.io/'],
  ['index.docker.io/', 'prefix', 'docker.io/'],
  ['library/', 'prefix', 'docker.io/library/'],
  ['registry.example.com', 'prefix', 'registry.example.com/'],
  ['localhost:5000', 'prefix', 'localhost:5000/'],
  ['localhost', 'prefix', 'localhost/'],
  ['[::1]:5000', 'prefix', '[::1]:5000/'],
  ['nginx*', 'glob', 'docker.io/library/nginx*'],
  ['nginx:1.*', 'glob', 'docker.io/library/nginx:1.*'],
  ['mydockerhub/*', 'glob', 'docker.io/mydockerhub/*'],
  ['allowed/nginx*', 'glob', 'docker.io/allowed/nginx*'],
  ['myregistry.azurecr.io/*', 'glob', 'myregistry.azurecr.io/*'],
  ['MyRegistry.azurecr.io/*', 'glob', 'myregistry.azurecr.io/*'],
  ['docker.io/*', 'glob', 'docker.io/*'],
  ['docker.io/nginx*', 'glob', 'docker.io/library/nginx*'],
  ['index.docker.io/team/*', 'glob', 'docker.io/team/*'],
  ['registry.example.com*', 'glob', 'registry.example.com*'],
  ['localhost:*', 'glob', 'localhost:*'],
  ['gcr.*/x', 'glob', 'gcr.*/x'],
  ['*', 'glob', '*'],
  ['**', 'glob', '**'],
  ['*/library/nginx:*', 'glob', '*/library/nginx:*'],
];

const matching: [string, string, boolean][] = [
  // repository: any tag or digest of exactly that repository
  ['nginx', 'nginx', true],
  ['nginx', 'nginx:1.27', true],
  ['nginx', `nginx@sha256:${SHA256}`, true],
  ['nginx', 'docker.io/library/nginx:1', true],
  ['nginx', 'index.docker.io/nginx', true],
  ['nginx', 'nginx-evil', false],
  ['nginx', 'evil/nginx', false],
  ['nginx', 'ghcr.io/library/nginx', false],
  ['allowed', 'allowed', true],
  ['allowed', 'allowed/nginx', false],
  [`${ECR}/postgres`, `${ECR}/postgres`, true],
  [`${ECR}/postgres`, `${ECR}/postgres:15`, true],
  [`${ECR}/postgres`, `${ECR}/postgresmalicious`, false],
  [`${ECR}/postgres`, `${ECR}/postgres/evil`, false],
  // reference: tag and digest must both be equal
  ['ubuntu:20.14', 'ubuntu:20.14', true],
  ['ubuntu:20.14', 'docker.io/library/ubuntu:20.14', true],
  ['ubuntu:20.14', 'ubuntumalicious', false],
  ['ubuntu:20.14', 'ubuntu:20.14.1', false],
  ['ubuntu:20.14', 'ubuntu', false],
  ['exempt:latest', 'exempt:latest', true],
  ['exempt:latest', 'exempt:testing', false],
  ['exempt:latest', 'exempt', false],
  ['openpolicyagent/opa-exp:latest', 'openpolicyagent/opa-exp:latest', true],
  ['openpolicyagent/opa-exp:latest', 'openpolicyagent/opa-exp2:latest', false],
  [`app:1@sha256:${SHA256}`, `app:1@sha256:${SHA256}`, true],
  [`app:1@sha256:${SHA256}`, `app@sha256:${SHA256}`, false],
  [`app@sha256:${SHA256}`, `app:1@sha256:${SHA256}`, false],
  // prefix: at a path boundary of the repository
  ['openpolicyagent/', 'openpolicyagent/opa:0.9.2', true],
  ['openpolicyagent/', 'docker.io/openpolicyagent/opa', true],
  ['openpolicyagent/', 'nginx', false],
  ['openpolicyagent/', 'openpolicyagentx/opa', false],
  ['openpolicyagent/', 'ghcr.io/openpolicyagent/opa', false],
  ['k8s.gcr.io/', 'k8s.gcr.io/kustomize/kustomize:v3.8.9', true],
  ['k8s.gcr.io/', 'K8S.GCR.IO/kustomize/kustomize:v3.8.9', true],
  ['k8s.gcr.io/', 'registry.k8s.io/kustomize/kustomize:v3.8.9', false],
  ['k8s.gcr.io/', 'k8s.gcr.io.evil.io/kustomize', false],
  ['registry.example.com/team-a/', 'registry.example.com/team-a/x', true],
  ['registry.example.com/team-a/', 'registry.example.com.evil.io/team-a/x', false],
  ['registry.example.com/team-a/', 'registry.example.com/team-ab/x', false],
  ['registry.example.com/team-a/', 'registry.example.com/team-a', false],
  ['registry.example.com/team-a/', 'registry.example.com:5000/team-a/x', false],
  ['registry.example.com/', 'registry.example.com/x', true],
  ['registry.example.com/', 'registry.example.com.evil.io/x', false],
  ['registry.example.com', 'registry.example.com/team/x:1', true],
  ['registry.example.com', 'registry.example.com.evil.io/x', false],
  ['localhost:5000', 'localhost:5000/app', true],
  ['localhost:5000', 'localhost/app', false],
  ['localhost:5000', 'localhost:5000', false],
  ['docker.io/', 'nginx', true],
  ['docker.io/', 'team/app', true],
  ['docker.io/', 'ghcr.io/team/app', false],
  ['library/', 'nginx:1', true],
  ['library/', 'team/app', false],
  // glob over the normalised reference
  ['myregistry.azurecr.io/*', 'myregistry.azurecr.io/nginx', true],
  ['myregistry.azurecr.io/*', 'myregistry.azurecr.io.malicious.com/malicious-image', false],
  ['mydockerhub/*', 'mydockerhub/python', true],
  ['mydockerhub/*', 'docker.io/mydockerhub/python:3', true],
  ['mydockerhub/*', 'mydockerhubmalicious/python', false],
  ['mydockerhub/*', 'ghcr.io/mydockerhub/python', false],
  ['allowed/*', 'allowed/nginx', true],
  ['allowed/*', 'denied/nginx', false],
  ['allowed/nginx*', 'allowed/nginx', true],
  ['allowed/nginx*', 'allowed/nginx:1', true],
  ['allowed/nginx*', 'allowed/nginx-extra', true],
  ['allowed/nginx*', 'allowed/other', false],
  ['denied/*', 'denied/nginx:1.19.2', true],
  ['nginx*', 'nginx', true],
  ['nginx*', 'nginx:1', true],
  ['nginx*', 'team/nginx', false],
  ['nginx:1.*', 'nginx:1.27', true],
  ['nginx:1.*', 'nginx:10', false],
  ['nginx:1.*', 'nginx', false],
  ['docker.io/nginx*', 'nginx:1', true],
  ['docker.io/nginx*', 'nginxa/b', false],
  ['docker.io/*', 'team/app', true],
  ['docker.io/*', 'quay.io/team/app', false],
  ['registry.example.com/*', 'registryxexample.com/app', false],
  ['localhost:*', 'localhost:5000/app', true],
  ['localhost:*', 'localhost:latest', false],
  ['*', 'ghcr.io/anything/at:all', true],
  ['**', 'nginx', true],
  ['*/library/nginx:*', 'nginx:1', true],
  ['*/library/nginx:*', 'nginx', false],
  // Pieces may not overlap: the middle `nginx` and the trailing one must be two occurrences.
  ['*nginx*nginx', 'nginx', false],
  ['*nginx*nginx', 'nginx/nginx', true],
  ['nginx*x', 'nginx', false],
  ['nginx*x', 'nginx:x', true],
  ['gcr.*/x', 'gcr.io/x', true],
  ['gcr.*/x', 'gcr.io/y', false],
  // A glob is anchored at both ends: without a trailing '*' no tag may follow.
  ['gcr.*/x', 'gcr.io/x:1', false],
];

const rejected: [string, RegExp][] = [
  ['', /empty/],
  [' nginx', /leading or trailing whitespace/],
  ['nginx/* ', /leading or trailing whitespace/],
  ['ngi nx', /whitespace/],
  ['@@', /more than one '@'/],
  ['a@b@*', /more than one '@'/],
  ['Nginx', /must be lowercase/],
  ['Team/*', /must be lowercase: "Team"/],
  ['team/App*', /must be lowercase: "App"/],
  ['Nginx*', /must be lowercase/],
  ['/', /needs a registry or namespace/],
  ['//', /empty path component/],
  ['a//b/', /empty path component/],
  ['/nginx*', /must not start with '\/'/],
  ['a//b*', /empty path component/],
  ['https://registry.example.com/*', /URL scheme/],
  ['foo..com/*', /invalid registry host "foo\.\.com"/],
  ['host:port/', /invalid registry host "host:port"/],
  ['app-/x/', /invalid repository path component "app-"/],
  ['team-/x*', /invalid repository path component "team-"/],
  ['nginx$*', /invalid character "\$"/],
  ['nginx:', /tag is empty/],
  ['app@sha256:abc', /64 lowercase hex/],
];

describe('compileImagePattern', () => {
  for (const [entry, kind, normalized] of compiled) {
    test(`${entry} is a ${kind} pattern for ${normalized}`, () => {
      const p = pattern(entry);
      assert.equal(p.kind, kind);
      assert.equal(p.normalized, normalized);
      assert.equal(p.source, entry);
    });
  }

  for (const [entry, raw, expected] of matching) {
    test(`${entry} ${expected ? 'matches' : 'does not match'} ${raw}`, () => {
      assert.equal(pattern(entry).matches(image(raw)), expected);
    });
  }

  for (const [entry, reason] of rejected) {
    test(`rejects ${JSON.stringify(entry)}`, () => {
      const p = compileImagePattern(entry);
      assert.equal(p.ok, false);
      assert.match(p.ok ? '' : p.error, reason);
    });
  }

  // The timeout only turns a hang into a failure: a backtracking RegExp takes hours on this input.
  test('globs with many stars are matched exactly, without backtracking blow-up', { timeout: 60_000 }, () => {
    const p = pattern(`*${'a*'.repeat(12)}b`);
    assert.equal(p.matches(image(`x/${'a'.repeat(200)}`)), false);
    assert.equal(p.matches(image(`x/${'a'.repeat(200)}b`)), true);
    assert.equal(p.matches(image(`x/${'a'.repeat(11)}b`)), false);
    assert.equal(p.matches(image(`x/${'a'.repeat(12)}b`)), true);
  });

  test('a compiled pattern is frozen', () => {
    assert.equal(Object.isFrozen(pattern('nginx')), true);
  });

  test('non-string entries are errors, not throws', () => {
    for (const bad of [undefined, 7, null] as unknown as string[]) {
      assert.equal(compileImagePattern(bad).ok, false);
    }
  });
});

describe('compileImagePatterns and matchesAny', () => {
  test('the first invalid entry fails the list, named with its index', () => {
    const r = compileImagePatterns(['nginx', '@@', '']);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /^image pattern 1 \("@@"\): more than one '@'/);
  });

  test('matchesAny returns the first matching pattern, or undefined', () => {
    const r = compileImagePatterns(['ghcr.io/', 'nginx', 'nginx:1.27']);
    assert.ok(r.ok);
    assert.equal(r.value.length, 3);
    assert.equal(matchesAny(r.value, image('nginx:1.27'))?.source, 'nginx');
    assert.equal(matchesAny(r.value, image('ghcr.io/a/b'))?.source, 'ghcr.io/');
    assert.equal(matchesAny(r.value, image('quay.io/a/b')), undefined);
    assert.equal(matchesAny([], image('nginx')), undefined);
  });
});

interface ConformanceCase {
  id: string;
  policy_kind: string;
  params: { repos?: string[]; allowedImages?: string[]; exemptImages?: string[]; tags?: string[] };
  resource_file: string;
  expected: 'allow' | 'deny';
  expected_violations: number | 'yes' | 'no' | null;
}

function loadCases(): ConformanceCase[] {
  return JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'index.json'), 'utf8')) as ConformanceCase[];
}

/** Images of every container list (image policies check all three); containers without one are skipped. */
function caseImages(c: ConformanceCase): ImageRef[] {
  const doc = parseYaml(readFileSync(join(CONFORMANCE_DIR, c.resource_file), 'utf8')) as {
    spec?: Record<string, { image?: unknown }[] | undefined>;
  };
  const lists = ['containers', 'initContainers', 'ephemeralContainers'].map((l) => doc.spec?.[l] ?? []);
  return lists.flat().flatMap((ctr) => (typeof ctr.image === 'string' ? [image(ctr.image)] : []));
}

function assertVerdict(c: ConformanceCase, violations: number): void {
  if (typeof c.expected_violations === 'number') assert.equal(violations, c.expected_violations, c.id);
  assert.equal(violations > 0 ? 'deny' : 'allow', c.expected, c.id);
}

function compileAll(entries: readonly string[]): readonly ImagePattern[] {
  const r = compileImagePatterns(entries);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('image patterns reproduce the conformance verdicts', () => {
  const cases = loadCases();
  const ofKind = (kind: string): ConformanceCase[] => cases.filter((c) => c.policy_kind === kind);

  test('K8sAllowedReposv2 allowedImages, lookalikes included', () => {
    const v2 = ofKind('K8sAllowedReposv2');
    assert.ok(v2.length >= 20);
    for (const c of v2) {
      const allowed = compileAll(c.params.allowedImages ?? []);
      assertVerdict(c, caseImages(c).filter((ref) => !matchesAny(allowed, ref)).length);
    }
  });

  test('K8sAllowedRepos / K8sDisallowedRepos prefixes, a bare namespace read as `<namespace>/`', () => {
    const v1 = [...ofKind('K8sAllowedRepos'), ...ofKind('K8sDisallowedRepos')];
    assert.ok(v1.length >= 30);
    for (const c of v1) {
      const repos = compileAll((c.params.repos ?? []).map((r) => (r.endsWith('/') ? r : `${r}/`)));
      const listed = caseImages(c).map((ref) => matchesAny(repos, ref) !== undefined);
      const allowList = c.policy_kind === 'K8sAllowedRepos';
      assertVerdict(c, listed.filter((isListed) => isListed !== allowList).length);
    }
  });

  test('exemptImages with K8sDisallowedTags (an untagged image counts as latest)', () => {
    const tagCases = ofKind('K8sDisallowedTags');
    assert.ok(tagCases.length >= 20);
    for (const c of tagCases) {
      const exempt = compileAll(c.params.exemptImages ?? []);
      const tags = new Set(c.params.tags ?? []);
      const untaggedOrDisallowed = (ref: ImageRef): boolean => ref.tag === undefined || tags.has(ref.tag);
      const bad = caseImages(c).filter((ref) => !matchesAny(exempt, ref) && untaggedOrDisallowed(ref));
      assertVerdict(c, bad.length);
    }
  });

  test('exemptImages with K8sImageDigests', () => {
    const digestCases = ofKind('K8sImageDigests');
    assert.ok(digestCases.length >= 15);
    for (const c of digestCases) {
      const exempt = compileAll(c.params.exemptImages ?? []);
      const bad = caseImages(c).filter((ref) => !matchesAny(exempt, ref) && ref.digest === undefined);
      assertVerdict(c, bad.length);
    }
  });
});
