import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseAllDocuments, parseDocument } from 'yaml';
import { isTracegateError, type ErrorCode, type TracegateError } from '../../src/errors.js';
import { bundledPoliciesDir, policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, pointerToPath, readPolicySchema, type PolicyProblem } from '../../src/policy/load.js';
import { childPath, errorLine, lineOf } from '../../src/yaml/locate.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = 'test/fixtures/policies';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });

/** Loads fixture paths (relative to the repo) so messages name them relative to the repo root. */
function load(...paths: string[]) {
  return loader.load(
    paths.map((p) => join(repoRoot, p)),
    repoRoot,
  );
}

async function loadError(...paths: string[]): Promise<TracegateError> {
  try {
    await load(...paths);
  } catch (err) {
    if (isTracegateError(err)) return err;
    throw err;
  }
  return assert.fail(`expected loading ${paths.join(', ')} to fail`);
}

function parseError(text: string, file = 'inline.yaml'): TracegateError {
  try {
    loader.parse(text, file);
  } catch (err) {
    if (isTracegateError(err)) return err;
    throw err;
  }
  return assert.fail('expected the policy text to be rejected');
}

function problemsOf(err: TracegateError): PolicyProblem[] {
  return err.details['problems'] as PolicyProblem[];
}

describe('bundled policies', () => {
  it('every file in policies/ loads on its own and together', async () => {
    const files = (await readdir(bundledPoliciesDir)).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, ['image-hygiene.yaml', 'provenance.yaml', 'resources.yaml', 'rollback-history.yaml']);
    for (const f of files) {
      const set = await loader.load([join(bundledPoliciesDir, f)], repoRoot);
      assert.equal(set.policies.length, 1, f);
      assert.equal(set.policies[0]!.source.file, `policies/${f}`);
    }
    const set = await loader.load([bundledPoliciesDir], repoRoot);
    assert.deepEqual(
      set.policies.map((p) => [p.name, p.version, p.rules.map((r) => `${r.action} ${r.id} ${r.check.type}`)]),
      [
        ['image-hygiene', '1.1.0', ['deny no-latest images']],
        ['provenance', '1.1.0', ['deny change-provenance provenance']],
        ['resources', '1.1.0', ['deny requests-and-limits resources']],
        ['rollback-history', '1.0.0', ['deny min-revision-history revisionHistory']],
      ],
    );
    for (const p of set.policies) assert.match(p.digest, DIGEST, p.name);
    assert.match(set.digest, DIGEST);
  });

  it('the bundled provenance policy compiles the kubectl script managers and the trusted deployers', async () => {
    const set = await loader.load([join(bundledPoliciesDir, 'provenance.yaml')]);
    const check = set.policies[0]!.rules[0]!.check;
    assert.equal(check.type, 'provenance');
    if (check.type !== 'provenance') return;
    assert.deepEqual([...check.spec.scriptManagers].sort(), ['kubectl', 'kubectl-client-side-apply', 'kubectl-edit', 'kubectl-patch', 'kubectl-replace', 'kubectl-set']);
    assert.deepEqual([...check.spec.trustedManagers].sort(), ['argocd-controller', 'helm', 'helm-controller', 'kustomize-controller', 'tracegate-recorder']);
    assert.deepEqual(check.spec.commit.keys, ['tracegate.io/commit', 'ci/commit', 'commit', 'git-commit', 'gitCommit']);
    assert.equal(check.spec.separationOfDuties, true);
  });
});

describe('invalid policy files fail loudly: file, line, path, what is wrong', () => {
  const cases: { file: string; code: ErrorCode; line: number; path: string; message: RegExp }[] = [
    { file: 'yaml-syntax.yaml', code: 'POLICY_PARSE', line: 8, path: '(document)', message: /indicator|indent/i },
    { file: 'unknown-field.yaml', code: 'POLICY_SCHEMA', line: 10, path: 'spec.rules[0]', message: /^unknown field "imagez"$/ },
    { file: 'wrong-type.yaml', code: 'POLICY_SCHEMA', line: 9, path: 'spec.rules[0].images.requireTag', message: /^must be boolean$/ },
    { file: 'missing-rules.yaml', code: 'POLICY_SCHEMA', line: 5, path: 'spec', message: /^missing required field "rules"$/ },
    { file: 'no-check.yaml', code: 'POLICY_SCHEMA', line: 7, path: 'spec.rules[0]', message: /exactly one check \(images, resources, metadata, provenance or revisionHistory\); it has none$/ },
    { file: 'two-checks.yaml', code: 'POLICY_SCHEMA', line: 7, path: 'spec.rules[0]', message: /exactly one check .*; it has images and resources$/ },
    { file: 'bad-regex.yaml', code: 'POLICY_INVALID', line: 11, path: 'spec.rules[0].metadata.labels[0].allowedRegex', message: /^invalid regular expression: .*\(\[a-z/ },
    { file: 'bad-quantity.yaml', code: 'POLICY_INVALID', line: 12, path: 'spec.rules[0].resources.maxLimits.memory', message: /^invalid quantity "lots"/ },
    { file: 'bad-image-pattern.yaml', code: 'POLICY_INVALID', line: 11, path: 'spec.rules[0].images.allowed[1]', message: /^invalid image pattern "registry\.example\.com\/\/team-b": / },
    { file: 'duplicate-rule-id.yaml', code: 'POLICY_INVALID', line: 9, path: 'spec.rules[1].id', message: /^duplicate rule id "pinned"$/ },
    { file: 'wrong-api-version.yaml', code: 'POLICY_SCHEMA', line: 1, path: 'apiVersion', message: /^must be "tracegate\.io\/v1alpha1"$/ },
  ];
  for (const c of cases) {
    it(`${c.file} → ${c.code} at line ${c.line}, ${c.path}`, async () => {
      const file = `${FIXTURES}/invalid/${c.file}`;
      const err = await loadError(file);
      assert.equal(err.code, c.code);
      assert.equal(err.exitCode, 2);
      // Exactly one problem: the schema's alternatives (oneOf branches) must not leak out as extra noise.
      const problems = problemsOf(err);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      const [p] = problems;
      assert.equal(p!.file, file);
      assert.equal(p!.line, c.line);
      assert.equal(p!.path, c.path);
      assert.match(p!.message, c.message);
      assert.ok(err.message.includes(`${file}:${c.line}: ${c.path}: ${p!.message}`), err.message);
    });
  }

  it('a problem in the second document of a file names the document', async () => {
    const file = `${FIXTURES}/multi-doc/two-policies.yaml`;
    const err = await loadError(file);
    assert.equal(err.code, 'POLICY_SCHEMA');
    assert.ok(err.message.includes(`${file}:18: document 2: spec.rules[0].images.requireDigest: must be boolean`), err.message);
  });

  it('every problem of a document is reported, not just the first', () => {
    const err = parseError('apiVersion: tracegate.io/v1alpha1\nkind: Polcy\nmetadata: {}\nspec:\n  rules: []\n');
    assert.deepEqual(
      problemsOf(err).map((p) => [p.line, p.path, p.message]),
      [
        [2, 'kind', 'must be "Policy"'],
        [3, 'metadata', 'missing required field "name"'],
        [5, 'spec.rules', 'must NOT have fewer than 1 items'],
      ],
    );
  });

  it('a document that is not a mapping is rejected, not crashed on', () => {
    for (const text of ['just a string\n', '- a\n- b\n', '42\n']) {
      const err = parseError(text);
      assert.equal(err.code, 'POLICY_SCHEMA', text);
      assert.equal(problemsOf(err)[0]!.line, 1);
    }
  });

  it('a YAML alias bomb is refused as a parse problem', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n');
    const err = parseError(bomb, 'bomb.yaml');
    assert.equal(err.code, 'POLICY_PARSE');
    assert.match(err.message, /^invalid policy:\nbomb\.yaml:1: \(document\): .*alias/);
  });

  it('two files defining the same policy name → POLICY_DUPLICATE naming both files', async () => {
    const err = await loadError(`${FIXTURES}/duplicate-name`);
    assert.equal(err.code, 'POLICY_DUPLICATE');
    assert.match(err.message, /duplicate-name\/b\.yaml: metadata\.name: policy "same" is also defined in test\/fixtures\/policies\/duplicate-name\/a\.yaml/);
  });

  it('a file with no policy in it (only comments) → POLICY_INVALID, not a silently empty set', async () => {
    const err = await loadError(`${FIXTURES}/invalid/comments-only.yaml`);
    assert.equal(err.code, 'POLICY_INVALID');
    assert.ok(err.message.includes(`${FIXTURES}/invalid/comments-only.yaml:1: (document): no policy in this file`), err.message);
  });

  it('the same file reached twice (directory and file) is loaded once, not a duplicate', async () => {
    const set = await load(`${FIXTURES}/ci`, `${FIXTURES}/ci/labels.yaml`);
    assert.deepEqual(set.policies.map((p) => p.name), ['image-hygiene', 'labels', 'resources']);
  });

  it('a missing path → POLICY_NOT_FOUND naming the path', async () => {
    const err = await loadError(`${FIXTURES}/does-not-exist.yaml`);
    assert.equal(err.code, 'POLICY_NOT_FOUND');
    assert.match(err.message, /does-not-exist\.yaml/);
  });

  it('a directory without policy files → POLICY_NOT_FOUND', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracegate-empty-'));
    try {
      await assert.rejects(loader.load([dir]), (err: unknown) => {
        assert.ok(isTracegateError(err, 'POLICY_NOT_FOUND'));
        assert.match(err.message, /no policy files \(\*\.yaml, \*\.yml\) in /);
        assert.ok(err.message.includes(dir));
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('policy sets', () => {
  it('loads several files and directories, sorted by name, with relative sources', async () => {
    const set = await load(`${FIXTURES}/ci`, `${FIXTURES}/tenant/team-a-registry.yaml`);
    assert.deepEqual(
      set.policies.map((p) => [p.name, p.source.file, p.source.document]),
      [
        ['image-hygiene', `${FIXTURES}/ci/image-hygiene.yaml`, 0],
        ['labels', `${FIXTURES}/ci/labels.yaml`, 0],
        ['resources', `${FIXTURES}/ci/resources.yaml`, 0],
        ['team-a-registry', `${FIXTURES}/tenant/team-a-registry.yaml`, 0],
      ],
    );
  });

  it('the set digest does not depend on the order files are given in, but on every policy', async () => {
    const a = await load(`${FIXTURES}/ci`, `${FIXTURES}/tenant`);
    const b = await load(`${FIXTURES}/tenant`, `${FIXTURES}/ci`);
    const c = await load(`${FIXTURES}/ci`);
    assert.equal(a.digest, b.digest);
    assert.notEqual(a.digest, c.digest);
    assert.match(a.digest, DIGEST);
  });

  it('a file may hold several policies; each remembers its document index', () => {
    const text = `${policy('first', 'deny')}---\n${policy('second', 'warn')}---\n`;
    const got = loader.parse(text, 'two.yaml');
    assert.deepEqual(
      got.map((p) => [p.name, p.source.document, p.rules[0]!.action]),
      [
        ['first', 0, 'deny'],
        ['second', 1, 'warn'],
      ],
    );
  });

  it('compiled policies and sets are frozen', async () => {
    const set = await load(`${FIXTURES}/ci`, `${FIXTURES}/tenant`);
    const p = set.policies[0]!;
    for (const [what, value] of Object.entries({ set, policies: set.policies, p, rules: p.rules, rule: p.rules[0], check: p.rules[0]!.check, spec: p.rules[0]!.check.spec, document: p.document, docRules: p.document.spec.rules, match: p.match, source: p.source })) {
      assert.ok(Object.isFrozen(value), `${what} should be frozen`);
    }
    assert.throws(() => {
      (p as { name: string }).name = 'changed';
    }, TypeError);
    assert.throws(() => {
      (set.policies as unknown[]).push(p);
    }, TypeError);
    assert.throws(() => {
      (p.document.spec.rules[0] as { action?: string }).action = 'audit';
    }, TypeError);
    assert.equal(p.name, 'image-hygiene');
  });
});

/** A small valid policy; `action` varies so tests can change one rule. */
function policy(name: string, action: string): string {
  return `apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata:
  name: ${name}
  version: "1.0.0"
spec:
  match:
    namespaces: [prod-*]
  rules:
    - id: pinned
      action: ${action}
      images:
        disallowedTags: [latest]
        requireTag: true
`;
}

describe('policy digests', () => {
  const base = policy('digested', 'deny');
  const digestOf = (text: string) => loader.parse(text, 'd.yaml')[0]!.digest;

  it('is sha256: and 64 lower-case hex digits', () => {
    assert.match(digestOf(base), DIGEST);
  });

  it('does not change with comments, flow style, quoting or key order', () => {
    const reformatted = `# the same policy, written differently
spec:
  rules:
    - images: { requireTag: true, disallowedTags: ["latest"] }   # flow style
      action: 'deny'
      id: "pinned"
  match: {namespaces: ['prod-*']}
metadata: {version: '1.0.0', name: digested}
kind: "Policy"
apiVersion: tracegate.io/v1alpha1
`;
    assert.equal(digestOf(reformatted), digestOf(base));
  });

  it('changes when a rule changes', () => {
    assert.notEqual(digestOf(policy('digested', 'warn')), digestOf(base));
    assert.notEqual(digestOf(base.replace('[latest]', '[latest, dev]')), digestOf(base));
  });

  it('does not depend on the file the policy came from', () => {
    assert.equal(loader.parse(base, 'a.yaml')[0]!.digest, loader.parse(base, 'elsewhere/b.yml')[0]!.digest);
  });
});

describe('locating paths in YAML', () => {
  const text = `spec:
  rules:
    - id: a
      resources:
        maxLimits:
          nvidia.com/gpu: "1"
`;
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });

  it('points at the key of a map entry, not at the first line of its block value', () => {
    assert.equal(lineOf(doc, counter, 'spec.rules[0].resources'), 4);
    assert.equal(lineOf(doc, counter, 'spec.rules'), 2);
    assert.equal(lineOf(doc, counter, 'spec.rules[0]'), 3);
  });

  it('falls back to the nearest existing ancestor for a missing field', () => {
    assert.equal(lineOf(doc, counter, 'spec.rules[0].resources.maxRequests.cpu'), 4);
    assert.equal(lineOf(doc, counter, 'spec.rules[3]'), 2);
    assert.equal(lineOf(doc, counter, '(document)'), 1);
  });

  it('keeps keys with dots and slashes whole', () => {
    assert.equal(childPath('spec.rules[0].resources.maxLimits', 'nvidia.com/gpu'), 'spec.rules[0].resources.maxLimits["nvidia.com/gpu"]');
    assert.equal(childPath('spec', 'rules'), 'spec.rules');
    assert.equal(childPath('', 'spec'), 'spec');
    assert.equal(lineOf(doc, counter, childPath('spec.rules[0].resources.maxLimits', 'nvidia.com/gpu')), 6);
    assert.equal(pointerToPath('/spec/rules/0/resources/maxLimits/nvidia.com~1gpu'), 'spec.rules[0].resources.maxLimits["nvidia.com/gpu"]');
    assert.equal(pointerToPath(''), '(document)');
  });

  it('gives the line of a syntax error even without prettyErrors', () => {
    const c = new LineCounter();
    const [bad] = parseAllDocuments('a: 1\nb: 2\nb: 3\n', { lineCounter: c, prettyErrors: false }) as ReturnType<typeof parseDocument>[];
    const err = bad!.errors[0];
    assert.ok(err);
    assert.equal(errorLine(err, c), 3);
  });
});
