import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseInputText } from '../../src/check/inputs.js';
import { formatJunit, xmlEscape } from '../../src/check/report-junit.js';
import { formatSarif } from '../../src/check/report-sarif.js';
import { formatText } from '../../src/check/report-text.js';
import { runCheck, type CheckReport } from '../../src/check/run.js';
import { createCli, packageVersion } from '../../src/cli/main.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import type { PolicySet } from '../../src/policy/types.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const M = 'test/fixtures/manifests';
const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const ciPolicies = await loader.load([join(repoRoot, 'test/fixtures/policies/ci')], repoRoot);
const OPTS = { namespace: 'default', username: '', groups: [] } as const;

const fixture = (name: string) => readFileSync(join(repoRoot, M, name), 'utf8');
const lineContaining = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

/** Checks fixture files (named relative to the repo, as the CLI would show them) against a policy set. */
function check(set: PolicySet, ...names: string[]): CheckReport {
  return runCheck(set, names.flatMap((n) => parseInputText(fixture(n), `${M}/${n}`)), OPTS);
}

// ---- a deliberately small XML 1.0 well-formedness checker: elements, attributes, text, entities ----

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = '[A-Za-z_][\\w.-]*';
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
// Characters XML 1.0 forbids outright, escaped or not.
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

function decode(raw: string, where: string): string {
  assert.doesNotMatch(raw, FORBIDDEN_CHARS, `${where}: character not allowed in XML`);
  assert.ok(!raw.includes(']]>'), `${where}: ]]> is not allowed in content`);
  assert.doesNotMatch(raw, /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/, `${where}: bare & in ${JSON.stringify(raw)}`);
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : ENTITIES[e]!,
  );
}

/** Parses `xml` or fails the test; returns the root element. */
function parseXml(xml: string): XmlElement {
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/.exec(xml);
  assert.ok(prolog, 'XML declaration first');
  const doc: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [doc];
  let i = prolog[0].length;
  while (i < xml.length) {
    const rest = xml.slice(i);
    const top = stack[stack.length - 1]!;
    if (rest.startsWith('</')) {
      const m = new RegExp(`^</(${NAME})\\s*>`).exec(rest);
      assert.ok(m, `malformed end tag at ${i}: ${rest.slice(0, 40)}`);
      assert.equal(m[1], top.name, `end tag </${m[1]}> closes <${top.name}>`);
      stack.pop();
      i += m[0].length;
    } else if (rest.startsWith('<')) {
      const m = new RegExp(`^<(${NAME})((?:\\s+${NAME}="[^"<]*")*)\\s*(/?)>`).exec(rest);
      assert.ok(m, `malformed start tag at ${i}: ${rest.slice(0, 60)}`);
      assert.ok(stack.length > 1 || doc.children.length === 0, 'exactly one root element');
      const el: XmlElement = { name: m[1]!, attrs: {}, children: [], text: '' };
      for (const a of m[2]!.matchAll(new RegExp(`(${NAME})="([^"<]*)"`, 'g'))) {
        assert.ok(!(a[1]! in el.attrs), `duplicate attribute ${a[1]}`);
        el.attrs[a[1]!] = decode(a[2]!, `<${el.name} ${a[1]}>`);
      }
      top.children.push(el);
      if (m[3] !== '/') stack.push(el);
      i += m[0].length;
    } else {
      const end = xml.indexOf('<', i);
      const raw = xml.slice(i, end === -1 ? undefined : end);
      assert.ok(stack.length > 1 || raw.trim() === '', `text outside the root element: ${JSON.stringify(raw)}`);
      top.text += decode(raw, `text of <${top.name}>`);
      i += raw.length;
    }
  }
  assert.equal(stack.length, 1, `unclosed <${stack[stack.length - 1]!.name}>`);
  assert.equal(doc.children.length, 1);
  return doc.children[0]!;
}

describe('the XML checker itself', () => {
  it('rejects what is not well-formed', () => {
    const bad = ['<a>]]></a>', '<a><b></a></b>', '<a>x & y</a>', '<a b="1<2"/>', '<a>unclosed', '<a/><b/>', '<a b="1" b="2"/>', '<a>\u0001</a>'];
    for (const body of bad) assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`), assert.AssertionError, body);
    assert.equal(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="&lt;&amp;&quot;">1 &gt; 0</a>').attrs['x'], '<&"');
  });
});

describe('JUnit report', () => {
  it('is well-formed: one testsuite, one testcase per resource, failures only for denials', () => {
    const report = check(ciPolicies, 'mixed.yaml', 'bad-deployment.yaml', 'warn-deployment.yaml');
    const root = parseXml(formatJunit(report));
    assert.equal(root.name, 'testsuites');
    assert.deepEqual(root.attrs, { name: 'tracegate check', tests: '4', failures: '2' });
    assert.deepEqual(root.children.map((c) => c.name), ['testsuite']);
    const suite = root.children[0]!;
    assert.deepEqual(suite.attrs, { name: 'tracegate policies', tests: '4', failures: '2', errors: '0', skipped: '0' });
    assert.deepEqual(
      suite.children.map((tc) => [tc.name, tc.attrs['classname'], tc.attrs['name'], tc.children.map((c) => c.name)]),
      [
        ['testcase', `${M}/mixed.yaml`, 'Deployment default/api', []],
        ['testcase', `${M}/mixed.yaml`, 'Deployment default/cache', ['failure']],
        ['testcase', `${M}/bad-deployment.yaml`, 'Deployment shop/web', ['failure', 'system-out']],
        ['testcase', `${M}/warn-deployment.yaml`, 'Deployment default/worker', ['system-out']],
      ],
    );
    const failure = suite.children[2]!.children[0]!;
    assert.deepEqual(failure.attrs, { message: '1 policy violation', type: 'policy' });
    assert.equal(failure.text, 'container web: image "nginx:latest" uses the disallowed tag "latest" [image-hygiene/no-latest]\nfix: pin an immutable version tag or a digest instead');
    const out = suite.children[2]!.children[1]!.text.split('\n');
    assert.deepEqual(out.map((l) => l.split(':')[0]), ['audit', 'warn', 'warn']);
  });

  it('escapes <, &, " and quotes in messages, names and file names; drops characters XML cannot hold', () => {
    const nasty = `apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: {name: nasty}
spec:
  rules:
    - id: quoted
      message: "<script>alert(\\"x\\")</script> & 'more' ]]> \\a bell"
      fix: "use <b> & \\"c\\""
      images: {requireTag: true}
`;
    const set = loader.toSet(loader.parse(nasty, 'nasty.yaml'));
    const docs = parseInputText(`kind: Pod\nmetadata: {name: 'a<b>&"c"'}\nspec: {containers: [{name: x, image: nginx}]}\n`, 'dir/a&b"<c>.yaml');
    const xml = formatJunit(runCheck(set, docs, OPTS));
    assert.doesNotMatch(xml, /<script>|\u0007/);
    const tc = parseXml(xml).children[0]!.children[0]!;
    assert.equal(tc.attrs['classname'], 'dir/a&b"<c>.yaml');
    assert.equal(tc.attrs['name'], 'Pod default/a<b>&"c"');
    assert.equal(tc.children[0]!.text, `<script>alert("x")</script> & 'more' ]]>  bell [nasty/quoted]\nfix: use <b> & "c"`);
  });

  it('an empty report is still a valid document', () => {
    const root = parseXml(formatJunit(runCheck(ciPolicies, [], OPTS)));
    assert.deepEqual(root.attrs, { name: 'tracegate check', tests: '0', failures: '0' });
    assert.deepEqual(root.children[0]!.children, []);
  });

  it('xmlEscape escapes the five markup characters it must', () => {
    assert.equal(xmlEscape(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;');
    assert.equal(xmlEscape('&amp;'), '&amp;amp;');
  });
});

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string }[] } };
    results: {
      ruleId: string;
      level: string;
      message: { text: string };
      locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } }; logicalLocations: { fullyQualifiedName: string }[] }[];
    }[];
  }[];
}

describe('SARIF report', () => {
  const text = fixture('bad-deployment.yaml');
  const log = JSON.parse(formatSarif(check(ciPolicies, 'bad-deployment.yaml'), '9.9.9')) as SarifLog;
  const [runLog] = log.runs;

  it('is SARIF 2.1.0 from the tracegate driver', () => {
    assert.equal(log.version, '2.1.0');
    assert.equal(log.$schema, 'https://json.schemastore.org/sarif-2.1.0.json');
    assert.equal(log.runs.length, 1);
    assert.equal(runLog!.tool.driver.name, 'tracegate');
    assert.equal(runLog!.tool.driver.version, '9.9.9');
  });

  it('rule ids are policy/rule, declared once each, and every result names a declared rule', () => {
    const ids = runLog!.tool.driver.rules.map((r) => r.id);
    assert.deepEqual(ids, ['image-hygiene/no-latest', 'labels/team-label', 'resources/requests-and-limits']);
    for (const r of runLog!.results) assert.ok(ids.includes(r.ruleId), r.ruleId);
  });

  it('levels: deny → error, warn → warning, audit → note', () => {
    assert.deepEqual(
      runLog!.results.map((r) => [r.ruleId, r.level]),
      [
        ['image-hygiene/no-latest', 'error'],
        ['labels/team-label', 'note'],
        ['resources/requests-and-limits', 'warning'],
        ['resources/requests-and-limits', 'warning'],
      ],
    );
  });

  it('each result points at the offending field\'s line in the input file', () => {
    assert.deepEqual(
      runLog!.results.map((r) => {
        const loc = r.locations[0]!.physicalLocation;
        return [r.ruleId, loc.artifactLocation.uri, loc.region.startLine];
      }),
      [
        ['image-hygiene/no-latest', `${M}/bad-deployment.yaml`, lineContaining(text, 'image: nginx:latest')],
        ['labels/team-label', `${M}/bad-deployment.yaml`, lineContaining(text, 'metadata:')],
        // A missing field points at the nearest thing that exists: the container it belongs to.
        ['resources/requests-and-limits', `${M}/bad-deployment.yaml`, lineContaining(text, '- name: web')],
        ['resources/requests-and-limits', `${M}/bad-deployment.yaml`, lineContaining(text, '- name: web')],
      ],
    );
    assert.equal(runLog!.results[0]!.locations[0]!.logicalLocations[0]!.fullyQualifiedName, 'Deployment/shop/web/spec.template.spec.containers[0].image');
    assert.match(runLog!.results[0]!.message.text, /^Deployment shop\/web: container web: image "nginx:latest" uses the disallowed tag "latest"\. Fix: pin /);
  });

  it('lines count from the start of a multi-document stream, and stdin is named stdin', () => {
    const stream = fixture('helm-template.yaml');
    const sarif = JSON.parse(formatSarif(runCheck(ciPolicies, parseInputText(stream, '<stdin>'), OPTS), '1')) as SarifLog;
    const r = sarif.runs[0]!.results.find((x) => x.ruleId === 'image-hygiene/no-latest')!;
    assert.deepEqual(r.locations[0]!.physicalLocation, { artifactLocation: { uri: 'stdin' }, region: { startLine: lineContaining(stream, 'image: "nginx:latest"') } });
  });

  it('items of a kind: List point into the list', () => {
    const list = fixture('list.yaml');
    const sarif = JSON.parse(formatSarif(check(ciPolicies, 'list.yaml'), '1')) as SarifLog;
    assert.deepEqual(
      sarif.runs[0]!.results.map((x) => [x.ruleId, x.locations[0]!.physicalLocation.region.startLine]),
      [['image-hygiene/no-latest', lineContaining(list, 'image: busybox:latest')]],
    );
  });
});

describe('text report', () => {
  it('with nothing to check it still says so, and which policies were used', () => {
    assert.equal(
      formatText(runCheck(loader.toSet([]), [], OPTS)),
      '0 resources checked: 0 denied, 0 with warnings, 0 allowed\npolicies: none\n',
    );
  });

  it('counts in the singular when there is one of a thing', () => {
    const report = runCheck(ciPolicies, parseInputText(fixture('list.yaml'), 'list.yaml').slice(0, 2), OPTS);
    assert.match(formatText(report), /^1 resource checked: 0 denied, 0 with warnings, 1 allowed \(1 non-workload document skipped\)$/m);
  });
});

describe('check -o junit and -o sarif through the CLI', () => {
  const run = createCli();
  const cli = async (argv: string[]) => {
    let stdout = '';
    const code = await run(argv, { stdout: (t) => void (stdout += t), stderr: (t) => assert.fail(t), readStdin: async () => '', env: {}, cwd: repoRoot });
    return { code, stdout };
  };

  it('junit keeps the exit code: 1 on a denial', async () => {
    const { code, stdout } = await cli(['check', '-p', 'test/fixtures/policies/ci', '-o', 'junit', `${M}/bad-deployment.yaml`]);
    assert.equal(code, 1);
    assert.equal(parseXml(stdout).attrs['failures'], '1');
  });

  it('sarif reports the package version and exits 0 when only warnings remain', async () => {
    const { code, stdout } = await cli(['check', '-p', 'test/fixtures/policies/ci', '-o', 'sarif', `${M}/warn-deployment.yaml`]);
    assert.equal(code, 0);
    const log = JSON.parse(stdout) as SarifLog;
    assert.equal(log.runs[0]!.tool.driver.version, packageVersion());
    assert.deepEqual(log.runs[0]!.results.map((r) => r.level), ['warning', 'warning']);
  });
});
