/**
 * `tracegate check` parses its inputs as a stream (yaml's Parser + Composer, one document at a time) and
 * evaluates each document as it comes. These tests hold it to what it replaced — `parseAllDocuments` over
 * the whole text with a `LineCounter` — document for document, line for line, error for error, report
 * for report; and show that memory no longer grows with the input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { wholeTextParse } from '../../bench/check-baseline.js';
import { inputDocuments, parseInputText, type InputDocument } from '../../src/check/inputs.js';
import { createPlainEnvRunner } from '../../src/check/plain-env.js';
import { formatJson } from '../../src/check/report-json.js';
import { formatJunit } from '../../src/check/report-junit.js';
import { formatSarif } from '../../src/check/report-sarif.js';
import { formatText } from '../../src/check/report-text.js';
import { runCheck, type CheckReport } from '../../src/check/run.js';
import { TracegateError } from '../../src/errors.js';
import { isRecord } from '../../src/k8s/types.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const M = 'test/fixtures/manifests';
const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const bundled = await loader.load([join(repoRoot, 'policies')], repoRoot);
const ciPolicies = await loader.load([join(repoRoot, 'test/fixtures/policies/ci')], repoRoot);
const OPTS = { namespace: 'default', username: '', groups: [] } as const;
const tmp = mkdtempSync(join(tmpdir(), 'tracegate-check-stream-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// The oracle, `wholeTextParse`, is the parse `check` used before streaming (bench/check-baseline.ts).

/** Every path into `value` in the form violations use, plus a missing child of each map (it points at its parent). */
function pathsOf(value: unknown, base = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [`${base}[${i}]`, ...pathsOf(v, `${base}[${i}]`)]);
  if (!isRecord(value)) return [];
  const join = (k: string) => (base ? (/^[A-Za-z_$][\w$-]*$/.test(k) ? `${base}.${k}` : `${base}["${k}"]`) : k);
  return [...(base ? [`${base}.notThere`] : ['notThere']), ...Object.entries(value).flatMap(([k, v]) => [join(k), ...pathsOf(v, join(k))])];
}

/** A document as data: what it is, where it starts and where each of its fields is. */
function snapshot(d: InputDocument) {
  return { file: d.file, index: d.index, object: d.object, line: d.line, lines: Object.fromEntries(pathsOf(d.object).map((p) => [p, d.lineOf(p)])) };
}

function outcome(parse: () => InputDocument[]): unknown {
  try {
    return parse().map(snapshot);
  } catch (err) {
    assert.ok(err instanceof TracegateError, String(err));
    return { code: err.code, message: err.message, details: err.details };
  }
}

/** Inputs where the two parses could part ways: markers, comments, scalars across lines, line endings, errors. */
const CASES: Record<string, string> = {
  'crlf.yaml': 'kind: Deployment\r\nmetadata:\r\n  name: crlf\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: a\r\n          image: nginx:latest\r\n',
  'lone-cr.yaml': 'kind: Pod\rmetadata: {name: cr}\n',
  'bom.yaml': '\uFEFFkind: Pod\nmetadata: {name: bom}\nspec: {containers: [{name: x, image: busybox}]}\n',
  'leading-marker.yaml': '---\n# Source: chart/templates/a.yaml\nkind: Pod\nmetadata: {name: a}\n---\n---\n# only a comment\n---\nkind: Pod\nmetadata:\n  name: b\n',
  'doc-end.yaml': 'kind: Pod\nmetadata: {name: one}\n...\n---\nkind: Pod\nmetadata:\n  name: two\n...\n',
  'directive.yaml': '%YAML 1.2\n---\nkind: Pod\nmetadata: {name: d}\n',
  'tagged.yaml': '--- !!map\nkind: Pod\nmetadata: {name: tagged}\n--- |\n  a block scalar document\n',
  'scalars.yaml': 'kind: Deployment\nmetadata:\n  name: block\n  annotations:\n    note: |\n      line one\n      line two\n    other: "quoted\n      multi line"\n    plain: a plain\n      scalar on two lines\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx\n          command: [a,\n            b]\n',
  'anchors.yaml': 'kind: Pod\nmetadata: {name: anchors, labels: &l {app: web}}\nspec:\n  containers:\n    - {name: a, image: nginx, env: &e [{name: X, value: "1"}]}\n    - {name: b, image: nginx, env: *e}\n',
  'list.yaml': 'apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata: {name: one}\n  - just a string\n  - kind: Pod\n    metadata:\n      name: two\n',
  'json.json': '{"kind": "Pod",\n "metadata": {"name": "j", "annotations": {"a/b": "c"}},\n "spec": {"containers": [{"name": "x", "image": "nginx:latest"}]}}\n',
  'empty.yaml': '',
  'comments.yaml': '# only\n# comments\n---\n# more\n',
  'syntax-error-later.yaml': 'kind: Pod\nmetadata: {name: one}\n---\nkind: Pod\nmetadata:\n  name: two\n  labels: {a: b\nspec: {}\n',
  'bad-indent.yaml': 'kind: Pod\nmetadata:\n  name: x\n   namespace: y\n',
  'duplicate-key.yaml': 'kind: Pod\nmetadata:\n  name: a\n  name: b\n',
  'laughs.yaml': 'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
  'scalar-doc.yaml': 'kind: Pod\nmetadata: {name: one}\n---\njust a scalar\n',
  'top-list.yaml': '- a\n- b\n',
  'tab.yaml': 'kind: Pod\nmetadata:\n\tname: tab\n',
  'unclosed-quote.yaml': 'kind: Pod\nmetadata:\n  name: "open\n',
};

const fixtureFiles = ['bad-deployment.yaml', 'broken.yaml', 'bundled-ok.yaml', 'good-deployment.yaml', 'helm-template.yaml', 'list.yaml', 'mixed.yaml', 'tenant-images.yaml', 'warn-deployment.yaml'];
const fixtures = Object.fromEntries(fixtureFiles.map((f) => [`${M}/${f}`, readFileSync(join(repoRoot, M, f), 'utf8')]));

describe('check: streaming parse, against the whole-text parse it replaced', () => {
  for (const [file, text] of Object.entries({ ...CASES, ...fixtures })) {
    it(`${file}: the same resources, lines of every field, or the same input error`, () => {
      assert.deepEqual(outcome(() => parseInputText(text, file)), outcome(() => wholeTextParse(text, file)));
    });
  }

  it('every report format is byte for byte the same, with the bundled and the CI policies', () => {
    const texts = Object.entries(fixtures).filter(([f]) => !f.endsWith('broken.yaml'));
    for (const set of [bundled, ciPolicies]) {
      for (const provenance of [false, true]) {
        const opts = { ...OPTS, provenance };
        const streamed = runCheck(set, texts.flatMap(([f, t]) => parseInputText(t, f)), opts);
        const whole = runCheck(set, texts.flatMap(([f, t]) => wholeTextParse(t, f)), opts);
        assert.ok(whole.summary.violations > 0, 'the fixtures have findings to locate');
        for (const render of [formatText, formatJson, formatJunit, (r: CheckReport) => formatSarif(r, '1.2.3')]) assert.equal(render(streamed), render(whole));
      }
    }
  });

  it('hands each document on before parsing the next: the resources before a syntax error come out first', () => {
    const docs = inputDocuments(CASES['syntax-error-later.yaml']!, 'f.yaml');
    const first = docs.next();
    assert.equal(first.done, false);
    assert.equal((first.value as InputDocument).object.metadata?.name, 'one');
    assert.throws(() => docs.next(), { code: 'INPUT_PARSE', message: 'f.yaml:8: Flow map in block collection must be sufficiently indented and end with a }' });
  });
});

/** One of a few kinds of document, so that 10,000 of them carry findings at many different lines. */
function generatedDocument(i: number): string {
  const name = `app-${String(i).padStart(5, '0')}`;
  switch (i % 5) {
    case 0:
      return `# Source: chart/templates/${name}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: team-${i % 3}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/web:${i}.0.0\n          resources:\n            requests: {cpu: 100m, memory: 64Mi}\n            limits: {cpu: 200m, memory: 128Mi}\n`;
    case 1:
      return `apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n${'      # padding\n'.repeat(i % 7)}      containers:\n        - name: db\n          image: postgres:latest\n`;
    case 2:
      return `apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata: {name: ${name}-a}\n    spec: {containers: [{name: x, image: "busybox"}]}\n  - kind: Service\n    metadata: {name: ${name}}\n  - kind: Pod\n    metadata:\n      name: ${name}-b\n    spec:\n      containers:\n        - name: y\n          image: nginx:1.27\n          resources: {limits: {cpu: "0", memory: 1Gi}}\n`;
    case 3:
      return `kind: ConfigMap\nmetadata: {name: ${name}}\ndata:\n  script: |\n    #!/bin/sh\n    echo ${i}\n`;
    default:
      return `{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "${name}"},\n "spec": {"template": {"spec": {"containers": [{"name": "j", "image": "alpine"}]}}}}\n`;
  }
}

describe('check: 10,000 documents in one stream', () => {
  it('give the same results, lines included, as parsing each document on its own', () => {
    const texts = Array.from({ length: 10_000 }, (_, i) => generatedDocument(i));
    const file = 'rendered.yaml';
    const streamed = runCheck(ciPolicies, inputDocuments(texts.join('---\n'), file), OPTS);
    const oneByOne: InputDocument[] = [];
    let startLine = 1;
    for (const text of texts) {
      // Each document on its own, moved to where it sits in the stream (after the `---` before it).
      const offset = startLine - 1;
      for (const d of parseInputText(text, file)) {
        oneByOne.push({ ...d, index: oneByOne.length, line: d.line + offset, lineOf: (p) => ((l) => (l === undefined ? l : l + offset))(d.lineOf(p)) });
      }
      startLine += text.split('\n').length;
    }
    const expected = runCheck(ciPolicies, oneByOne, OPTS);
    assert.ok(expected.summary.denied > 1000 && expected.summary.skipped > 1000, JSON.stringify(expected.summary));
    assert.deepEqual(streamed, expected);
  });
});

describe('check: memory', () => {
  it('50,000 documents check within a 150 MB heap (the whole-text parse needed several times that)', () => {
    const doc = (i: number) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-${i}\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.4.2\n          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n            limits: {cpu: 200m, memory: 256Mi}\n`;
    const file = join(tmp, 'many.yaml');
    writeFileSync(file, Array.from({ length: 50_000 }, (_, i) => doc(i)).join('---\n'));
    const res = spawnSync(process.execPath, ['--max-old-space-size=150', '--import', 'tsx', 'src/main.ts', 'check', '-p', 'test/fixtures/policies/ci', file], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    assert.equal(res.stderr.slice(-2000), '');
    assert.equal(res.status, 0);
    assert.match(res.stdout, /^50000 resources checked: 0 denied/m);
  });
});

describe('plain environment for the parser', () => {
  it('shows the same variables during the call and puts the real process.env back, also after a throw', () => {
    const real = process.env;
    const run = createPlainEnvRunner();
    assert.deepEqual(run(() => ({ ...process.env })), { ...real });
    assert.notEqual(run(() => process.env), real);
    assert.equal(process.env, real);
    assert.throws(() => run(() => {
      throw new Error('boom');
    }), /boom/);
    assert.equal(process.env, real);
  });
});
