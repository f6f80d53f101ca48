/**
 * The TracegatePolicy form of a policy (src/policy/tracegate-policy.ts) through the one loader: files may
 * hold either kind; version, description and owner live in spec (ObjectMeta has no such fields); the
 * same policy has the same digest in both forms; problems name the object's own paths and lines; and
 * `tracegate policies -o yaml` / `tracegate check` read and write the form.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { isTracegateError, type TracegateError } from '../../src/errors.js';
import { bundledPoliciesDir, policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema, type PolicyProblem } from '../../src/policy/load.js';
import { objectPath, policyDocumentOf, toTracegatePolicy } from '../../src/policy/tracegate-policy.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });

const FILE_FORM = `apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata:
  name: team-a-registries
  version: "1.2.0"
  description: Team A pulls only from its own registry path.
spec:
  match: { tenants: [team-a] }
  rules:
    - id: own-registry
      images:
        allowed: ["registry.example.com/team-a/"]
`;

const OBJECT_FORM = `# the same policy, as kubectl apply -f takes it
apiVersion: tracegate.io/v1alpha1
kind: TracegatePolicy
metadata:
  name: team-a-registries
  labels: { owner: platform }
  resourceVersion: "17"
spec:
  version: "1.2.0"
  description: Team A pulls only from its own registry path.
  match: { tenants: [team-a] }
  rules:
    - id: own-registry
      images:
        allowed: ["registry.example.com/team-a/"]
`;

function parseError(text: string): TracegateError {
  try {
    loader.parse(text, 'inline.yaml');
  } catch (err) {
    if (isTracegateError(err)) return err;
    throw err;
  }
  return assert.fail('expected the policy text to be rejected');
}

const problems = (err: TracegateError) => (err.details['problems'] as PolicyProblem[]).map((p) => [p.line, p.path, p.message]);

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env: {}, cwd: repoRoot };
  const code = await createCli()(argv, io);
  return { code, stdout, stderr };
}

describe('the TracegatePolicy form', () => {
  it('is the same policy as the file form: name, version, description, rules and digest', () => {
    const [file] = loader.parse(FILE_FORM, 'file.yaml');
    const [object] = loader.parse(OBJECT_FORM, 'object.yaml');
    assert.ok(file && object);
    assert.equal(object.name, 'team-a-registries');
    assert.equal(object.version, '1.2.0');
    assert.equal(object.description, 'Team A pulls only from its own registry path.');
    assert.deepEqual(object.rules.map((r) => r.id), ['own-registry']);
    assert.equal(object.digest, file.digest, 'labels and resourceVersion are not part of the policy');
  });

  it('reports a schema problem at the object path and line (spec.version, not metadata.version)', () => {
    const err = parseError(OBJECT_FORM.replace('version: "1.2.0"', 'version: ""'));
    assert.equal(err.code, 'POLICY_SCHEMA');
    assert.deepEqual(problems(err), [[9, 'spec.version', 'must NOT have fewer than 1 characters']]);
  });

  it('refuses file-style metadata fields, which the apiserver would not keep', () => {
    const text = OBJECT_FORM.replace('  labels: { owner: platform }\n', '  version: "1.2.0"\n  colour: blue\n');
    const err = parseError(text);
    assert.equal(err.code, 'POLICY_SCHEMA');
    assert.deepEqual(problems(err), [
      [6, 'metadata.version', `unknown field "version": a TracegatePolicy's metadata is Kubernetes ObjectMeta; a TracegatePolicy carries it in spec.version`],
      [7, 'metadata.colour', `unknown field "colour": a TracegatePolicy's metadata is Kubernetes ObjectMeta`],
    ]);
  });

  it('reports compile problems (what the schema cannot say) at the object path', () => {
    const text = OBJECT_FORM.replace('        allowed: ["registry.example.com/team-a/"]\n', '        allowed: ["registry.example.com/team-a/"]\n    - id: own-registry\n      revisionHistory: { minimum: 3 }\n');
    const err = parseError(text);
    assert.equal(err.code, 'POLICY_INVALID');
    assert.deepEqual(problems(err), [[16, 'spec.rules[1].id', 'duplicate rule id "own-registry"']]);
  });

  it('ignores status and ObjectMeta, and an unknown spec field is still an unknown field', () => {
    const { doc, problems: found } = policyDocumentOf({
      apiVersion: 'tracegate.io/v1alpha1',
      kind: 'TracegatePolicy',
      metadata: { name: 'p', uid: 'u', generation: 3, annotations: { a: 'b' } },
      spec: { owner: 'platform', rules: [], colour: 'blue' },
      status: { digest: 'sha256:x' },
    });
    assert.deepEqual(found, []);
    assert.deepEqual(doc, { apiVersion: 'tracegate.io/v1alpha1', kind: 'Policy', metadata: { name: 'p', owner: 'platform' }, spec: { rules: [], colour: 'blue' } });
    assert.equal(objectPath('metadata.owner'), 'spec.owner');
    assert.equal(objectPath('metadata.name'), 'metadata.name');
    assert.equal(objectPath('spec.rules[0]'), 'spec.rules[0]');
  });

  it('converts back: every bundled policy becomes an object that loads to the same digest', async () => {
    const set = await loader.load([bundledPoliciesDir], repoRoot);
    for (const p of set.policies) {
      const object = toTracegatePolicy(p.document);
      assert.equal((object['metadata'] as Record<string, unknown>)['name'], p.name);
      assert.equal((object['spec'] as Record<string, unknown>)['version'], p.version);
      const [again] = loader.parse(JSON.stringify(object), `${p.name}.json`);
      assert.equal(again?.digest, p.digest, p.name);
    }
  });
});

describe('the CLI with TracegatePolicy documents', () => {
  it('policies -o yaml prints the set as objects that policies and check read back with the same digests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracegate-tgp-'));
    try {
      const yaml = await cli(['policies', '-o', 'yaml']);
      assert.equal(yaml.code, 0, yaml.stderr);
      const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as { kind: string; metadata: Record<string, unknown> });
      assert.deepEqual(docs.map((d) => d.kind), ['TracegatePolicy', 'TracegatePolicy', 'TracegatePolicy', 'TracegatePolicy']);
      assert.deepEqual(docs.map((d) => Object.keys(d.metadata)), [['name'], ['name'], ['name'], ['name']]);
      const file = join(dir, 'objects.yaml');
      await writeFile(file, yaml.stdout);
      const fromFiles = JSON.parse((await cli(['policies', '-o', 'json'])).stdout) as { digest: string };
      const fromObjects = JSON.parse((await cli(['policies', '-p', file, '-o', 'json'])).stdout) as { digest: string };
      assert.equal(fromObjects.digest, fromFiles.digest);

      const manifest = join(dir, 'web.yaml');
      await writeFile(manifest, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  template:\n    spec:\n      containers: [{ name: web, image: nginx:latest }]\n');
      const checked = await cli(['check', '-p', file, manifest]);
      assert.equal(checked.code, 1, 'denied by the objects, as by the files');
      assert.match(checked.stdout, /image-hygiene\/no-latest/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('policies shows each rule with its parameters, defaults included', async () => {
    const out = await cli(['policies']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^ {8}breakGlass: annotation=tracegate\.io\/break-glass, groups=tracegate:break-glass$/m);
    assert.match(out.stdout, /^ {8}trustedUsers: system:serviceaccount:tracegate:tracegate-recorder$/m);
    assert.match(out.stdout, /^ {8}digestAlgorithms: sha256, sha512$/m, 'a default the file does not spell out');
    const json = JSON.parse((await cli(['policies', '-o', 'json'])).stdout) as { policies: { name: string; rules: { parameters: Record<string, unknown> }[] }[] };
    const hygiene = json.policies.find((p) => p.name === 'image-hygiene')!;
    assert.deepEqual(hygiene.rules[0]!.parameters['disallowedTags'], ['latest']);
  });

  it('--cluster takes no --policies, and --kubeconfig only with --cluster', async () => {
    assert.equal((await cli(['policies', '--cluster', '-p', 'policies'])).code, 2);
    const res = await cli(['policies', '--kubeconfig', 'x']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--kubeconfig is for --cluster/);
  });
});
