import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const CI_POLICIES = 'test/fixtures/policies/ci';
const TENANT_POLICIES = 'test/fixtures/policies/tenant';
const M = 'test/fixtures/manifests';
const DIGEST = /^sha256:[0-9a-f]{64}$/;

const run = createCli();

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command line in-process, with the repo root as working directory. */
async function cli(argv: string[], stdin = ''): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => stdin,
    env: {},
    cwd: repoRoot,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

interface JsonViolation {
  rule: string;
  policy: string;
  action: string;
  container: string | null;
  path: string;
  message: string;
  fix: string;
  value?: string;
  line?: number;
}
interface JsonResult {
  file: string;
  index: number;
  kind: string;
  namespace: string;
  name: string;
  verdict: string;
  violations: JsonViolation[];
}
interface JsonReport {
  results: JsonResult[];
  summary: { resources: number; allowed: number; warned: number; denied: number; violations: number; skipped: number; skippedRules: string[]; policies: { name: string; version: string; digest: string }[] };
}

/** `check -o json` with the ci fixture policies; returns the exit code and parsed report. */
async function checkJson(args: string[], stdin = ''): Promise<{ code: number; report: JsonReport; stderr: string }> {
  const out = await cli(['check', '-p', CI_POLICIES, '-o', 'json', ...args], stdin);
  assert.equal(out.stderr, '', out.stderr);
  return { code: out.code, report: JSON.parse(out.stdout) as JsonReport, stderr: out.stderr };
}

const brief = (r: JsonResult) => `${r.kind} ${r.namespace}/${r.name} ${r.verdict}`;
const fixture = (name: string) => readFileSync(join(repoRoot, M, name), 'utf8');
/** 1-based line of the first line of `text` containing `needle`. */
const lineContaining = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('tracegate check: exit codes', () => {
  it('0 when everything is allowed', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, `${M}/good-deployment.yaml`]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^PASS Deployment shop\/api \(test\/fixtures\/manifests\/good-deployment\.yaml:2\)$/m);
  });

  it('0 when there are only warnings (and audits)', async () => {
    const { code, report } = await checkJson([`${M}/warn-deployment.yaml`]);
    assert.equal(code, 0);
    assert.deepEqual(report.results.map(brief), ['Deployment default/worker warn']);
    assert.deepEqual(report.results[0]!.violations.map((v) => v.action), ['warn', 'warn']);
  });

  it('1 when anything is denied, even next to allowed resources', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, `${M}/good-deployment.yaml`, `${M}/bad-deployment.yaml`]);
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stdout, /^FAIL Deployment shop\/web /m);
  });

  const usage: [string, string[], RegExp][] = [
    ['an unknown flag', ['check', '--frobnicate', `${M}/good-deployment.yaml`], /--frobnicate/],
    ['an unknown output format', ['check', '-o', 'yaml', `${M}/good-deployment.yaml`], /unknown output format "yaml"; use text, json, junit, sarif/],
    ['no inputs', ['check', '-p', CI_POLICIES], /no input: give files, directories or - for standard input/],
    ['a flag without its value', ['check', `${M}/good-deployment.yaml`, '--namespace'], /--namespace/],
    ['an unknown command', ['chekc', `${M}/good-deployment.yaml`], /unknown command "chekc"/],
  ];
  for (const [what, argv, message] of usage) {
    it(`2 on a usage error: ${what}`, async () => {
      const out = await cli(argv);
      assert.equal(out.code, 2);
      assert.match(out.stderr, message);
      assert.doesNotMatch(out.stderr, /internal error|\n\s+at /);
    });
  }

  it('2 when an input is not valid YAML, naming file and line', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, `${M}/good-deployment.yaml`, `${M}/broken.yaml`]);
    assert.equal(out.code, 2);
    assert.equal(out.stdout, '');
    // The second document's `namespace` is indented one space less than `name`: that line is the error.
    const line = fixture('broken.yaml').split('\n').indexOf(' namespace: shop') + 1;
    assert.equal(line, 16);
    assert.match(out.stderr, new RegExp(`^tracegate check: test/fixtures/manifests/broken\\.yaml:${line}: \\S`));
  });

  it('2 when a stdin document is not valid YAML, naming <stdin> and the line', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, '-'], 'kind: Pod\nmetadata:\n  name: [x\n');
    assert.equal(out.code, 2);
    assert.match(out.stderr, /<stdin>:\d+: /);
  });

  it('2 when a document is a scalar instead of an object', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, '-'], '---\njust text\n');
    assert.equal(out.code, 2);
    assert.match(out.stderr, /<stdin>:2: expected a Kubernetes object, got string/);
  });

  it('2 when an input file does not exist', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, `${M}/no-such-file.yaml`]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /input not found: test\/fixtures\/manifests\/no-such-file\.yaml/);
  });

  it('2 when a policy is invalid, naming the policy file and line', async () => {
    const out = await cli(['check', '-p', 'test/fixtures/policies/invalid/unknown-field.yaml', `${M}/good-deployment.yaml`]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /test\/fixtures\/policies\/invalid\/unknown-field\.yaml:10: spec\.rules\[0\]: unknown field "imagez"/);
  });

  it('2 when a policy path does not exist', async () => {
    const out = await cli(['check', '-p', 'nowhere/policies', `${M}/good-deployment.yaml`]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /policy path not found: .*nowhere\/policies/);
  });

  it('--help prints the usage and exits 0', async () => {
    const out = await cli(['check', '--help']);
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^Usage: tracegate check /);
  });
});

describe('tracegate check: inputs', () => {
  it('multi-document YAML: non-workload documents are skipped and counted; index counts every document', async () => {
    const { code, report } = await checkJson([`${M}/mixed.yaml`]);
    assert.equal(code, 1);
    assert.deepEqual(
      report.results.map((r) => [r.index, brief(r)]),
      [
        [1, 'Deployment default/api allow'],
        [3, 'Deployment default/cache deny'],
      ],
    );
    assert.deepEqual({ ...report.summary, policies: [] }, { resources: 2, allowed: 1, warned: 0, denied: 1, violations: 1, skipped: 2, skippedRules: [], policies: [] });
  });

  it('kind: List: every item is its own resource', async () => {
    const { code, report } = await checkJson([`${M}/list.yaml`]);
    assert.equal(code, 1);
    assert.deepEqual(
      report.results.map((r) => [r.index, brief(r)]),
      [
        [0, 'Deployment shop/api allow'],
        [2, 'Pod shop/debug deny'],
      ],
    );
    assert.equal(report.summary.skipped, 1);
    const v = report.results[1]!.violations[0]!;
    assert.equal(v.path, 'spec.containers[0].image');
    assert.equal(v.line, lineContaining(fixture('list.yaml'), 'image: busybox:latest'));
  });

  it('stdin (-) is read and reported as <stdin>', async () => {
    const { code, report } = await checkJson(['-'], fixture('bad-deployment.yaml'));
    assert.equal(code, 1);
    assert.deepEqual(report.results.map((r) => [r.file, brief(r)]), [['<stdin>', 'Deployment shop/web deny']]);
  });

  it('stdin and files mix in one run, in argument order', async () => {
    const { report } = await checkJson([`${M}/good-deployment.yaml`, '-'], fixture('warn-deployment.yaml'));
    assert.deepEqual(report.results.map((r) => r.file), [`${M}/good-deployment.yaml`, '<stdin>']);
  });

  it('a directory is read recursively: *.yaml, *.yml and *.json only, in name order', async () => {
    const { code, report } = await checkJson([`${M}/dir`]);
    assert.equal(code, 1);
    assert.deepEqual(
      report.results.map((r) => [r.file, brief(r)]),
      [
        [`${M}/dir/a.yaml`, 'Deployment default/a allow'],
        [`${M}/dir/nested/b.yml`, 'StatefulSet default/b deny'],
        [`${M}/dir/nested/c.json`, 'Pod default/c allow'],
      ],
    );
  });

  it('resolves relative inputs against the CLI working directory, not the process one', async () => {
    let stdout = '';
    const code = await run(['check', '-p', 'policies/ci', '-o', 'json', 'manifests/good-deployment.yaml'], {
      stdout: (t) => void (stdout += t),
      stderr: (t) => assert.fail(t),
      readStdin: async () => '',
      env: {},
      cwd: join(repoRoot, 'test/fixtures'),
    });
    assert.equal(code, 0);
    assert.equal((JSON.parse(stdout) as JsonReport).results[0]!.file, 'manifests/good-deployment.yaml');
  });

  it('a helm template stream through stdin: # Source comments, Service and ConfigMap skipped', async () => {
    const stream = fixture('helm-template.yaml');
    const { code, report } = await checkJson(['-'], stream);
    assert.equal(code, 1);
    assert.deepEqual(report.results.map((r) => [r.index, brief(r)]), [[2, 'Deployment default/release-web deny']]);
    assert.equal(report.summary.skipped, 2);
    const v = report.results[0]!.violations.find((x) => x.rule === 'no-latest');
    assert.equal(v?.line, lineContaining(stream, 'image: "nginx:latest"'));
    assert.equal(v?.container, 'web');
  });

  it('an input with no workloads at all passes with nothing checked', async () => {
    const { code, report } = await checkJson(['-'], 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n');
    assert.equal(code, 0);
    assert.deepEqual(report.results, []);
    assert.equal(report.summary.skipped, 1);
  });
});

describe('tracegate check: namespace and tenant', () => {
  it('resources without a namespace get "default", or --namespace; their own namespace wins', async () => {
    const files = [`${M}/warn-deployment.yaml`, `${M}/good-deployment.yaml`];
    assert.deepEqual((await checkJson(files)).report.results.map((r) => r.namespace), ['default', 'shop']);
    assert.deepEqual((await checkJson(['--namespace', 'staging', ...files])).report.results.map((r) => r.namespace), ['staging', 'shop']);
    assert.deepEqual((await checkJson(['-n', 'qa', ...files])).report.results.map((r) => r.namespace), ['qa', 'shop']);
  });

  const tenantRun = (tenant?: string) =>
    checkJson(['-p', TENANT_POLICIES, ...(tenant ? ['--tenant', tenant] : []), `${M}/tenant-images.yaml`]);

  it('--tenant team-a applies team A\'s registry policy: own path only, lookalike paths refused', async () => {
    const { code, report } = await tenantRun('team-a');
    assert.equal(code, 1);
    assert.deepEqual(report.results.map(brief), ['Deployment default/own allow', 'Deployment default/other-team deny', 'Deployment default/lookalike deny']);
    const v = report.results[2]!.violations;
    assert.deepEqual(
      v.map((x) => [x.policy, x.rule, x.action, x.container, x.path, x.value]),
      [['team-a-registry', 'own-registry', 'deny', 'app', 'spec.template.spec.containers[0].image', 'registry.example.com/team-a-evil/app:1.0.0']],
    );
    assert.match(v[0]!.message, /not from an allowed registry or repository \(allowed: registry\.example\.com\/team-a\/\)/);
  });

  it('other tenants, or no tenant, are not bound by team A\'s policy', async () => {
    for (const tenant of [undefined, 'team-b', 'team-a-ops']) {
      const { code, report } = await tenantRun(tenant);
      assert.equal(code, 0, `tenant ${tenant}`);
      assert.deepEqual(report.results.map((r) => r.verdict), ['allow', 'allow', 'allow'], `tenant ${tenant}`);
    }
  });
});

describe('tracegate check: output formats', () => {
  it('json: results and summary with exactly the documented fields', async () => {
    const { report } = await checkJson([`${M}/bad-deployment.yaml`]);
    assert.deepEqual(Object.keys(report).sort(), ['results', 'summary']);
    const [r] = report.results;
    assert.deepEqual(Object.keys(r!), ['file', 'index', 'kind', 'namespace', 'name', 'verdict', 'violations']);
    assert.deepEqual(
      { ...r!, violations: [] },
      { file: `${M}/bad-deployment.yaml`, index: 0, kind: 'Deployment', namespace: 'shop', name: 'web', verdict: 'deny', violations: [] },
    );
    const text = fixture('bad-deployment.yaml');
    assert.deepEqual(r!.violations, [
      {
        rule: 'no-latest',
        policy: 'image-hygiene',
        action: 'deny',
        container: 'web',
        path: 'spec.template.spec.containers[0].image',
        message: 'container web: image "nginx:latest" uses the disallowed tag "latest"',
        fix: 'pin an immutable version tag or a digest instead',
        value: 'nginx:latest',
        line: lineContaining(text, 'image: nginx:latest'),
      },
      {
        rule: 'team-label',
        policy: 'labels',
        action: 'audit',
        container: null,
        path: 'metadata.labels',
        message: 'Deployment web: missing required label team',
        fix: 'add labels team: <value> under metadata',
        line: lineContaining(text, 'metadata:'),
      },
      {
        rule: 'requests-and-limits',
        policy: 'resources',
        action: 'warn',
        container: 'web',
        path: 'spec.template.spec.containers[0].resources.requests',
        message: 'container web: has no resource requests (needs cpu and memory)',
        fix: 'set resources.requests.cpu and memory on web, e.g. kubectl set resources deployment/web -c web --requests=cpu=250m,memory=256Mi',
        line: lineContaining(text, '- name: web'),
      },
      {
        rule: 'requests-and-limits',
        policy: 'resources',
        action: 'warn',
        container: 'web',
        path: 'spec.template.spec.containers[0].resources.limits',
        message: 'container web: has no resource limits (needs cpu and memory)',
        fix: 'set resources.limits.cpu and memory on web, e.g. kubectl set resources deployment/web -c web --limits=cpu=250m,memory=256Mi',
        line: lineContaining(text, '- name: web'),
      },
    ]);
    const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
    const set = await loader.load([join(repoRoot, CI_POLICIES)]);
    assert.deepEqual(report.summary, {
      resources: 1,
      allowed: 0,
      warned: 0,
      denied: 1,
      violations: 4,
      skipped: 0,
      skippedRules: [],
      policies: set.policies.map((p) => ({ name: p.name, version: p.version, digest: p.digest })),
    });
    assert.deepEqual(report.summary.policies.map((p) => `${p.name}@${p.version}`), ['image-hygiene@2.0.0', 'labels@1.0.0', 'resources@1.1.0']);
  });

  it('text: grouped by resource, one line per problem, each followed by its fix', async () => {
    const out = await cli(['check', '-p', CI_POLICIES, `${M}/mixed.yaml`, `${M}/bad-deployment.yaml`]);
    assert.equal(out.code, 1);
    const lines = out.stdout.split('\n');
    const headers = lines.filter((l) => /^(PASS|WARN|FAIL) /.test(l));
    assert.deepEqual(headers, [
      `PASS Deployment default/api (${M}/mixed.yaml:8)`,
      `FAIL Deployment default/cache (${M}/mixed.yaml:30)`,
      `FAIL Deployment shop/web (${M}/bad-deployment.yaml:2)`,
    ]);
    const cache = lines.indexOf(headers[1]!);
    assert.deepEqual(lines.slice(cache + 1, cache + 3), [
      '  deny  container redis: image "redis" has no tag, so it runs whatever :latest is at pull time [image-hygiene/no-latest]',
      '        fix: pin a version tag or digest, e.g. redis:1.2.3',
    ]);
    const web = lines.indexOf(headers[2]!);
    const block = lines.slice(web + 1, lines.indexOf('', web));
    assert.equal(block.length, 8, block.join('\n'));
    for (let i = 0; i < block.length; i += 2) {
      assert.match(block[i]!, /^ {2}(deny |warn |audit) \S.* \[[a-z-]+\/[a-z-]+\]$/);
      assert.match(block[i + 1]!, /^ {8}fix: \S/);
    }
    assert.match(out.stdout, /^3 resources checked: 2 denied, 0 with warnings, 1 allowed \(2 non-workload documents skipped\)$/m);
    assert.match(out.stdout, /^policies: image-hygiene@2\.0\.0 sha256:[0-9a-f]{12}, labels@1\.0\.0 sha256:[0-9a-f]{12}, resources@1\.1\.0 sha256:[0-9a-f]{12}$/m);
  });

  it('the bundled default policies: a committed, approved, pinned and sized Deployment passes', async () => {
    const out = await cli(['check', '--user', 'alice', `${M}/bundled-ok.yaml`]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^PASS Deployment default\/api /m);
  });

  it('the bundled default policies: image volumes, look-alike tags, zero limits, revision history and spoofed approvers, each at its line', async () => {
    const text = [
      'apiVersion: apps/v1',
      'kind: StatefulSet',
      'metadata:',
      '  name: db',
      '  annotations:',
      '    tracegate.io/commit: 4f2a9c1d',
      '    tracegate.io/approver: "alice\\u200b"',
      'spec:',
      '  revisionHistoryLimit: 0',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: db',
      '          image: registry.example.com/team-a/db:LATEST',
      '          resources:',
      '            requests: {cpu: 100m, memory: 128Mi}',
      '            limits:',
      '              cpu: "0"',
      '              memory: 256Mi',
      '      volumes:',
      '        - name: tools',
      '          image:',
      '            reference: evil.io/tools:latest',
      '',
    ].join('\n');
    const out = await cli(['check', '--provenance', '--user', 'alice', '-o', 'json', '-'], text);
    assert.equal(out.code, 1, out.stderr);
    const v = (JSON.parse(out.stdout) as JsonReport).results[0]!.violations as Array<JsonViolation & { volume?: string }>;
    assert.deepEqual(
      v.map((x) => [`${x.policy}/${x.rule}`, x.path, x.line, x.container ?? x.volume]),
      [
        ['image-hygiene/no-latest', 'spec.template.spec.containers[0].image', lineContaining(text, 'db:LATEST'), 'db'],
        ['image-hygiene/no-latest', 'spec.template.spec.volumes[0].image.reference', lineContaining(text, 'reference:'), 'tools'],
        ['provenance/change-provenance', 'metadata.annotations', lineContaining(text, 'annotations:'), undefined],
        ['resources/requests-and-limits', 'spec.template.spec.containers[0].resources.limits.cpu', lineContaining(text, 'cpu: "0"'), 'db'],
        ['rollback-history/min-revision-history', 'spec.revisionHistoryLimit', lineContaining(text, 'revisionHistoryLimit'), undefined],
      ],
    );
    assert.equal(v[1]!.container, null, 'an image volume is not a container');
    assert.match(v[2]!.message, /approver "alice\\u200b" contains the invisible or control character \\u200b/);
    assert.match(v[3]!.message, /limit cpu is 0, which means no limit/);
    assert.match(v[3]!.fix, /kubectl set resources statefulset\/db -c db --limits=cpu=250m/);
  });

  it('the bundled default policies: approving your own change is denied (separation of duties)', async () => {
    const out = await cli(['check', '--provenance', '--user', 'bob', '-o', 'json', `${M}/bundled-ok.yaml`]);
    assert.equal(out.code, 1);
    const v = (JSON.parse(out.stdout) as JsonReport).results[0]!.violations;
    assert.deepEqual(v.map((x) => `${x.policy}/${x.rule} ${x.action}`), ['provenance/change-provenance deny']);
    assert.match(v[0]!.message, /approver bob is the requester \(separation of duties\)/);
  });
});

describe('tracegate check and provenance', () => {
  it('leaves provenance to admission by default, so a clean chart passes in CI; --provenance judges it', async () => {
    const plain = await cli(['check', '-o', 'json', `${M}/bundled-ok.yaml`]);
    assert.equal(plain.code, 0, plain.stdout);
    const report = JSON.parse(plain.stdout) as JsonReport;
    assert.deepEqual(report.summary.skippedRules, ['provenance/change-provenance']);
    const text = await cli(['check', `${M}/bundled-ok.yaml`]);
    assert.match(text.stdout, /left to admission: provenance\/change-provenance/);
    const strict = await cli(['check', '--provenance', '--user', 'bob', `${M}/bundled-ok.yaml`]);
    assert.equal(strict.code, 1, 'bob approving his own change is denied when provenance is judged');
  });
});

describe('tracegate policies', () => {
  it('text: the set digest, then each policy with version, digest, source and rules', async () => {
    const out = await cli(['policies', '-p', CI_POLICIES, '-p', TENANT_POLICIES]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^policy set sha256:[0-9a-f]{64}$/);
    const policyLines = lines.filter((l) => /^\S/.test(l)).slice(1);
    assert.deepEqual(
      policyLines.map((l) => l.replace(/sha256:[0-9a-f]{64}/, 'DIGEST')),
      [
        `image-hygiene@2.0.0  DIGEST  (${CI_POLICIES}/image-hygiene.yaml)`,
        `labels@1.0.0  DIGEST  (${CI_POLICIES}/labels.yaml)`,
        `resources@1.1.0  DIGEST  (${CI_POLICIES}/resources.yaml)`,
        `team-a-registry@1.0.0  DIGEST  (${TENANT_POLICIES}/team-a-registry.yaml)`,
      ],
    );
    assert.deepEqual(lines.filter((l) => /^ {2}\S/.test(l)), ['  deny  no-latest (images)', '  audit team-label (metadata)', '  warn  requests-and-limits (resources)', '  deny  own-registry (images)']);
    // Each rule's parameters follow it, defaults included (H18: what the rule enforces right now).
    assert.equal(lines[lines.indexOf('  deny  own-registry (images)') + 1], '        allowed: registry.example.com/team-a/');
  });

  it('json: the compliance view, digests equal to the loaded policies', async () => {
    const out = await cli(['policies', '-o', 'json', '-p', TENANT_POLICIES]);
    assert.equal(out.code, 0, out.stderr);
    const view = JSON.parse(out.stdout) as { digest: string; policies: { digest: string; rules: { parameters: Record<string, unknown> }[] }[] };
    const parameters = view.policies[0]!.rules[0]!.parameters;
    assert.deepEqual(parameters['allowed'], ['registry.example.com/team-a/']);
    const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
    const set = await loader.load([join(repoRoot, TENANT_POLICIES)]);
    assert.deepEqual(view, {
      digest: set.digest,
      policies: [
        {
          name: 'team-a-registry',
          version: '1.0.0',
          digest: set.policies[0]!.digest,
          source: `${TENANT_POLICIES}/team-a-registry.yaml`,
          rules: [{ id: 'own-registry', action: 'deny', check: 'images', parameters }],
        },
      ],
    });
    assert.match(view.digest, DIGEST);
  });

  it('without -p it lists the bundled policies', async () => {
    const out = await cli(['policies', '-o', 'json']);
    assert.equal(out.code, 0, out.stderr);
    const view = JSON.parse(out.stdout) as { policies: { name: string; source: string }[] };
    assert.deepEqual(view.policies.map((p) => `${p.name} ${p.source}`), ['image-hygiene policies/image-hygiene.yaml', 'provenance policies/provenance.yaml', 'resources policies/resources.yaml', 'rollback-history policies/rollback-history.yaml']);
  });

  it('an unknown output format is a usage error, not silently text', async () => {
    const out = await cli(['policies', '-o', 'xml']);
    assert.equal(out.code, 2);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /unknown output format "xml"/);
  });
});

describe('the real binary', () => {
  it('node bin/tracegate.js check - reads a helm template stream from stdin and exits 1 on a denial', () => {
    const res = spawnSync(process.execPath, ['bin/tracegate.js', 'check', '-p', CI_POLICIES, '-o', 'json', '-'], {
      cwd: repoRoot,
      input: fixture('helm-template.yaml'),
      encoding: 'utf8',
    });
    assert.equal(res.error, undefined);
    assert.equal(res.stderr, '');
    assert.equal(res.status, 1);
    const report = JSON.parse(res.stdout) as JsonReport;
    assert.deepEqual(report.results.map((r) => [r.file, brief(r)]), [['<stdin>', 'Deployment default/release-web deny']]);
    assert.equal(report.summary.skipped, 2);
  });
});
