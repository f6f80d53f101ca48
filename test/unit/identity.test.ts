/**
 * Provenance values read as people read them: approvers that only look different from the requester
 * are the requester, look-alike and invisible text is refused with the characters shown escaped, a
 * commit must be a commit id, and trust lists match exactly.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { isTracegateError } from '../../src/errors.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { escapeInvisible, identityKey, invisibleCharacters, sameIdentity } from '../../src/policy/identity.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import { sameCommit } from '../../src/policy/provenance-values.js';
import { mixedScripts } from '../../src/policy/scripts.js';
import type { PolicySet, RequestContext, Violation } from '../../src/policy/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema });
const BUNDLED_TEXT = readFileSync(join(ROOT, 'policies', 'provenance.yaml'), 'utf8');
const bundled = loader.toSet(loader.parse(BUNDLED_TEXT, 'policies/provenance.yaml'));

/** The bundled provenance policy with one line replaced, as an admin would edit it. */
function edited(from: string, to: string): PolicySet {
  assert.ok(BUNDLED_TEXT.includes(from), from);
  return loader.toSet(loader.parse(BUNDLED_TEXT.replace(from, to), 'provenance.yaml'));
}

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return { operation: 'CREATE', namespace: 'team-a', username: 'alice', groups: ['system:authenticated'], fieldManager: 'kubectl-client-side-apply', ...over };
}

function deployment(annotations: Record<string, string>, image = 'nginx:1.27'): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a', annotations }, spec: { template: { spec: { containers: [{ name: 'web', image }] } } } };
}

const provenance = (commit: string, approver: string, extra: Record<string, string> = {}) =>
  deployment({ 'tracegate.io/commit': commit, 'tracegate.io/approver': approver, ...extra });

function only(set: PolicySet, obj: KubeObject, c = ctx(), old?: KubeObject): Violation {
  const vs = evaluate(set, c, obj, old ?? null).violations;
  assert.equal(vs.length, 1, JSON.stringify(vs, null, 1));
  return vs[0]!;
}

const allowed = (set: PolicySet, obj: KubeObject, c = ctx(), old?: KubeObject) => assert.deepEqual(evaluate(set, c, obj, old ?? null).violations, []);

describe('separation of duties cannot be beaten by Unicode', () => {
  const spoofs: Array<[string, string]> = [
    ['alice\u200b', 'zero-width space'],
    ['alice\u00ad', 'soft hyphen'],
    ['alice\u2060', 'word joiner'],
    ['alice\ufe0f', 'variation selector'],
    ['\u0430lice', 'Cyrillic а'],
    ['ａｌｉｃｅ', 'full-width letters'],
    ['ALİCE', 'dotted capital I'],
    ['alice\u0301', 'combining acute accent'],
    ['ALICE@example.com', 'upper case with a domain'],
  ];
  for (const [approver, how] of spoofs) {
    it(`${JSON.stringify(approver)} (${how}) is the requester alice`, () => assert.equal(sameIdentity(approver, 'alice'), true));
    it(`${JSON.stringify(approver)} (${how}) as approver of alice's change is denied with a clear reason`, () => {
      const v = only(bundled, provenance('c0ffee1', approver));
      assert.match(v.message, /lacks provenance: approver .*(invisible or control character|mixes scripts|is the requester \(separation of duties\))/);
    });
  }

  it('messages show invisible characters escaped', () => {
    assert.match(only(bundled, provenance('c0ffee1', 'alice\u200b')).message, /approver "alice\\u200b" contains the invisible or control character \\u200b$/);
    assert.match(only(bundled, provenance('c0ffee1', '\u0430lice')).message, /approver "\u0430lice" mixes scripts \(Cyrillic, Latin\), as look-alike names do$/);
    assert.match(only(bundled, provenance('c0ffee1', 'ALİCE')).message, /approver ALİCE is the requester \(separation of duties\)$/);
  });

  it('case folding is Unicode full folding, not toLowerCase: ß/ss/ẞ, final sigma, İ', () => {
    assert.equal(sameIdentity('STRASSE', 'straße'), true);
    assert.equal(sameIdentity('ẞtrasse', 'sstrasse'), true);
    assert.equal(sameIdentity('ΟΔΟΣ', 'οδος'), true);
    assert.equal(sameIdentity('οδοσ', 'οδος'), true);
    assert.equal(identityKey('ALİCE'), identityKey('alice'));
  });

  it('people who are different stay different: bob approving alice passes', () => {
    assert.equal(sameIdentity('bob', 'alice'), false);
    assert.equal(sameIdentity('alicia', 'alice'), false);
    allowed(bundled, provenance('c0ffee1', 'bob'));
  });

  it('José and JOSÉ are the same person (and so are José and Jose)', () => {
    assert.equal(sameIdentity('José', 'JOSÉ'), true);
    assert.equal(sameIdentity('Jose\u0301', 'JOSÉ'), true);
    assert.equal(only(bundled, provenance('c0ffee1', 'JOSÉ'), ctx({ username: 'josé@example.com' })).message.includes('separation of duties'), true);
  });

  it('single-script names in Greek, Cyrillic, Japanese are accepted approvers', () => {
    for (const approver of ['Σωκράτης', 'Дмитрий', 'Владимир Петров', '山田たろう', 'yamada山田', 'José']) {
      assert.equal(mixedScripts(approver), undefined, approver);
      allowed(bundled, provenance('c0ffee1', approver));
    }
  });

  it('mixed-script names are named by their scripts', () => {
    assert.deepEqual(mixedScripts('\u0440\u0430\u0443\u0440\u0430l'), ['Cyrillic', 'Latin']);
    assert.deepEqual(mixedScripts('\u03c9mega'), ['Greek', 'Latin']);
    assert.equal(mixedScripts('alice-2'), undefined);
  });

  it('invisible characters are listed and escaped; visible text is untouched', () => {
    assert.deepEqual(invisibleCharacters('a\u200bb\u202ec\u00a0d\t'), ['\\u200b', '\\u202e', '\\u00a0', '\\u0009']);
    assert.equal(escapeInvisible('alice\u200b'), 'alice\\u200b');
    assert.equal(escapeInvisible('Bob Smith'), 'Bob Smith');
    assert.deepEqual(invisibleCharacters('José Σωκράτης'), []);
  });
});

describe('commit and pipeline-run values', () => {
  it('a commit of only \\u200b is denied, shown escaped', () => {
    const v = only(bundled, provenance('\u200b', 'bob'));
    assert.match(v.message, /lacks provenance: commit "\\u200b" contains the invisible or control character \\u200b$/);
    assert.equal(v.value, '\\u200b');
  });

  it('a commit must be 7 to 64 lowercase hex characters by default', () => {
    for (const bad of ['abc12', 'C0FFEE1', 'main', 'v1.2.3', 'c0ffee1.', `${'a'.repeat(65)}`]) {
      const v = only(bundled, provenance(bad, 'bob'));
      assert.match(v.message, new RegExp(`commit "${bad.replaceAll('.', '\\.')}" is not a commit id: expected 7 to 64 lowercase hex characters$`), bad);
    }
    for (const good of ['c0ffee1', 'c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b', 'a'.repeat(64)]) allowed(bundled, provenance(good, 'bob'));
  });

  it('commitPattern is configurable and matched whole', () => {
    const tags = edited('commitPattern: "[0-9a-f]{7,64}"', 'commitPattern: "v[0-9]+\\\\.[0-9]+\\\\.[0-9]+|[0-9a-f]{40}"');
    allowed(tags, provenance('v1.2.3', 'bob'));
    assert.match(only(tags, provenance('v1.2.3-evil', 'bob')).message, /commit "v1\.2\.3-evil" is not a commit id: expected a match of \/v\[0-9\]\+/);
    assert.throws(() => edited('commitPattern: "[0-9a-f]{7,64}"', 'commitPattern: "[0-9"'), (err: unknown) => isTracegateError(err, 'POLICY_INVALID') && /provenance\.commitPattern: invalid regular expression/.test(err.message));
    // Unbalanced on its own, yet `^(?:…)$` around it would parse and match anything.
    assert.throws(() => edited('commitPattern: "[0-9a-f]{7,64}"', 'commitPattern: "[0-9a-f]{7})|(.*"'), (err: unknown) => isTracegateError(err, 'POLICY_INVALID'));
  });

  it('a pipeline run with a control character is denied, shown escaped', () => {
    const v = only(bundled, provenance('c0ffee1', 'bob', { 'tracegate.io/pipeline-run': 'run-42\u001b[2K' }));
    assert.match(v.message, /pipeline run "run-42\\u001b\[2K" contains the invisible or control character \\u001b$/);
  });

  it('an abbreviation of the commit the current version was deployed with is not a new commit', () => {
    const full = 'c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b';
    assert.equal(sameCommit('c0ffee1', full), true);
    assert.equal(sameCommit('c0ffee2', full), false);
    assert.equal(sameCommit('v1.2.3', 'v1.2.3-rc1'), false, 'only hex commits abbreviate');
    const old = provenance(full, 'bob', { 'tracegate.io/used-commits': full, 'tracegate.io/change-commit': full });
    const next = provenance('c0ffee1', 'bob', { 'tracegate.io/used-commits': full, 'tracegate.io/change-commit': full });
    (next.spec!['template'] as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image = 'nginx:1.28';
    assert.match(only(bundled, next, ctx({ operation: 'UPDATE' }), old).message, /commit c0ffee1 is not new/);
  });
});

describe('trust lists match exactly', () => {
  const trusting = edited('trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder]', 'trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder, "system:serviceaccount:argocd:argocd-application-controller", "alice"]');
  const helm = (username: string) => ctx({ username, fieldManager: 'helm' });

  it('the trusted user with a trusted manager needs no provenance', () => {
    allowed(trusting, deployment({}), helm('alice'));
    allowed(trusting, deployment({}), helm('system:serviceaccount:argocd:argocd-application-controller'));
  });

  it('a look-alike of a trusted user is another user, and not trusted', () => {
    for (const username of ['alice\u200b', '\u0430lice', 'ALICE', 'ａｌｉｃｅ']) {
      assert.match(only(trusting, deployment({}), helm(username)).message, /lacks provenance: no commit annotation/, username);
    }
  });

  it('a trust-list entry with invisible or mixed-script text is a policy error', () => {
    assert.throws(() => edited('trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder]', 'trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder, "alice\\u200b"]'), (err: unknown) => isTracegateError(err, 'POLICY_INVALID') && /trustedUsers\[1\]: identity "alice\\u200b" contains the invisible or control character \\u200b/.test(err.message));
    assert.throws(() => edited('trustedGroups: []', 'trustedGroups: ["rele\u0430se"]'), (err: unknown) => isTracegateError(err, 'POLICY_INVALID') && /trustedGroups\[0\]: .* mixes scripts \(Latin, Cyrillic\)/.test(err.message));
  });
});
